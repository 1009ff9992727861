"""Encoders, the dense and lexical indexes, and their persistence, one module per job:

- :mod:`.encoders`, :mod:`.cache`: embedding texts (cached by encoder and text hash);
- :mod:`.analysis`: Dutch text into BM25 terms; :mod:`.ann`: the FAISS index by size;
- :mod:`.layout`: the index folder, its generations, the write lock, recovery hints;
- :mod:`.store`: the writer (a new generation, swapped in atomically, old ones cleaned up);
- :mod:`.reader`: the reader, :class:`Index` (every part loaded on first use, a quick check
  on open, :meth:`Index.verify` for the full one);
- :mod:`.manifest`: the manifest, checked field by field and by its own checksum;
- :mod:`.builder`: ingest and remove (what to read, what to reuse, then the writer).
"""

from ..settings import AnalysisSettings
from .analysis import Analyzer
from .builder import index_exists, ingest, remove_sources
from .encoders import Encoder, get_encoder
from .reader import CheckReport, Index, SourceInfo
from .store import BuildReport

__all__ = [
    "AnalysisSettings",
    "Analyzer",
    "BuildReport",
    "CheckReport",
    "Encoder",
    "Index",
    "SourceInfo",
    "get_encoder",
    "index_exists",
    "ingest",
    "remove_sources",
]
