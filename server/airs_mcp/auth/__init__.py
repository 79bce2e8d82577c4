"""Who may call: bearer tokens and OAuth JWTs, checked in front of every MCP endpoint."""
