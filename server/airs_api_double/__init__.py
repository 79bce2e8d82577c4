"""A local double of the AIRS scan API, faithful enough for the unmodified ``pan-aisecurity`` SDK.

Run it with ``airs-api-double --host 127.0.0.1 --port 0 --port-file P --cert-dir DIR``; it serves
HTTPS with a CA it writes to ``DIR/ca.pem`` (give that to clients as ``SSL_CERT_FILE``).

Endpoints (as in the AIRS contract): ``POST /v1/scan/sync/request``, ``POST
/v1/scan/async/request`` (a JSON array of at most 5 ``{req_id, scan_req}`` objects, payload at
most 5 MB), ``GET /v1/scan/results?scan_ids=…`` and ``GET /v1/scan/reports?report_ids=…`` (at
most 5 ids each). Every API request needs ``x-pan-token`` (401 when missing, 403 when wrong) and
an ``x-payload-hash`` equal to the hex HMAC-SHA256 of the raw body keyed by the API key (``null``
for GET); a mismatch is 403. Errors use the body ``{"error": {"message": ...}}``.

Verdicts are computed from the scanned item (the last element of ``contents``). The prompt side
is ``prompt`` + ``code_prompt`` + ``tool_event.input``; the response side is ``response`` +
``code_response`` + ``tool_event.output``. Rules, case-insensitive:

- ``injection`` (prompt side only): "ignore [all] previous|prior|above instructions" or
  "disregard your|the system prompt";
- ``url_cats``: an http(s) URL whose host is, or is under, ``malware.test`` or ``phishing.test``;
- ``dlp``: a 13-19 digit number (spaces/dashes allowed) that passes the Luhn check, e.g.
  ``4111 1111 1111 1111``; ``prompt_masked_data``/``response_masked_data`` carry the text with
  those digits replaced by ``X`` and the match offsets;
- ``toxic_content``: "i will kill you", "i will hurt you" or "you worthless idiot";
- ``malicious_code``: ``rm -rf /``, ``eval(base64``, ``powershell -enc`` or ``curl … | sh``;
- anything else is benign.

Any detection makes the scan ``category: malicious`` and ``action: block``; otherwise
``benign``/``allow``. ``report_id`` is ``"R" + scan_id``. Sync scans are complete at once. Each
async scan answers ``pending`` to the first ``--pending-polls`` result queries (default 1), then
``complete`` with the full result; reports appear once a scan is complete. Unknown ids are left
out of query answers.

Admin routes (no key, for tests): ``POST /_double/faults`` with an object or a list of objects
``{status, count=1, retry_after, latency_ms, malformed, path, message}`` applied to the next
``count`` API requests whose path starts with ``path`` (``count: -1`` = until cleared);
``DELETE /_double/faults``; ``GET /_double/stats`` (request counts per endpoint, response
statuses with 499 for clients that left before the answer, requests in flight and the most at
once since the last reset, each request's arrival time per endpoint (monotonic seconds), async
batch sizes, ids per query); ``POST /_double/reset``; ``POST /_double/config``
``{"pending_polls": n, "tenant_rate": r}`` (either or both); ``GET /_double/health``; ``GET
/_double/ca.pem`` (the CA, for clients that reach the double before they can trust it, e.g.
from another pod). ``--ca-cert``/``--ca-key`` sign the server certificate with an existing CA
instead of a fresh one.

Tenant rate limit (off by default): ``--tenant-rate R`` (or ``$AIRS_DOUBLE_TENANT_RATE``, or
``tenant_rate`` in ``/_double/config``; 0 = off) accepts at most ``R`` authenticated API requests
in any sliding second and answers the rest 429 (``rate_limited`` in the stats), as AIRS limits
a tenant across all its callers.
"""
