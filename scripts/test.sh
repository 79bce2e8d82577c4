#!/usr/bin/env bash
# The whole test suite: linters, then unit, integration and e2e tests.
# `scripts/test.sh lint|unit|integration|e2e` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PWD/.node/node_modules/.bin:$PATH"
part="${1:-all}"

run_lint() {
  echo "== lint: ruff"
  ruff check server cluster tests bench
  ruff format --check server cluster tests bench
}

run_pytest() {
  local rc=0
  pytest "$@" || rc=$?
  # 5 = no tests collected: a part with nothing in it yet is not a failure of the suite.
  [ "$rc" -eq 5 ] && rc=0
  return "$rc"
}

# Cold builds of the embedded cluster (Go, cached under $AIRS_MCP_CACHE) happen here, before
# pytest, so they never count against a test's timeout. A warm cache makes this a no-op.
prebuild_cluster() {
  echo "== embedded cluster: build what is missing"
  embedded-cluster build
}

case "$part" in
  lint) run_lint ;;
  unit) run_pytest tests/unit ;;
  integration) run_pytest tests/integration ;;
  e2e) prebuild_cluster; run_pytest tests/e2e ;;
  all)
    run_lint
    prebuild_cluster
    run_pytest tests/unit tests/integration tests/e2e
    ;;
  *) echo "usage: scripts/test.sh [lint|unit|integration|e2e]" >&2; exit 2 ;;
esac
