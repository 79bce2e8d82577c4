"""The scan side: the four MCP tools, their models and checks, and the AIRS client."""
