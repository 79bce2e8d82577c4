"""A real single-node Kubernetes cluster built from source and run on this machine."""
