"""vraagbaak: ask questions in Dutch of Dutch documents, get the cited passages back."""

from .api import Vraagbaak
from .errors import (
    EncoderMismatchError,
    IndexCorruptError,
    IndexLockedError,
    IndexMissingError,
    InputError,
    VraagbaakError,
)
from .settings import ChunkSettings, Settings
from .types import Answer, Chunk, Document, Hit, Result

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Chunk",
    "ChunkSettings",
    "Document",
    "EncoderMismatchError",
    "Hit",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexMissingError",
    "InputError",
    "Result",
    "Settings",
    "Vraagbaak",
    "VraagbaakError",
]
