"""Encoders, the dense and lexical indexes, and their persistence."""

from .analysis import AnalysisSettings, Analyzer
from .builder import index_exists, ingest, remove_sources
from .encoders import Encoder, get_encoder
from .reader import Index, SourceInfo
from .store import BuildReport

__all__ = [
    "AnalysisSettings",
    "Analyzer",
    "BuildReport",
    "Encoder",
    "Index",
    "SourceInfo",
    "get_encoder",
    "index_exists",
    "ingest",
    "remove_sources",
]
