"""Paths of this checkout that the tests and the benchmarks both use."""

from __future__ import annotations

from pathlib import Path

__all__ = ["COLLECTION", "DEMO_VAULT_PASSWORD", "INVENTORY", "ROOT"]

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories" / "example"
COLLECTION = ROOT / "collections" / "ansible_collections" / "airs" / "mcp_k8s"
# The example vault's password: a demo value, accepted only for throwaway clusters.
DEMO_VAULT_PASSWORD = INVENTORY / "vault-password.example"
