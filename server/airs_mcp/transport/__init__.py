"""How MCP messages reach the server: the SSE transport, its routing across replicas, and
the request checks in front of both transports."""
