"""The process's own health: memory limit, heap trim, graceful shutdown and its event loop."""
