"""Helpers of ``make deploy``: compact Ansible progress, the endpoint summary."""
