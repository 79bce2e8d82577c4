"""Read a third-party manifest and refuse it unless its sha256 is the pinned one."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pinned_manifest
author: airs-mcp-k8s maintainers (!UNKNOWN)
short_description: Read a manifest from a URL or a local file, checked against a sha256 pin
description:
  - Reads the whole file, byte for byte, from an C(http://) or C(https://) URL or from a local
    path on the controller, and fails unless its SHA-256 is O(sha256).
  - Returns the file's text, one element per term; parse it with C(airs.mcp_k8s.manifest_objects).
  - The roles pin the upstream release files they apply cluster-wide, so a changed or
    substituted file is refused before anything reaches the cluster.
options:
  _terms:
    description: URLs or local paths of the files.
    required: true
    type: list
    elements: str
  sha256:
    description: The expected SHA-256, 64 hexadecimal digits.
    required: true
    type: str
  variable:
    description: Name of the variable holding the pin, quoted in the error message.
    type: str
    default: sha256
  timeout:
    description: Seconds to wait for a URL.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Read the MetalLB manifest, refused unless it is the pinned release file
  ansible.builtin.set_fact:
    objects: >-
      {{ lookup('airs.mcp_k8s.pinned_manifest', metallb_manifest_src,
                sha256=metallb_manifest_sha256, variable='metallb_manifest_sha256')
         | airs.mcp_k8s.manifest_objects }}
"""

RETURN = r"""
_raw:
  description: The text of each file.
  type: list
  elements: str
"""

import hashlib
import re
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url
from ansible.plugins.lookup import LookupBase

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        expected = str(self.get_option("sha256")).strip().lower()
        variable = self.get_option("variable")
        if not _SHA256.match(expected):
            raise AnsibleLookupError(f"{variable} must be 64 hexadecimal digits, got {expected!r}")
        return [self._checked(str(src), expected, variable, variables) for src in terms]

    def _checked(
        self, src: str, expected: str, variable: str, variables: dict[str, Any] | None
    ) -> str:
        data = self._read(src, variables)
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise AnsibleLookupError(
                f"{src} has sha256 {actual}, but {variable} pins {expected}: the file is not the "
                f"pinned release. For another release, set {variable} to its file's sha256."
            )
        return data.decode("utf-8")

    def _read(self, src: str, variables: dict[str, Any] | None) -> bytes:
        if re.match(r"^https?://", src):
            try:
                with open_url(
                    src, timeout=self.get_option("timeout"), follow_redirects="safe"
                ) as response:
                    return response.read()
            except Exception as exc:  # any transport error means "cannot read"
                raise AnsibleLookupError(f"cannot fetch {src}: {to_native(exc)}") from exc
        path = self.find_file_in_search_path(variables or {}, "files", src, ignore_missing=True)
        if not path:
            raise AnsibleLookupError(f"cannot find the local file {src}")
        with open(path, "rb") as handle:
            return handle.read()
