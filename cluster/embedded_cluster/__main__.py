"""``python -m embedded_cluster``: the same as the ``embedded-cluster`` command."""

from embedded_cluster.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
