"""Whether a text holds a secret, in plain text or in base64.

``secret_forms(secret)`` is the secret and its base64 forms; ``assert_secret_absent(text,
secret, where)`` fails, naming ``where`` and the secret's first 6 characters only, if ``text``
holds any of them. Playbook output, image layers and the repository are checked this way.
"""

from __future__ import annotations

import base64

__all__ = ["assert_secret_absent", "secret_forms"]


def secret_forms(secret: str) -> tuple[str, ...]:
    """``secret`` and its base64 forms: its own encoding and, since inside a longer base64 text
    it may start at any of three byte alignments, for each alignment the characters that come
    from the secret's bytes alone."""
    raw = secret.encode()
    forms = [secret, base64.b64encode(raw).decode()]
    for shift in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * shift + raw).decode().rstrip("=")
        start = (shift * 8 + 5) // 6  # characters holding bits of the bytes before the secret
        partial = 1 if (shift + len(raw)) % 3 else 0  # a last one mixing in the byte after it
        forms.append(encoded[start : len(encoded) - partial])
    return tuple(dict.fromkeys(forms))


def assert_secret_absent(text: str | bytes, secret: str, where: str) -> None:
    """Fail, naming ``where`` and the secret's first 6 characters only, if ``text`` holds
    ``secret`` in plain or base64 form. (A plain ``raise``: an ``assert`` rewritten by pytest
    would print the text, secret included.)"""
    for form in secret_forms(secret):
        needle = form.encode() if isinstance(text, bytes) else form
        if needle in text:
            how = "in base64" if form != secret else "in plain text"
            raise AssertionError(f"{secret[:6]}... leaked {how} into {where}")
