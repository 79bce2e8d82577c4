"""What the tests and the benchmarks share: the real processes they start and drive.

Importable from the repository root, as ``tests`` and ``bench`` are (pytest's ``pythonpath``,
``python -m bench.<name>``); it imports neither of them. The pytest fixtures built on it stay
in ``tests/fixtures``.

- ``processes``: child processes with a log file, started, waited for and stopped;
- ``airs_double``: the AIRS API double (``airs-api-double``) and its admin API;
- ``mcp_server``: ``airs-mcp-server`` on loopback, its environment and handle;
- ``mcp_client``: the ``mcp`` SDK client on either transport, raw JSON-RPC requests;
- ``client_process``: a child driven line by line over stdin/stdout, every read bounded;
- ``traefik``: a real Traefik in front of server replicas;
- ``cgroup``: a memory-limited cgroup, as a container runtime makes for a pod;
- ``checkout``: paths of this checkout (inventory, collection, demo vault password);
- ``playbooks``: ``ansible-playbook`` and ``scripts/deploy.sh`` runs;
- ``secret_leaks``: whether a text holds a secret, plain or in base64.
"""
