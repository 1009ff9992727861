"""Reading sources and splitting them into passages."""

from .chunker import chunk_document
from .readers import SUPPORTED_SUFFIXES, discover, read_document
from .sentences import split_sentences

__all__ = ["SUPPORTED_SUFFIXES", "chunk_document", "discover", "read_document", "split_sentences"]
