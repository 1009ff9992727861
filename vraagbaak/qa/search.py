"""Hybrid search: dense and lexical scores for every passage, fused into one ranking."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..index.encoders import Encoder
from ..index.reader import Index
from ..types import Hit
from .fusion import max_per_group, rrf, weighted_sum

logger = logging.getLogger(__name__)

METHODS = ("hybrid", "rrf", "bm25", "dense")
FUSIONS = ("zscore", "minmax", "rrf")


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
        fusion: how ``hybrid`` combines its three score lists: ``zscore`` (standardise and
            add; the measured best), ``minmax`` (scale to 0..1 and add) or ``rrf``.
    """

    method: str = "hybrid"
    rrf_k: float = 60.0
    w_dense: float = 1.0
    w_sentence: float = 1.0
    w_lexical: float = 1.0
    fusion: str = "zscore"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(
                f"method must be one of {', '.join(METHODS)}. Currently {self.method!r}."
            )
        if self.fusion not in FUSIONS:
            raise InputError(
                f"fusion must be one of {', '.join(FUSIONS)}. Currently {self.fusion!r}."
            )


@dataclass(frozen=True)
class Scores:
    """The candidate passages for one question and their scores.

    Small collections score every passage; large ones score the union of the dense and
    lexical top candidates. All arrays are aligned with ``ids``.

    Attributes:
        ids: chunk ids of the candidates.
        dense: cosine similarity of question and passage embedding.
        sentence: best cosine similarity of the question with one of the passage's sentences.
        lexical: BM25 score.
        sent_sims: the similarity of every sentence of the candidates, candidate by
            candidate; ``sent_offsets[j]:sent_offsets[j+1]`` are candidate j's.
        query_vec: the question's embedding.
    """

    ids: np.ndarray
    dense: np.ndarray
    sentence: np.ndarray
    lexical: np.ndarray
    sent_sims: np.ndarray
    sent_offsets: np.ndarray
    query_vec: np.ndarray

    def sentence_sims(self, chunk_id: int) -> np.ndarray | None:
        """The similarity of each sentence of a candidate chunk to the question."""
        pos = np.searchsorted(self.ids, chunk_id)
        if pos >= len(self.ids) or self.ids[pos] != chunk_id:
            return None
        return self.sent_sims[self.sent_offsets[pos] : self.sent_offsets[pos + 1]]


EXACT_LIMIT = 5000
"""Up to this many passages, every passage is scored; beyond it, the top candidates."""


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
        raise InputError(
            'The question is empty. Ask something, e.g. vraagbaak ask "Wat is een Village Deal?"'
        )
    return q[:max_chars]


def score_all(
    index: Index,
    encoder: Encoder,
    question: str,
    *,
    sources: Iterable[str] | None = None,
    candidates: int = 200,
) -> Scores:
    """Dense, best-sentence and BM25 scores of the candidate passages for ``question``.

    Args:
        sources: only consider passages of these sources.
        candidates: in large collections, how many passages each of the dense and the
            lexical ranking contributes.

    Raises:
        InputError: a requested source is not in the index.
    """
    n = len(index.chunks)
    q = encoder.encode([question], is_query=True)[0]
    allowed = _allowed_mask(index, sources)
    lexical_all = bm25_scores(index, question)
    if n <= EXACT_LIMIT or (allowed is not None and int(allowed.sum()) <= EXACT_LIMIT):
        ids = np.arange(n) if allowed is None else np.flatnonzero(allowed)
        lexical = lexical_all[ids]
    else:
        over = candidates if allowed is None else candidates * 10
        _, dense_ids = index.faiss_index.search(q.reshape(1, -1), min(n, over))
        cand = set(int(i) for i in dense_ids[0] if i >= 0)
        top_lex: np.ndarray | list[int] = (
            np.argpartition(-lexical_all, min(over, n - 1))[:over] if lexical_all.any() else []
        )
        cand.update(int(i) for i in top_lex if lexical_all[i] > 0)
        ids = np.array(sorted(cand), dtype=np.int64)
        if allowed is not None:
            ids = ids[allowed[ids]]
        lexical = lexical_all[ids]
    return score_candidates(index, q, ids, lexical)


def bm25_scores(index: Index, question: str) -> np.ndarray:
    """The BM25 score of every passage for ``question`` (zeros when no term is known).

    The work is proportional to the postings of the question's terms, not to the number
    of passages.
    """
    return index.lexical_scores(index.analyzer.terms(question))


def score_candidates(
    index: Index, query_vec: np.ndarray, ids: np.ndarray, lexical: np.ndarray
) -> Scores:
    """Dense and best-sentence scores of chosen candidates, from the index's vectors.

    The shared half of scoring: the candidates come from the local index
    (:func:`score_all`) or from another backend (e.g. Milvus); the passage and sentence
    similarities are always computed exactly from ``index``.

    Args:
        index: the index whose chunk ids ``ids`` are.
        query_vec: the question's embedding.
        ids: the candidates' chunk ids, ascending.
        lexical: their BM25 scores, aligned with ``ids``.
    """
    q = query_vec
    n = len(index.chunks)
    pv = index.passage_vectors
    off = index.sent_offsets
    sv = index.sentence_vectors
    if len(ids) == n:  # every passage: one matrix product each
        dense = np.asarray(pv @ q, dtype=np.float64) if n else np.zeros(0)
        sent_sims = np.asarray(sv @ q, dtype=np.float64) if len(sv) else np.zeros(0)
        sent_off = off
    else:
        dense = np.asarray(pv[ids] @ q, dtype=np.float64) if len(ids) else np.zeros(0)
        counts = off[ids + 1] - off[ids]
        rows = (
            np.concatenate([np.arange(off[c], off[c + 1]) for c in ids])
            if len(ids)
            else np.zeros(0, dtype=np.int64)
        )
        sent_sims = np.asarray(sv[rows] @ q, dtype=np.float64) if len(rows) else np.zeros(0)
        sent_off = np.concatenate([[0], np.cumsum(counts)])
    sentence = max_per_group(sent_sims, sent_off, empty=-1.0)
    return Scores(ids, dense, sentence, lexical, sent_sims, sent_off, q)


def check_sources(index: Index, sources: Iterable[str] | None) -> list[str] | None:
    """The requested sources as a list (``None`` for all), each checked to be indexed.

    Raises:
        InputError: a requested source is not in the index.
    """
    if not sources:
        return None
    wanted = list(dict.fromkeys(sources))
    known = {s.source for s in index.sources}
    unknown = set(wanted) - known
    if unknown:
        raise InputError(
            f"Not in the index: {', '.join(sorted(unknown))}.",
            hint="See what is indexed with: vraagbaak sources",
        )
    return wanted


def _allowed_mask(index: Index, sources: Iterable[str] | None) -> np.ndarray | None:
    wanted = check_sources(index, sources)
    if wanted is None:
        return None
    return index.source_mask(wanted)


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


def rank(index: Index, scores: Scores, settings: RetrievalSettings, *, top_k: int) -> list[Hit]:
    """The best ``top_k`` of the scored candidates."""
    if len(scores.ids) == 0:
        return []
    fused = fuse(scores, settings)
    order = np.argsort(-fused, kind="stable")[:top_k]
    return [
        Hit(
            chunk=index.chunks[int(scores.ids[i])],
            score=float(fused[i]),
            rank=r,
            dense=float(scores.dense[i]),
            lexical=float(scores.lexical[i]),
        )
        for r, i in enumerate(order, 1)
    ]
