#!/usr/bin/env bash
# `make deploy`: deploy the whole stack, check it, and end with a usable endpoint.
#
# Default (no KUBECONFIG, no AIRS_INVENTORY): the embedded cluster in DEMO MODE. The cluster's
# components and the project images are built (cached, in parallel), the cluster started, and
# playbooks/demo.yml runs the AIRS API double as the AIRS endpoint before site.yml, since the
# AIRS cloud cannot be reached from here. With AIRS_NODES=N (N > 1) the same happens on a local
# kind cluster of one control plane and N-1 workers instead (embedded_cluster.kind_cluster: its own
# docker network as the LAN, clients in network namespaces on it). With KUBECONFIG set (or
# AIRS_INVENTORY pointing at your own inventory) no local cluster is touched and
# playbooks/site.yml runs against yours.
#
# Environment:
#   AIRS_NODES                nodes of the local cluster: 1 (default) the embedded single node,
#                             more a kind cluster (docs/multi-node.md)
#   AIRS_INVENTORY            inventory directory (default inventories/example)
#   AIRS_VAULT_PASSWORD_FILE  vault password file; the example inventory falls back to its
#                             public demo password (never do that with real keys)
#   AIRS_DEMO                 1: deploy the AIRS API double and point the server at it
#                             (default 1 on the embedded cluster, else 0)
#   AIRS_LOCAL_MANIFESTS      1: take the MetalLB/Traefik manifests from the Go module cache
#                             instead of their upstream URLs (default 1 for the embedded cluster)
#   AIRS_SKIP_VERIFY          1: do not run playbooks/verify.yml and the live check
#   AIRS_ANSIBLE_ARGS         extra ansible-playbook arguments (e.g. "--check --diff")
#   AIRS_DEPLOY_VERBOSE       1: show ansible's whole output (diffs included) instead of one
#                             line per step; also implied by -v in AIRS_ANSIBLE_ARGS
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1
: "${AIRS_MCP_CACHE:=$HOME/.cache/airs-mcp-k8s}"
export AIRS_MCP_CACHE

started=$SECONDS
step() { printf '\n[deploy %s] %s\n' "$(date -u -d "@$((SECONDS - started))" +%M:%S)" "$*"; }
fail() { echo "deploy: FAILED: $*" >&2; exit 1; }

inventory="${AIRS_INVENTORY:-inventories/example}"
[ -f "$inventory/hosts.yml" ] || { echo "deploy: no $inventory/hosts.yml" >&2; exit 2; }

# embedded=1: a throw-away local cluster this script starts (the embedded node, or kind).
embedded=1
nodes="${AIRS_NODES:-1}"
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || { echo "deploy: AIRS_NODES must be a positive number" >&2; exit 2; }
if [ -n "${KUBECONFIG:-}" ] || [ -n "${AIRS_INVENTORY:-}" ]; then
  embedded=0
  [ "$nodes" = "1" ] || { echo "deploy: AIRS_NODES is for the local cluster; unset KUBECONFIG and AIRS_INVENTORY" >&2; exit 2; }
fi
kind=0
[ "$nodes" -gt 1 ] && kind=1
demo="${AIRS_DEMO:-$embedded}"

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

# The public demo password opens the example vault (placeholder key, public demo token): fine
# for the throw-away embedded cluster, never for a real one.
if [ "$embedded" = "0" ] && cmp -s "$vault_pass" inventories/example/vault-password.example; then
  echo "deploy: refusing the example inventory's PUBLIC demo vault password for a cluster that is" >&2
  echo "        not the embedded one. Make your own vault (docs/deploying.md)." >&2
  exit 2
fi

logs="$AIRS_MCP_CACHE/deploy/logs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"

# Runs "$@" with its output in $logs/$1.log, a line every 30 s while it runs; on failure, the log's tail.
logged() {
  local name=$1 log="$logs/$1.log" pid elapsed=0
  shift
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    elapsed=$((elapsed + 1))
    if ((elapsed % 30 == 0)); then echo "  ... $name: ${elapsed} s"; fi
  done
  if ! wait "$pid"; then
    tail -n 20 "$log" >&2
    fail "$name (log: $log)"
  fi
}

