"""Hybrid search: dense and lexical scores for every passage, fused into one ranking."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..index.encoders import Encoder
from ..index.store import Index
from ..types import Hit
from .fusion import max_per_group, rrf, weighted_sum

logger = logging.getLogger(__name__)

METHODS = ("hybrid", "rrf", "bm25", "dense")


@dataclass(frozen=True)
class RetrievalSettings:
    """How the rankings are fused.

    Attributes:
        method: ``hybrid`` (vraagbaak's fusion), ``rrf`` (plain reciprocal rank fusion of
            BM25 and passage embeddings, the standard recipe), ``bm25`` or ``dense``.
        rrf_k: the RRF constant.
        w_dense: weight of the passage-embedding ranking in ``hybrid``.
        w_sentence: weight of the best-sentence embedding ranking in ``hybrid``.
        w_lexical: weight of the BM25 ranking in ``hybrid``.
    """

    method: str = "hybrid"
    rrf_k: float = 60.0
    w_dense: float = 1.0
    w_sentence: float = 1.0
    w_lexical: float = 1.0
    fusion: str = "rrf"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}. Currently {self.method!r}.")


@dataclass(frozen=True)
class Scores:
    """Every passage's scores for one question (arrays over all chunks)."""

    dense: np.ndarray
    sentence: np.ndarray
    lexical: np.ndarray
    sentence_sims: np.ndarray  # one per sentence of the index
    query_vec: np.ndarray


def clean_question(question: str, *, max_chars: int = 2000) -> str:
    """Validate and tidy a question: control characters out, length bounded.

    Raises:
        InputError: the question is empty.
    """
    if question is None:
        raise InputError("The question is empty.")
    q = "".join(ch if ch.isprintable() else " " for ch in str(question))
    q = " ".join(q.split())
    if not q:
        raise InputError("The question is empty. Ask something, e.g. vraagbaak ask \"Wat is een Village Deal?\"")
    return q[:max_chars]


def score_all(index: Index, encoder: Encoder, question: str) -> Scores:
    """Dense, best-sentence and BM25 scores of every passage for ``question``."""
    n = len(index.chunks)
    q = encoder.encode([question], is_query=True)[0]
    fi = index.faiss_index
    dense = np.zeros(n, dtype=np.float64)
    if n:
        d, ids = fi.search(q.reshape(1, -1), n)
        dense[ids[0][ids[0] >= 0]] = d[0][ids[0] >= 0]
    sv = index.sentence_vectors
    sent_sims = np.asarray(sv @ q, dtype=np.float64) if len(sv) else np.zeros(0)
    sentence = max_per_group(sent_sims, index.sent_offsets, empty=-1.0)
    lexical = np.zeros(n, dtype=np.float64)
    terms = index.analyzer.terms(question)
    bm = index.bm25
    vocab = bm.vocab_dict
    known = [t for t in terms if t in vocab]
    if known and n:
        lexical = np.asarray(bm.get_scores(known), dtype=np.float64)
    return Scores(dense, sentence, lexical, sent_sims, q)


def fuse(scores: Scores, settings: RetrievalSettings) -> np.ndarray:
    """One fused score per passage."""
    m = settings.method
    if m == "dense":
        return scores.dense.copy()
    if m == "bm25":
        return scores.lexical.copy()
    if m == "rrf":
        return rrf([scores.dense, scores.lexical], k=settings.rrf_k)
    lists = [scores.dense, scores.sentence, scores.lexical]
    weights = [settings.w_dense, settings.w_sentence, settings.w_lexical]
    if settings.fusion == "rrf":
        return rrf(lists, k=settings.rrf_k, weights=weights)
    return weighted_sum(lists, weights, norm=settings.fusion)


def rank(
    index: Index,
    scores: Scores,
    settings: RetrievalSettings,
    *,
    top_k: int,
    sources: Iterable[str] | None = None,
) -> list[Hit]:
    """The best ``top_k`` passages, optionally only from ``sources``."""
    fused = fuse(scores, settings)
    allowed = None
    if sources:
        wanted = set(sources)
        known = {c.source for c in index.chunks}
        unknown = wanted - known
        if unknown:
            raise InputError(
                f"Not in the index: {', '.join(sorted(unknown))}.",
                hint="See what is indexed with: vraagbaak sources",
            )
        allowed = np.array([c.source in wanted for c in index.chunks])
        fused = np.where(allowed, fused, -np.inf)
    order = np.argsort(-fused, kind="stable")[:top_k]
    hits = []
    for r, i in enumerate(order, 1):
        if not np.isfinite(fused[i]):
            break
        hits.append(
            Hit(
                chunk=index.chunks[int(i)], score=float(fused[i]), rank=r,
                dense=float(scores.dense[i]), lexical=float(scores.lexical[i]),
            )
        )
    return hits
