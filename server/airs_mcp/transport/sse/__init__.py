"""The server's own SSE transport under ``/sse/``: streams, sessions, their cap and origin check."""
