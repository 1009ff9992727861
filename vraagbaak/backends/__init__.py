"""Search backends beyond the local on-disk index.

- :mod:`vraagbaak.backends.milvus`: Milvus Lite (a local file) or a Milvus cluster.

Importing this package imports no backend client library; each backend imports its own
on first use.
"""

from __future__ import annotations

__all__ = ["MilvusBackend"]


def __getattr__(name: str) -> object:
    if name == "MilvusBackend":
        from .milvus import MilvusBackend

        return MilvusBackend
    raise AttributeError(name)
