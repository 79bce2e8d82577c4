"""Static bearer tokens, checked as the SDK's ``TokenVerifier`` protocol.

Only SHA-256 digests of the configured tokens are held. A presented token is hashed and compared
with every digest by ``hmac.compare_digest`` (all of them, whether one matched already or not),
so neither the comparison nor the position of a match shows in the timing.
"""

from __future__ import annotations

import hmac

from mcp.server.auth.provider import AccessToken

from airs_mcp.auth.settings import token_digest

__all__ = ["StaticTokenVerifier"]


class StaticTokenVerifier:
    """Accepts any of the configured tokens (several at once, for rotation)."""

    def __init__(self, digests: tuple[bytes, ...]) -> None:
        self.digests = digests

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token_digest(token)
        matched: bytes | None = None
        for digest in self.digests:
            if hmac.compare_digest(presented, digest):
                matched = digest
        if matched is None:
            return None
        # The principal is the token itself (by digest): an SSE session opened with one token
        # cannot be used with another, even while both are valid.
        return AccessToken(
            token=f"sha256:{matched.hex()}", client_id=f"static:{matched.hex()}", scopes=[]
        )
