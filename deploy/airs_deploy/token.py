"""Print the first MCP client token of a deployment, read from its Secret in the cluster.

``KUBECONFIG=... python -m airs_deploy.token --namespace NS --secret NAME``

For ``export AIRS_MCP_TOKEN="$(...)"``: the token reaches the shell's environment only, never a
file or a command line. Exit 1 with a message when the Secret or its token is missing.
"""

from __future__ import annotations

import argparse
import base64
import sys

from kubernetes import client, config

TOKENS_KEY = "AIRS_MCP_AUTH_TOKENS"  # the Secret key written by the mcp_secret role


def first_token(namespace: str, secret: str, kubeconfig: str | None = None) -> str:
    """The first of the Secret's comma-separated tokens (``$KUBECONFIG`` when not given)."""
    config.load_kube_config(config_file=kubeconfig)
    data = client.CoreV1Api().read_namespaced_secret(secret, namespace).data or {}
    encoded = data.get(TOKENS_KEY, "")
    tokens = [t for t in base64.b64decode(encoded).decode().split(",") if t.strip()]
    if not tokens:
        raise LookupError(f"Secret {namespace}/{secret} has no {TOKENS_KEY}")
    return tokens[0].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airs_deploy.token")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args(argv)
    try:
        print(first_token(args.namespace, args.secret))
    except (LookupError, client.ApiException, config.ConfigException) as exc:
        print(f"airs_deploy.token: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
