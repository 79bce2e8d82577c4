#!/usr/bin/env bash
# `make deploy`: deploy the whole stack with playbooks/site.yml, then check it with verify.yml.
#
# Default: start the embedded cluster (`embedded-cluster up`), build the project images and
# import them into its containerd, and deploy with inventories/example. With KUBECONFIG set (or
# AIRS_INVENTORY pointing at your own inventory) the embedded cluster is left alone and the
# playbooks run against that cluster instead.
#
# Environment:
#   AIRS_INVENTORY            inventory directory (default inventories/example)
#   AIRS_VAULT_PASSWORD_FILE  vault password file; the example inventory falls back to its
#                             public demo password (never do that with real keys)
#   AIRS_LOCAL_MANIFESTS      1: take the MetalLB/Traefik manifests from the Go module cache
#                             instead of their upstream URLs (default 1 for the embedded cluster)
#   AIRS_SKIP_VERIFY          1: do not run playbooks/verify.yml
#   AIRS_ANSIBLE_ARGS         extra ansible-playbook arguments (e.g. "--check --diff")
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
: "${AIRS_MCP_CACHE:=$HOME/.cache/airs-mcp-k8s}"

METALLB_MODULE="go.universe.tf/metallb@v0.15.2"
# The module proxy does not serve v3.7.15; the CRD and RBAC files are identical across 3.7.x.
TRAEFIK_MODULE="github.com/traefik/traefik/v3@v3.7.13"

inventory="${AIRS_INVENTORY:-inventories/example}"
[ -f "$inventory/hosts.yml" ] || { echo "deploy: no $inventory/hosts.yml" >&2; exit 2; }

embedded=1
if [ -n "${KUBECONFIG:-}" ] || [ -n "${AIRS_INVENTORY:-}" ]; then
  embedded=0
fi

vault_pass="${AIRS_VAULT_PASSWORD_FILE:-}"
if [ -z "$vault_pass" ]; then
  if [ "$inventory" != "inventories/example" ]; then
    echo "deploy: set AIRS_VAULT_PASSWORD_FILE for $inventory" >&2
    exit 2
  fi
  vault_pass="$inventory/.vault-pass"
  if [ ! -f "$vault_pass" ]; then
    echo "deploy: using the example inventory's PUBLIC demo vault password ($vault_pass)" >&2
    (umask 077 && cp "$inventory/vault-password.example" "$vault_pass")
  fi
fi

module_dir() {
  go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

extra_vars=()
if [ "${AIRS_LOCAL_MANIFESTS:-$embedded}" = "1" ]; then
  vars_file="$AIRS_MCP_CACHE/deploy/local-manifests.yml"
  mkdir -p "$(dirname "$vars_file")"
  metallb_dir="$(cd / && module_dir "$METALLB_MODULE")"
  traefik_dir="$(cd / && module_dir "$TRAEFIK_MODULE")/docs/content/reference/dynamic-configuration"
  cat >"$vars_file" <<EOF
---
metallb_manifest_src: $metallb_dir/config/manifests/metallb-native.yaml
traefik_crds_src: $traefik_dir/kubernetes-crd-definition-v1.yml
traefik_rbac_src: $traefik_dir/kubernetes-crd-rbac.yml
EOF
  extra_vars+=(-e "@$vars_file")
fi

if [ "$embedded" = "1" ]; then
  echo "deploy: building the server image with docker (cached after the first run)"
  nice python -c 'from embedded_cluster.project_image import build_project_image as b; b("server")' \
    >/dev/null
  echo "deploy: starting the embedded cluster"
  KUBECONFIG="$(nice embedded-cluster up | tail -n 1)"
  export KUBECONFIG
  # `up` imports the project images docker has; a cluster that was already up has not seen them.
  python -c 'from embedded_cluster.images import import_built_project_images as i; i()' >/dev/null
fi

read -r -a user_args <<<"${AIRS_ANSIBLE_ARGS:-}"
run() {
  ansible-playbook "playbooks/$1" -i "$inventory/hosts.yml" --vault-password-file "$vault_pass" \
    "${extra_vars[@]}" "${user_args[@]}"
}

echo "deploy: ansible-playbook playbooks/site.yml (KUBECONFIG=${KUBECONFIG:-~/.kube/config})"
run site.yml
if [ "${AIRS_SKIP_VERIFY:-0}" != "1" ]; then
  run verify.yml
fi
echo "deploy: done; MCP over SSE at http://<the traefik Service's load balancer address>/sse/"