if [ "$kind" = "1" ]; then
  step "a kind cluster of $nodes nodes: node image and project images (cached), cluster, images"
  logged kind-up python -m embedded_cluster.kind_cluster up --nodes "$nodes" --vars-file "$logs/kind-vars.json"
  tail -n 1 "$logs/kind-up.log" >"$logs/kind-up.json"
  kind_field() { python -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$logs/kind-up.json" "$1"; }
  KUBECONFIG="$(kind_field kubeconfig)"
  export KUBECONFIG
  echo "  kind create cluster: $(kind_field create_seconds) s (None: it existed), nodes and pod network ready: $(kind_field ready_seconds) s, images loaded: $(kind_field load_seconds) s"
elif [ "$embedded" = "1" ]; then
  step "building the cluster's components and the project images (cached; cold: ~15 min)"
  # The image builds (debootstrap, wheels: mostly I/O) overlap the Go builds (CPU). Their tags
  # (stdout) name the sources' content, so the roles deploy exactly what was just built.
  embedded-cluster images build server double >"$logs/image-tags.txt" 2>"$logs/images-build.log" &
  images_pid=$!
  embedded-cluster build || fail "building the cluster's components"
  wait "$images_pid" || { tail -n 20 "$logs/images-build.log" >&2; fail "building the images (log: $logs/images-build.log)"; }
  mapfile -t image_tags <"$logs/image-tags.txt"
  echo "  images built: ${image_tags[*]} (log: $logs/images-build.log)"

  step "starting the embedded cluster"
  KUBECONFIG="$(embedded-cluster up | tail -n 1)" || fail "embedded-cluster up (embedded-cluster logs)"
  export KUBECONFIG
  # `up` imports the project images docker has; a cluster that was already up has not seen them.
  logged images-import embedded-cluster images import
fi

# The HTTPS certificate's CA (issued by the mcp_ingress role), for clients to trust.
ca_file="$AIRS_MCP_CACHE/deploy/airs-mcp-ca.pem"
extra_vars=(-e "mcp_ingress_tls_ca_file=$ca_file")
if [ "$embedded" = "1" ]; then
  # A throw-away cluster: the example vault's placeholder key and demo token are accepted.
  extra_vars+=(-e "@collections/ansible_collections/airs/mcp_k8s/extensions/molecule/shared/vars/throwaway-cluster.yml")
fi
if [ "$kind" = "1" ]; then
  # The MetalLB pool and address on kind's LAN, and the images just loaded.
  extra_vars+=(-e "@$logs/kind-vars.json")
elif [ "$embedded" = "1" ]; then
  printf 'mcp_server_image_tag: "%s"\nairs_api_double_image_tag: "%s"\n' \
    "${image_tags[0]##*:}" "${image_tags[1]##*:}" >"$logs/image-tags.yml"
  extra_vars+=(-e "@$logs/image-tags.yml")
  # Every image the roles run, pinned to the digest of what the cluster holds.
  embedded-cluster images digests >"$logs/image-digests.yml" || fail "reading the images' digests"
  extra_vars+=(-e "@$logs/image-digests.yml")
fi
if [ "${AIRS_LOCAL_MANIFESTS:-$embedded}" = "1" ]; then
  vars_file="$logs/local-manifests.yml"
  embedded-cluster manifests >"$vars_file" || fail "finding the pinned manifests in the Go module cache"
  extra_vars+=(-e "@$vars_file")
fi

read -r -a user_args <<<"${AIRS_ANSIBLE_ARGS:-}"
verbose="${AIRS_DEPLOY_VERBOSE:-0}"
for arg in "${user_args[@]}"; do
  case "$arg" in -v*) verbose=1 ;; esac
done

play() {
  local book=$1
  shift
  local cmd=(ansible-playbook "playbooks/$book" -i "$inventory/hosts.yml"
             --vault-password-file "$vault_pass" "${extra_vars[@]}" "$@" "${user_args[@]}")
  if [ "$verbose" = "1" ]; then
    "${cmd[@]}" 2>&1 | tee "$logs/${book%.yml}.log"
  else
    "${cmd[@]}" 2>&1 | python -m airs_deploy.progress --log "$logs/${book%.yml}.log"
  fi
}

if [ "$demo" = "1" ]; then
  step "ansible-playbook playbooks/demo.yml: the AIRS API double (DEMO MODE), then site.yml"
  play demo.yml
else
  step "ansible-playbook playbooks/site.yml (KUBECONFIG=${KUBECONFIG:-~/.kube/config})"
  play site.yml
fi

if [ "${AIRS_SKIP_VERIFY:-0}" = "1" ]; then
  step "done (verify skipped); logs in $logs"
  exit 0
fi

step "ansible-playbook playbooks/verify.yml"
report="$logs/endpoint.json"
play verify.yml -e "verify_report_file=$report" -e "verify_ca_file=$ca_file"

step "live pan_inline_scan through the load balancer"
check="$logs/check.json"
field() { python -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$report" "$1"; }
sse_url="$(field sse_url)"
# The client token lives only in this process's environment (from the cluster's Secret).
if [ "$(field token_required)" = "True" ]; then
  AIRS_MCP_TOKEN="$(python -m airs_deploy.token --namespace "$(field namespace)" --secret "$(field secret_name)")" ||
    fail "reading the client token from the Secret"
  export AIRS_MCP_TOKEN
fi
netns=""
client=()
if [ "$kind" = "1" ]; then
  # From a client namespace on kind's docker network, as another machine on the LAN.
  netns="$(python -c 'from embedded_cluster import kind_cluster; print(kind_cluster.CLIENTS[0].netns)')"
  client=(ip netns exec "$netns")
elif [ "$embedded" = "1" ]; then
  # From the external client namespace, as another machine on the node's LAN would connect.
  netns="$(python -c 'from embedded_cluster import network; print(network.CLIENT_NETNS)')"
  client=(ip netns exec "$netns")
fi
"${client[@]}" airs-mcp-check "$sse_url" --json --timeout 60 >"$check" || true
summary_args=(--report "$report" --check "$check" --kubeconfig "${KUBECONFIG:-$HOME/.kube/config}")
mcp_url="$(field mcp_url)"
if [ -n "$mcp_url" ]; then
  "${client[@]}" airs-mcp-check "$mcp_url" --json --timeout 60 >"$logs/check-mcp.json" || true
  summary_args+=(--mcp-check "$logs/check-mcp.json")
fi

[ "$demo" = "1" ] && summary_args+=(--demo)
[ -n "$netns" ] && summary_args+=(--client-netns "$netns")
python -m airs_deploy.summary "${summary_args[@]}" || fail "the live scan did not answer (logs: $logs)"
echo "Deployed in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s; logs: $logs"
