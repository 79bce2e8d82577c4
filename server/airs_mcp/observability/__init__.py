"""What the server tells operators: JSON logs, metrics, trace ids and start-up warnings."""
