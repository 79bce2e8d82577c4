"""Secrets never leak into the repository: what Ansible Vault keeps stays in the vault.

Every vault-encrypted file and inline ``!vault`` value git tracks is decrypted with the demo
password; no tracked file may then hold one of those secrets in plain text or in base64. The
secrets are never written here: they exist only in the vault (the tests decrypt them at run time,
``tests.fixtures.ansible``), so a failure names the file and the secret's first 6 characters.
"""

from __future__ import annotations

import pytest

from harness.checkout import ROOT
from harness.secret_leaks import assert_secret_absent
from tests.fixtures.ansible import (
    EXAMPLE_API_KEY,
    EXAMPLE_TOKENS,
    EXAMPLE_VAULT,
    tracked_files,
    vaulted_secrets,
)

pytestmark = [pytest.mark.integration]


def test_the_vault_holds_the_key_and_the_tokens() -> None:
    """The secrets the scan looks for are found: the example vault's key and tokens."""
    secrets = vaulted_secrets()
    example = secrets[str(EXAMPLE_VAULT.relative_to(ROOT))]
    assert EXAMPLE_API_KEY in example
    assert EXAMPLE_TOKENS
    assert set(EXAMPLE_TOKENS) <= set(example)


def test_no_tracked_file_holds_a_vaulted_secret() -> None:
    secrets = sorted({s for found in vaulted_secrets().values() for s in found})
    assert secrets
    files = tracked_files()
    assert len(files) > 100, "git ls-files found too few files to be this checkout"
    leaks = []
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            try:
                assert_secret_absent(content, secret, str(path.relative_to(ROOT)))
            except AssertionError as leak:
                leaks.append(str(leak))
    assert not leaks, "\n".join(leaks)
