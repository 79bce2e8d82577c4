"""Per-credential limits: what one authenticated client may take of the server and of the AIRS
tenant (``limiter``), and how a refusal is answered (``refusal``, ``request_rate``)."""
