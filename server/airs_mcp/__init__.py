"""MCP server that puts Palo Alto Networks AI Runtime Security (AIRS)
scanning in front of AI agents."""

__version__ = "0.1.0"
