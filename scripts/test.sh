#!/usr/bin/env bash
# The whole test suite: linters, then unit, integration and e2e tests.
# `scripts/test.sh lint|unit|integration|e2e` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PWD/.node/node_modules/.bin:$PATH"
part="${1:-all}"
: "${AIRS_MCP_CACHE:=$HOME/.cache/airs-mcp-k8s}"
export AIRS_MCP_CACHE

run_lint() {
  # molecule installs this checkout's collection into $ANSIBLE_HOME/collections and ansible-lint
  # searches there first: one per checkout, so another checkout's copy never stands in for it.
  local -x ANSIBLE_HOME="$PWD/.cache/ansible-home"
  # A copy left by an earlier run's molecule would stand in for today's collection: drop it.
  rm -rf "$ANSIBLE_HOME/collections/ansible_collections/airs"
  echo "== lint: ruff"
  ruff check server cluster deploy tests bench harness collections/ansible_collections/airs/mcp_k8s/plugins collections/ansible_collections/airs/mcp_k8s/tools
  ruff format --check server cluster deploy tests bench harness collections/ansible_collections/airs/mcp_k8s/plugins collections/ansible_collections/airs/mcp_k8s/tools
  echo "== lint: mypy (strict, server/; [tool.mypy] in pyproject.toml)"
  mypy
  echo "== lint: yamllint (Ansible content)"
  yamllint --strict collections playbooks inventories requirements.yml .ansible-lint .yamllint
  echo "== lint: ansible-lint (production profile)"
  ansible-lint --offline -q
  echo "== lint: ansible-playbook --syntax-check"
  local pb
  for pb in playbooks/*.yml; do
    ansible-playbook --syntax-check "$pb" >/dev/null
  done
  echo "== lint: molecule scenarios"
  local out
  out="$( (cd collections/ansible_collections/airs/mcp_k8s &&
    export AIRS_VAULT_PASSWORD_FILE="$PWD/../../../../inventories/example/vault-password.example" &&
    molecule list && molecule syntax -s kind && molecule syntax -s embedded) 2>&1)" ||
    { echo "$out"; return 1; }
  echo "== lint: changelog fragments"
  (cd collections/ansible_collections/airs/mcp_k8s && antsibull-changelog lint)
  echo "== lint: role variable tables match the argument specs"
  python collections/ansible_collections/airs/mcp_k8s/tools/role_variables.py --check \
    collections/ansible_collections/airs/mcp_k8s/README.md docs/configuration.md
}

# Workers for pytest-xdist: the tests mostly wait on processes, so three lanes share the two
# cores well (tests/fixtures/lanes.py says what may run side by side). AIRS_TEST_WORKERS=0 runs
# everything in this process, one test at a time.
: "${AIRS_TEST_WORKERS:=3}"

run_pytest() {
  local rc=0 parallel=()
  [ "$AIRS_TEST_WORKERS" -gt 0 ] && parallel=(-n "$AIRS_TEST_WORKERS")
  # The slowest tests are printed, and every test's time kept, so a run's budget can be read.
  mkdir -p "$AIRS_MCP_CACHE/test-results"
  pytest "${parallel[@]}" --durations=25 --durations-min=15 \
    --junit-xml="$AIRS_MCP_CACHE/test-results/junit.xml" "$@" || rc=$?
  # 5 = no tests collected: a part with nothing in it yet is not a failure of the suite.
  [ "$rc" -eq 5 ] && rc=0
  return "$rc"
}

# Cold builds of the embedded cluster (Go, cached under $AIRS_MCP_CACHE) happen here, before
# pytest, so they never count against a test's timeout. A warm cache makes this a no-op.
prebuild_cluster() {
  echo "== embedded cluster: build what is missing"
  embedded-cluster build
  python -m embedded_cluster.kind_prepare --prebuild >/dev/null  # kind + its node image (test_kind.py)
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
