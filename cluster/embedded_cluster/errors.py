"""The one base class of every error the embedded cluster raises.

Each module keeps its own class (``build.BuildError``, ``images.ImageError``, ...) so a caller
can catch one kind; ``embedded-cluster`` catches :class:`EmbeddedClusterError` and reports every
failure the same way (``embedded-cluster: error: ...``, exit 1).
"""

from __future__ import annotations


class EmbeddedClusterError(RuntimeError):
    """A step of building, starting or stopping the embedded cluster failed."""
