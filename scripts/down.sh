#!/usr/bin/env bash
# `make down`: undo `make deploy`.
#   Embedded cluster (default): stop it; its state, and with it the whole deployment, is removed
#   (`embedded-cluster down` leaves the machine as it was before `up`).
#   The kind cluster of `AIRS_NODES=N make deploy`, whenever it exists: delete it, its client
#   namespaces with their veths, and its docker network; then docker's runtime wrapper for kind
#   (embedded_cluster.kind_runtime remove) gives daemon.json back as it was.
#   KUBECONFIG or AIRS_INVENTORY set: run playbooks/uninstall.yml against that cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"

if [ -z "${KUBECONFIG:-}" ] && [ -z "${AIRS_INVENTORY:-}" ]; then
  if [ "${AIRS_NODES:-1}" != "1" ] || python -m embedded_cluster.kind_cluster exists; then
    echo "down: deleting the kind cluster, its client namespaces and its docker network"
    python -m embedded_cluster.kind_cluster down
  fi
  # Docker's default runtime and daemon.json as they were before kind (kept while containers
  # still run on the wrapper; nothing to do when it was never installed).
  python -m embedded_cluster.kind_runtime remove
  [ "${AIRS_NODES:-1}" != "1" ] && exit 0
  echo "down: stopping the embedded cluster and removing its state"
  exec embedded-cluster down
fi
inventory="${AIRS_INVENTORY:-inventories/example}"
vault_pass="${AIRS_VAULT_PASSWORD_FILE:-$inventory/.vault-pass}"
[ -f "$vault_pass" ] || { echo "down: set AIRS_VAULT_PASSWORD_FILE" >&2; exit 2; }
exec ansible-playbook playbooks/uninstall.yml -i "$inventory/hosts.yml" --vault-password-file "$vault_pass"
