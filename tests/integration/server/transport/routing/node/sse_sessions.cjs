// Concurrent MCP sessions over SSE with the official TypeScript SDK client.
//
//   NODE_PATH=.node/node_modules node sse_sessions.cjs URL COUNT [--cookie-jar]
//
// Each session connects to URL (the /sse/ stream), lists the tools, calls pan_inline_scan once
// and closes.
// With --cookie-jar every request of a session goes through a fetch that stores the response
// cookies and sends them back (what a browser does, and what a sticky load balancer needs);
// without it the SDK's plain fetch is used. With AIRS_MCP_TOKEN set, every request (stream and
// POSTs) carries "Authorization: Bearer $AIRS_MCP_TOKEN". Prints one JSON line:
// {"ok": n, "failed": n, "actions": [...], "errors": [...]}.
"use strict";

const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { SSEClientTransport } = require("@modelcontextprotocol/sdk/client/sse.js");

const SESSION_TIMEOUT_MS = 15000;
const TOKEN = process.env.AIRS_MCP_TOKEN;

function cookieJarFetch() {
  const jar = new Map();
  return async (url, init = {}) => {
    const headers = new Headers(init.headers ?? {});
    if (jar.size > 0) {
      headers.set("cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
    }
    const response = await fetch(url, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";", 1)[0];
      const eq = pair.indexOf("=");
      if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return response;
  };
}

async function oneSession(url, index, useJar) {
  const options = useJar ? { fetch: cookieJarFetch() } : {};
  if (TOKEN) options.requestInit = { headers: { Authorization: `Bearer ${TOKEN}` } };
  const transport = new SSEClientTransport(new URL(url), options);
  const client = new Client({ name: "airs-test-node-client", version: "0.1.0" });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("session timed out")), SESSION_TIMEOUT_MS);
  });
  try {
    const work = (async () => {
      await client.connect(transport);
      const { tools } = await client.listTools();
      if (!tools.some((tool) => tool.name === "pan_inline_scan")) {
        throw new Error("tools/list lacks pan_inline_scan");
      }
      const result = await client.callTool({
        name: "pan_inline_scan",
        arguments: { prompt: `benign question ${index}` },
      });
      if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
      return result.structuredContent.action;
    })();
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => {});
  }
}

async function main() {
  const [url, countText, flag] = process.argv.slice(2);
  const count = Number.parseInt(countText, 10);
  if (!url || !Number.isInteger(count) || count < 1) {
    console.error("usage: node sse_sessions.cjs URL COUNT [--cookie-jar]");
    process.exit(2);
  }
  const useJar = flag === "--cookie-jar";
  const outcomes = await Promise.allSettled(
    Array.from({ length: count }, (_, index) => oneSession(url, index, useJar)),
  );
  const summary = { ok: 0, failed: 0, actions: [], errors: [] };
  for (const outcome of outcomes) {
    if (outcome.status === "fulfilled") {
      summary.ok += 1;
      summary.actions.push(outcome.value);
    } else {
      summary.failed += 1;
      summary.errors.push(String(outcome.reason?.message ?? outcome.reason));
    }
  }
  console.log(JSON.stringify(summary));
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
