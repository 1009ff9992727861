"""vraagbaak: ask questions in Dutch of Dutch documents, get the cited passages back.

The public API: :class:`Vraagbaak` (the front door), the settings tree (:class:`Settings`
and its parts), the results it returns (:class:`Result`, :class:`Answer`, :class:`Hit`,
:class:`Chunk`, :class:`TopicResult`, :class:`BuildReport`, :class:`CheckReport`,
:class:`SourceInfo`), the retriever interface it can be given (:class:`Retriever`,
:class:`Proposal`) and the errors it raises (all :class:`VraagbaakError`).
"""

from .api import Vraagbaak
from .errors import (
    EncoderError,
    EncoderMismatchError,
    IndexCorruptError,
    IndexLockedError,
    IndexMissingError,
    IndexWriteError,
    InputError,
    UnsupportedFormatError,
    VraagbaakError,
)
from .index.encoders import Encoder
from .index.reader import CheckReport, Index, SourceInfo
from .index.store import BuildReport
from .qa.pipeline import Pipeline
from .qa.search import Proposal, Retriever
from .qa.topic import TopicGroup, TopicPassage, TopicResult
from .settings import (
    AnalysisSettings,
    AnswerSettings,
    ChunkSettings,
    RetrievalSettings,
    Settings,
)
from .types import Answer, Chunk, Document, Hit, Result

__version__ = "0.1.0"

__all__ = [
    "AnalysisSettings",
    "Answer",
    "AnswerSettings",
    "BuildReport",
    "CheckReport",
    "Chunk",
    "ChunkSettings",
    "Document",
    "Encoder",
    "EncoderError",
    "EncoderMismatchError",
    "Hit",
    "Index",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexMissingError",
    "IndexWriteError",
    "InputError",
    "Pipeline",
    "Proposal",
    "Result",
    "RetrievalSettings",
    "Retriever",
    "Settings",
    "SourceInfo",
    "TopicGroup",
    "TopicPassage",
    "TopicResult",
    "UnsupportedFormatError",
    "Vraagbaak",
    "VraagbaakError",
]
