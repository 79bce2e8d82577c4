"""Action ``security_warning``: print an Ansible [WARNING] when a protection is turned off.

Every protection of the collection is on by default; turning one off is allowed but must be
seen in the play's output, as a real warning (also in ``--check`` runs and summaries), not a
debug line that scrolls by. Runs on the controller; changes nothing.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):  # type: ignore[no-untyped-def]
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec={
                "variable": {"type": "str", "required": True},
                "consequence": {"type": "str", "required": True},
            }
        )[1]
        text = f"SECURITY: {args['variable']}: {args['consequence']}."
        result.update(changed=False, warning=text, warnings=[text])
        return result
