"""Retrieval: which passages are candidates for a question, their scores, one ranking.

A :class:`Retriever` proposes candidate passages (a :class:`Proposal`: chunk ids and their
BM25 scores): :class:`LocalRetriever` from the index itself (every passage of a small
collection; the FAISS top-N and BM25 top-N of a large one), or
:class:`vraagbaak.backends.milvus.MilvusRetriever` from Milvus. The rest are pure functions
over arrays: :func:`score_candidates` computes the dense and best-sentence similarities of
the candidates exactly from the index's vectors, :func:`fuse` turns the three score lists
into one (:mod:`.fusion`), :func:`rank` takes the best.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import InputError
from ..index.reader import Index
from ..settings import RetrievalSettings
from ..types import Hit
from .fusion import max_per_group, rrf, weighted_sum
from .question import Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    """The candidate passages a retriever proposes for one question.

    Attributes:
        ids: their chunk ids, ascending.
        lexical: their BM25 scores (the local index's), aligned with ``ids``.
    """

    ids: np.ndarray
    lexical: np.ndarray


class Retriever(Protocol):
    """Proposes the candidate passages for a question. Scoring and ranking are the same
    whoever proposes them: every score comes from the local index."""

    def propose(
        self, index: Index, question: Question, sources: list[str] | None
    ) -> Proposal: ...


@dataclass(frozen=True)
class LocalRetriever:
    """Candidates from the local index: every passage (of the sources searched) when
    there are at most ``exact_limit``, else the union of the FAISS top-N and the BM25
    top-N (``candidates`` each; ``filtered_factor`` times as many with a source filter,
    which is applied after the search)."""

    settings: RetrievalSettings = field(default_factory=RetrievalSettings)

    def propose(self, index: Index, question: Question, sources: list[str] | None) -> Proposal:
        rs = self.settings
        n = len(index)
        allowed = None if sources is None else index.source_mask(sources)
        lexical_all = index.lexical_scores(question.terms)
        if n <= rs.exact_limit or (allowed is not None and int(allowed.sum()) <= rs.exact_limit):
            ids = np.arange(n) if allowed is None else np.flatnonzero(allowed)
            return Proposal(ids, lexical_all[ids])
        over = rs.candidates if allowed is None else rs.candidates * rs.filtered_factor
        q = question.vector
        _, dense_ids = index.faiss_index.search(q.reshape(1, -1), min(n, over))
        cand = set(int(i) for i in dense_ids[0] if i >= 0)
        top_lex: np.ndarray | list[int] = (
            np.argpartition(-lexical_all, min(over, n - 1))[:over] if lexical_all.any() else []
        )
        cand.update(int(i) for i in top_lex if lexical_all[i] > 0)
        ids = np.array(sorted(cand), dtype=np.int64)
        if allowed is not None:
            ids = ids[allowed[ids]]
        return Proposal(ids, lexical_all[ids])


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


def score_candidates(
    index: Index, query_vec: np.ndarray, ids: np.ndarray, lexical: np.ndarray
) -> Scores:
    """Dense and best-sentence scores of chosen candidates, from the index's vectors.

    The candidates come from a :class:`Retriever` (the local index, or Milvus); the passage
    and sentence similarities are always computed exactly from ``index``.

    Args:
        index: the index whose chunk ids ``ids`` are.
        query_vec: the question's embedding.
        ids: the candidates' chunk ids, ascending.
        lexical: their BM25 scores, aligned with ``ids``.
    """
    q = query_vec
    n = len(index)
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
    if index.sentence_scale != 1.0:  # vectors of the sentence head: see HeadCard.shrink
        sent_sims = sent_sims / index.sentence_scale
    sentence = max_per_group(sent_sims, sent_off, empty=-1.0)
    return Scores(ids, dense, sentence, lexical, sent_sims, sent_off, q)


def check_sources(index: Index, sources: Iterable[str] | None) -> list[str] | None:
    """The requested sources as a list (``None`` for all; one name may be given as a
    string), each checked to be indexed.

    Raises:
        InputError: a requested source is not in the index.
    """
    if not sources:
        return None
    wanted = list(dict.fromkeys([sources] if isinstance(sources, str) else sources))
    known = {s.source for s in index.sources}
    unknown = set(wanted) - known
    if unknown:
        raise InputError(
            f"Not in the index: {', '.join(sorted(unknown))}.",
            hint="See what is indexed with: vraagbaak sources",
        )
    return wanted


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
