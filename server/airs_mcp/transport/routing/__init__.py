"""Cross-replica SSE session routing: the owner token, the rewritten endpoint event and the
forwarding of message POSTs to the replica holding the session."""
