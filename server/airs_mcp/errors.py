"""``ConfigError``: a missing or invalid setting (shared by the settings modules)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """A missing or invalid setting; ``variable`` names the environment variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason
