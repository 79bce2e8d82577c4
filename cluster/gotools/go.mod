// Small programs of this project that become container images for the embedded cluster:
// the pod sandbox ("pause") and a probe used by the cluster smoke test. Standard library only.
module airs-mcp-k8s/gotools

go 1.24
