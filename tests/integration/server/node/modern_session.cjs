// One MCP session over Streamable HTTP with the TypeScript SDK v2 client
// (@modelcontextprotocol/client), which speaks the 2026-07-28 revision when asked to.
//
//   NODE_PATH=.node/node_modules node modern_session.cjs URL MODE PROMPT
//
// MODE is "pin" (versionNegotiation pinned to 2026-07-28: no fallback), "auto" (probe with
// server/discover, fall back to the initialize handshake) or "legacy" (the SDK's default: the
// 2025 handshake). The session lists the tools and calls pan_inline_scan on PROMPT. With
// AIRS_MCP_TOKEN set, every request carries "Authorization: Bearer $AIRS_MCP_TOKEN".
// Prints one JSON line: {"era", "protocolVersion", "discover", "tools", "result", "exchanges"},
// where "exchanges" lists every HTTP request the client made with its MCP headers, the JSON-RPC
// method of its body and the status and session header of the answer (what the tests check).
"use strict";

const { Client, StreamableHTTPClientTransport } = require("@modelcontextprotocol/client");

const MODERN = "2026-07-28";
const MODES = { pin: { pin: MODERN }, auto: "auto", legacy: "legacy" };
const TOKEN = process.env.AIRS_MCP_TOKEN;

function recordingFetch(exchanges) {
  return async (url, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    let rpc = null;
    if (typeof init.body === "string") {
      try {
        rpc = JSON.parse(init.body).method ?? null;
      } catch {
        rpc = "<not json>";
      }
    }
    const response = await fetch(url, init);
    exchanges.push({
      http: init.method ?? "GET",
      rpc,
      protocolVersion: headers.get("mcp-protocol-version"),
      mcpMethod: headers.get("mcp-method"),
      mcpName: headers.get("mcp-name"),
      sentSessionId: headers.get("mcp-session-id"),
      status: response.status,
      contentType: response.headers.get("content-type"),
      sessionId: response.headers.get("mcp-session-id"),
    });
    return response;
  };
}

async function main() {
  const [url, modeName, prompt] = process.argv.slice(2);
  if (!url || !(modeName in MODES) || !prompt) {
    throw new Error("usage: modern_session.cjs URL pin|auto|legacy PROMPT");
  }
  const exchanges = [];
  const options = { fetch: recordingFetch(exchanges) };
  if (TOKEN) options.requestInit = { headers: { Authorization: `Bearer ${TOKEN}` } };
  const transport = new StreamableHTTPClientTransport(new URL(url), options);
  const client = new Client(
    { name: "airs-test-modern-client", version: "0.1.0" },
    { versionNegotiation: { mode: MODES[modeName] } },
  );
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    const result = await client.callTool({ name: "pan_inline_scan", arguments: { prompt } });
    console.log(
      JSON.stringify({
        era: client.getProtocolEra(),
        protocolVersion: client.getNegotiatedProtocolVersion(),
        discover: client.getDiscoverResult() ?? null,
        tools: tools.map((tool) => tool.name),
        result,
        exchanges,
      }),
    );
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
