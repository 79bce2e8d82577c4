#!/usr/bin/env bash
# Run airs-mcp-server locally against the AIRS API double (no AIRS account needed).
# Usage: scripts/run-local.sh [airs-mcp-server options]   (default --host 127.0.0.1 --port 8000)
# The double gets a placeholder key and a fresh CA in a temporary directory; both processes
# stop on Ctrl-C. The server accepts $AIRS_MCP_TOKEN (or a generated token it prints).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
work="$(mktemp -d)"
double_pid=""
cleanup() {
  [ -n "$double_pid" ] && kill "$double_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

export AIRS_DOUBLE_API_KEY="local-placeholder-key"
airs-api-double --host 127.0.0.1 --port 0 --port-file "$work/port" --cert-dir "$work" \
  >"$work/double.log" 2>&1 &
double_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/double.log" >&2; exit 1; }
echo "AIRS API double on https://127.0.0.1:$(cat "$work/port") (log: $work/double.log)" >&2

export SSL_CERT_FILE="$work/ca.pem"
export PANW_AI_SEC_API_KEY="$AIRS_DOUBLE_API_KEY"
export PANW_AI_SEC_API_ENDPOINT="https://127.0.0.1:$(cat "$work/port")"
export PANW_AI_PROFILE_NAME="${PANW_AI_PROFILE_NAME:-local-demo}"
# Clients need a bearer token: $AIRS_MCP_TOKEN if set, else a fresh one (printed once, here only).
if [ -z "${AIRS_MCP_AUTH_TOKENS:-}" ] && [ "${AIRS_MCP_AUTH:-}" != "none" ]; then
  AIRS_MCP_TOKEN="${AIRS_MCP_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
  export AIRS_MCP_AUTH_TOKENS="$AIRS_MCP_TOKEN"
  echo "bearer token for clients: export AIRS_MCP_TOKEN=$AIRS_MCP_TOKEN" >&2
fi
if [ "$#" -eq 0 ]; then set -- --host 127.0.0.1 --port 8000; fi
airs-mcp-server "$@"
