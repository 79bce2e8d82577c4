"""Run inside a server pod by tasks/verify_airs.yml (``python3 -c <this file> URL HOST SECONDS``):
one ``pan_inline_scan`` through the pod's own server, so through its AIRS client, API key, egress
route and CA bundle, as a client's call would go. Prints one JSON object: the check's result and
the AIRS endpoint, egress route and CA file the pod uses. The client token is read here, from the
pod's environment; it never appears on a command line or in the output. Uses the server image's
own modules (airs_mcp.check is ``airs-mcp-check``)."""

import asyncio
import json
import os
import sys
from dataclasses import asdict

from aisecurity.constants.base import DEFAULT_ENDPOINT
from airs_mcp import check
from airs_mcp.scan import egress

url, host, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
endpoint = os.environ.get("PANW_AI_SEC_API_ENDPOINT") or DEFAULT_ENDPOINT
headers = {"Host": host}
token = os.environ.get("AIRS_MCP_AUTH_TOKENS", "").split(",")[0].strip()
if token:
    headers["Authorization"] = f"Bearer {token}"
result = asyncio.run(check.check(url, headers=headers, timeout_s=seconds))
print(
    json.dumps(
        {
            "endpoint": endpoint,
            "endpoint_from_secret": bool(os.environ.get("PANW_AI_SEC_API_ENDPOINT")),
            "route": egress.resolve(endpoint, os.environ).reason,
            "ca_file": os.environ.get("SSL_CERT_FILE", ""),
            "check": asdict(result),
        }
    )
)
