"""One settings object instead of loose globals."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InputError

DEFAULT_ENCODER = "e5"
BACKENDS = ("local", "milvus")
SENTENCE_VECTORS = ("passage", "separate")
MAX_THREADS = 256
MAX_BATCH = 1024


def default_index_dir() -> Path:
    """The index folder: ``$VRAAGBAAK_INDEX`` or a per-user data folder."""
    env = os.environ.get("VRAAGBAAK_INDEX")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("vraagbaak")) / "index"


def default_cache_dir() -> Path:
    """The embedding cache: ``$VRAAGBAAK_CACHE`` or a per-user cache folder."""
    env = os.environ.get("VRAAGBAAK_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vraagbaak"))


def bundled_corpus() -> Path:
    """The folder with the bundled Dutch sources (``corpus/`` next to the package)."""
    env = os.environ.get("VRAAGBAAK_CORPUS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "corpus"


def check_min_confidence(value: float | None) -> float | None:
    """A minimum answer confidence: None (the calibrated default) or a number in 0..1.

    Raises:
        InputError: it is not a number in 0..1 (``nan`` included).
    """
    if value is None:
        return None
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = math.nan
    if not 0.0 <= p <= 1.0:  # also false for nan
        raise InputError(
            f"The minimum confidence must be a number from 0 to 1. Currently it is {value}."
        )
    return p


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are split into passages.

    Attributes:
        target_chars: passages grow paragraph by paragraph up to about this size.
        max_chars: a paragraph longer than this is split at sentence boundaries.
        min_chars: fragments shorter than this are merged with a neighbour.
    """

    target_chars: int = 700
    max_chars: int = 1000
    min_chars: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.min_chars <= self.target_chars <= self.max_chars:
            raise InputError(
                "chunk sizes must satisfy 0 < min_chars <= target_chars <= max_chars. "
                f"Currently min={self.min_chars}, target={self.target_chars}, "
                f"max={self.max_chars}."
            )


@dataclass(frozen=True)
class Settings:
    """Everything that can be configured, in one place.

    Attributes:
        index_dir: where the index lives.
        cache_dir: where embeddings are cached (keyed by encoder id and text hash).
        encoder: ``e5`` (bundled multilingual-e5-small) or ``st:<name-or-path>``.
        chunking: passage sizes.
        top_k: passages returned by default.
        abstain_threshold: answer confidence below which vraagbaak says the sources do
            not answer (see README, "Abstention"). ``None`` uses the calibrated default.
        uncertain_below: an answer given with a confidence below this is shown as
            *onzeker* (uncertain): answered, but to be checked in its source.
        backend: where questions are searched: ``local`` (the index folder) or ``milvus``
            (a copy of it in Milvus; the index folder still supplies texts and citations).
        milvus_uri: the Milvus to use with ``backend="milvus"``: a Milvus Lite file
            (``./vraagbaak.db``) or a server (``http://host:19530``).
        milvus_token: credentials for a Milvus server (``user:password`` or an API key).
        encoder_threads: the encoder's threads; 0 lets its runtime decide (one per core).
            On a machine busy with other work, 1 can be faster (see README, "Speed").
        encoder_batch: texts per forward pass of the encoder at ingest; 0 is the
            encoder's default (8 for ``e5``, chosen by measurement: see README, "Ingest speed").
        sentence_vectors: how sentences get their vectors at ingest: ``separate`` (each
            sentence embedded on its own, with its document's title; the default) or
            ``passage`` (the mean of the sentence's tokens in its passage's forward pass:
            each passage is read once, 2.6 times less encoder work, at a measured cost in
            quality). ``passage`` needs an encoder that gives token states (``e5``); others
            always use ``separate``. See README, "Ingest speed".
    """

    index_dir: Path = field(default_factory=default_index_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    encoder: str = DEFAULT_ENCODER
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    top_k: int = 5
    abstain_threshold: float | None = None
    uncertain_below: float = 0.75
    backend: str = "local"
    milvus_uri: str | None = None
    milvus_token: str | None = field(default=None, repr=False)
    encoder_threads: int = 0
    encoder_batch: int = 0
    sentence_vectors: str = "separate"

    def __post_init__(self) -> None:
        for name, top in (("encoder_threads", MAX_THREADS), ("encoder_batch", MAX_BATCH)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise InputError(
                    f"{name} must be a whole number from 0 to {top} (0: the encoder's "
                    f"default). Currently {name} is {value!r}."
                )
        if self.top_k <= 0:
            raise InputError(f"top_k must be greater than 0. Currently top_k is {self.top_k}.")
        check_min_confidence(self.abstain_threshold)
        if self.sentence_vectors not in SENTENCE_VECTORS:
            raise InputError(
                f"sentence_vectors must be one of {', '.join(SENTENCE_VECTORS)}. "
                f"Currently {self.sentence_vectors!r}."
            )
        if not 0.0 <= self.uncertain_below <= 1.0:
            raise InputError(
                "uncertain_below must be between 0 and 1. "
                f"Currently uncertain_below is {self.uncertain_below}."
            )
        if self.backend not in BACKENDS:
            raise InputError(
                f"backend must be one of {', '.join(BACKENDS)}. Currently {self.backend!r}."
            )
        if self.backend == "milvus" and not self.milvus_uri:
            raise InputError(
                "The milvus backend needs a URI: a Milvus Lite file (./vraagbaak.db) or a "
                "server (http://host:19530).",
                hint="Give it with --uri URI or $VRAAGBAAK_MILVUS_URI.",
            )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]
