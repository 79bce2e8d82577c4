#!/usr/bin/python
"""Documentation of the ``security_warning`` action (plugins/action/security_warning.py does the
work on the controller; this module never runs on a host)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: security_warning
author: airs-mcp-k8s maintainers (!UNKNOWN)
short_description: Warn that a protection of the collection is turned off
description:
  - Adds one Ansible warning naming the variable that turned a protection off and what that
    costs. Changes nothing; runs on the controller; supports check mode.
options:
  variable:
    description: The variable (and its value) that turned the protection off.
    type: str
    required: true
  consequence:
    description: What is unprotected now.
    type: str
    required: true
attributes:
  check_mode:
    support: full
    description: Only warns; changes nothing.
"""

EXAMPLES = r"""
- name: Warn when the dashboard has no authentication
  airs.mcp_k8s.security_warning:
    variable: traefik_web_redirect_to_https=false
    consequence: bearer tokens cross the network in clear text on the web entrypoint
  when: not traefik_web_redirect_to_https | bool
"""

RETURN = r"""
warning:
  description: The warning text.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "variable": {"type": "str", "required": True},
            "consequence": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    module.fail_json(msg="security_warning is an action plugin: it runs on the controller only")


if __name__ == "__main__":
    main()
