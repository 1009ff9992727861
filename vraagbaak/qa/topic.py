"""Topic view: every passage across the sources that discusses a topic, grouped per document.

A topic ("informeel overleg", "ontschotten") is searched like a question, by the steps of
:class:`~vraagbaak.qa.pipeline.Pipeline` (analyse, propose, score, rank); which of the
returned passages *discuss* it is decided from the pool's own score distribution, so no
number is tuned to a phrase:

* a passage that contains one of the topic's words (compared as the index analyzer's terms,
  so "informele" meets "informeel" and "gemeenteraadsleden" meets "gemeenteraad", but
  "kernen" does not meet "kernenergie") counts when its dense similarity is at least
  ``min_z_matched`` standard deviations above the mean of the pool;
* a passage without the topic's words counts only when its dense similarity stands out
  clearly (``min_z``), and only if some passage in the pool contains the topic's words, so
  a topic the sources never mention gives an empty view instead of loosely related text;
* every passage that contains the topic as written (the same words in the same order,
  compared without case and accents) counts, wherever the search ranked it, so no document
  that uses the phrase is missed.

Within each document the passages are diversified with maximal marginal relevance over
text overlap (Jaccard similarity of the passages' analysed terms); a passage that overlaps
an already chosen one by ``duplicate_overlap`` or more is a near-duplicate and dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..index.analysis import Analyzer
from ..index.reader import Index
from ..types import Chunk, Hit

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .question import Question


@dataclass(frozen=True)
class TopicPassage:
    """One passage that discusses the topic.

    Attributes:
        chunk: the passage (``chunk.source``, ``chunk.start``/``end`` cite it).
        rank: the passage's rank in the topic search (1 = best).
        relevance: how far its dense similarity stands above the pool's mean, in standard
            deviations (a z-score; higher is closer to the topic).
        dense: the dense (cosine) similarity to the topic.
        lexical: the BM25 score of the topic's terms.
        matched: whether the passage contains one of the topic's words.
    """

    chunk: Chunk
    rank: int
    relevance: float
    dense: float
    lexical: float
    matched: bool


@dataclass(frozen=True)
class TopicGroup:
    """The passages of one document about the topic.

    Attributes:
        source: the document's source name.
        title: the document's title.
        count: how many distinct (non-duplicate) passages of this document discuss the
            topic; ``passages`` holds at most ``per_source`` of them.
        passages: the chosen passages, most relevant and least redundant first.
        duplicates: passages left out as near-duplicates of a chosen one.
    """

    source: str
    title: str
    count: int
    passages: tuple[TopicPassage, ...]
    duplicates: int = 0


@dataclass(frozen=True)
class TopicResult:
    """The topic view: one group per document, the documents with most passages first.

    Attributes:
        topic: the topic as searched.
        groups: one group per document that discusses the topic.
        pool: how many passages the search returned and were judged.
    """

    topic: str
    groups: tuple[TopicGroup, ...]
    pool: int

    @property
    def total(self) -> int:
        """Distinct passages about the topic across all documents."""
        return sum(g.count for g in self.groups)

    def to_dict(self, index: Index | None = None) -> dict[str, Any]:
        """The JSON of ``vraagbaak topic --json``: per document its passages about the
        topic, each with its citation (with the metadata ``index`` records, when given)."""
        from .citation import citation_text

        return {
            "topic": self.topic,
            "total": self.total,
            "documents": [
                {
                    "source": g.source,
                    "title": g.title,
                    "count": g.count,
                    "duplicates": g.duplicates,
                    "passages": [
                        {
                            "rank": p.rank,
                            "source": p.chunk.source,
                            "section": p.chunk.section,
                            "start": p.chunk.start,
                            "end": p.chunk.end,
                            "line": p.chunk.line,
                            "page": p.chunk.page,
                            "text": p.chunk.text,
                            "relevance": round(p.relevance, 4),
                            "contains_topic": p.matched,
                            "citation": citation_text(p.chunk, index, quote=False),
                        }
                        for p in g.passages
                    ],
                }
                for g in self.groups
            ],
        }


_TOPIC_QUESTION = re.compile(
    r"^\s*wat\s+(?:"
    r"(?:zeggen|schrijven|vermelden|melden)\s+(?:de|deze|onze|alle)\s+"
    r"(?:bronnen|documenten|stukken|rapporten|teksten)"
    r"|(?:staat|lees\s+ik|lezen\s+we|vind\s+ik|vinden\s+we|weten\s+we)\s+(?:er\s+)?"
    r"(?:in\s+(?:de|deze)\s+(?:bronnen|documenten|stukken)\s+)?"
    r"|wordt\s+er\s+(?:in\s+(?:de|deze)\s+(?:bronnen|documenten|stukken)\s+)?gezegd"
    r")\s*\bover\s+(?P<topic>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE | re.DOTALL,
)


def topic_of_question(question: str) -> str | None:
    """The topic of a question that asks for an overview ("Wat zeggen de bronnen over
    ontschotte budgetten?" -> "ontschotte budgetten"), or None for other questions.

    Such a question has no single answering sentence; the topic view answers it.
    """
    m = _TOPIC_QUESTION.match(question or "")
    if m is None:
        return None
    topic = " ".join(m.group("topic").split()).strip("\"'“”‘’")
    return topic or None


def fold(text: str) -> str:
    """Lower case without accents, one character per character (offsets are kept)."""
    out = []
    for ch in text.lower():
        base = unicodedata.normalize("NFKD", ch)
        base = "".join(c for c in base if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


def phrase_pattern(topic: str) -> re.Pattern[str] | None:
    """A pattern that finds ``topic`` as written in folded text: its words in order, as
    whole words, with any spaces or punctuation between them (None for an empty topic)."""
    words = re.findall(r"\w+", fold(topic))
    if not words:
        return None
    return re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)")


_DOUBLE_VOWEL = re.compile(r"([aeiou])\1")


def normalize_term(term: str) -> str:
    """An analysed term with doubled vowels made single, so that the forms of a Dutch word
    with an open and a closed syllable meet ("informeel" / "informele")."""
    return _DOUBLE_VOWEL.sub(r"\1", term)


def topic_terms(analyzer: Analyzer, topic: str) -> frozenset[str]:
    """The head term of each word of ``topic`` (no compound parts), normalised."""
    heads = (analyzer.terms(w) for w in topic.split())
    return frozenset(normalize_term(t[0]) for t in heads if t)


def passage_terms(analyzer: Analyzer, text: str) -> frozenset[str]:
    """All terms of ``text`` (compound parts included), normalised."""
    return frozenset(normalize_term(t) for t in analyzer.terms(text))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two term sets (0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def mmr_order(
    relevance: Sequence[float],
    similarity: np.ndarray,
    *,
    lam: float = 0.7,
    duplicate: float = 1.01,
) -> tuple[list[int], list[int]]:
    """Order items by maximal marginal relevance.

    Args:
        relevance: one relevance per item (any scale; min-max normalised here).
        similarity: the items' pairwise similarities in [0, 1].
        lam: weight of relevance against redundancy (1 = relevance only).
        duplicate: an item whose similarity to a chosen item reaches this is dropped.

    Returns:
        The chosen items' positions in MMR order, and the positions dropped as duplicates.
    """
    if not 0.0 <= lam <= 1.0:
        raise InputError(f"lam must be between 0 and 1. Currently lam is {lam}.")
    rel = np.asarray(relevance, dtype=np.float64)
    n = len(rel)
    if n == 0:
        return [], []
    span = float(rel.max() - rel.min())
    norm = (rel - rel.min()) / span if span > 0 else np.ones(n)
    left = list(range(n))
    chosen: list[int] = []
    dropped: list[int] = []
    while left:
        best, best_val = -1, -np.inf
        for i in left:
            red = max((float(similarity[i, j]) for j in chosen), default=0.0)
            val = lam * norm[i] - (1.0 - lam) * red
            if val > best_val:
                best, best_val = i, val
        left.remove(best)
        if chosen and max(float(similarity[best, j]) for j in chosen) >= duplicate:
            dropped.append(best)
        else:
            chosen.append(best)
    return chosen, dropped


def relevant(
    dense: Sequence[float],
    matched: Sequence[bool],
    *,
    min_z: float = 1.5,
    min_z_matched: float = 0.0,
) -> list[tuple[int, float]]:
    """Which passages of a pool discuss the topic, with their relevance.

    Args:
        dense: each pooled passage's dense similarity to the topic.
        matched: whether each passage contains one of the topic's words.
        min_z: z-score a passage without the topic's words needs.
        min_z_matched: z-score a passage with the topic's words needs.

    Returns:
        (position in the pool, dense z-score) of each relevant passage, in pool order.
    """
    d = np.asarray(dense, dtype=np.float64)
    if len(d) != len(matched):
        raise ValueError("dense and matched must have the same length.")
    if len(d) == 0:
        return []
    sd = float(d.std())
    z = (d - d.mean()) / sd if sd > 1e-9 else np.zeros(len(d))
    any_match = any(matched)
    return [
        (i, float(z[i]))
        for i in range(len(d))
        if (matched[i] and z[i] >= min_z_matched) or (any_match and z[i] >= min_z)
    ]


def topic_passages(
    pipe: Pipeline,
    topic: str,
    *,
    per_source: int = 5,
    pool: int = 50,
    sources: Iterable[str] | None = None,
    min_z: float = 1.5,
    min_z_matched: float = 0.0,
    lam: float = 0.7,
    duplicate_overlap: float = 0.5,
) -> TopicResult:
    """All passages about ``topic``, grouped per document and diversified.

    Args:
        pipe: the question pipeline over the index (``Vraagbaak.pipeline()``).
        topic: a few words naming the topic.
        per_source: at most this many passages shown per document.
        pool: how many passages the topic search returns to judge.
        sources: only these sources (default: all).
        min_z: dense z-score a passage without the topic's terms needs.
        min_z_matched: dense z-score a passage with one of the topic's terms needs.
        lam: MMR weight of relevance against redundancy.
        duplicate_overlap: term overlap (Jaccard) from which a passage is a near-duplicate.

    Raises:
        InputError: an empty topic or an option out of range.
    """
    if per_source <= 0:
        raise InputError(
            f"per_source must be greater than 0. Currently per_source is {per_source}."
        )
    if pool <= 0:
        raise InputError(f"pool must be greater than 0. Currently pool is {pool}.")
    if not 0.0 < duplicate_overlap <= 1.0:
        raise InputError(
            "duplicate_overlap must be in (0, 1]. "
            f"Currently duplicate_overlap is {duplicate_overlap}."
        )
    from .search import check_sources, rank

    ix = pipe.index
    q = pipe.question(topic)
    wanted_sources = check_sources(ix, sources)
    scores = pipe.scores(q, wanted_sources)
    hits = [h for h in rank(ix, scores, pipe.retrieval(None, q), top_k=pool) if h.dense is not None]
    n_pool = len(hits)
    hits += _phrase_hits(ix, q, topic, hits, wanted_sources)
    analyzer = ix.analyzer
    wanted = topic_terms(analyzer, topic)
    terms = [passage_terms(analyzer, h.chunk.text) for h in hits]
    matched = [bool(wanted & t) for t in terms]
    dense = [float(h.dense or 0.0) for h in hits]
    keep = relevant(
        dense[:n_pool], matched[:n_pool], min_z=min_z, min_z_matched=min_z_matched
    )
    pattern = phrase_pattern(topic)
    if pattern is not None:
        # a passage that states the topic as written always counts (its relevance is
        # measured against the search pool, like the others')
        pool_d = np.asarray(dense[:n_pool], dtype=np.float64)
        mean, sd = (float(pool_d.mean()), float(pool_d.std())) if n_pool else (0.0, 0.0)
        chosen = {i for i, _ in keep}
        keep += [
            (i, (dense[i] - mean) / sd if sd > 1e-9 else 0.0)
            for i, h in enumerate(hits)
            if i not in chosen and pattern.search(fold(h.chunk.text))
        ]
        keep.sort()
    by_source: dict[str, list[tuple[int, float]]] = {}
    for i, z in keep:
        by_source.setdefault(hits[i].chunk.source, []).append((i, z))
    groups = []
    for source, items in by_source.items():
        sim = np.array([[overlap(terms[i], terms[j]) for j, _ in items] for i, _ in items])
        order, dropped = mmr_order([z for _, z in items], sim, lam=lam, duplicate=duplicate_overlap)
        passages = tuple(
            TopicPassage(
                chunk=hits[items[k][0]].chunk, rank=hits[items[k][0]].rank,
                relevance=items[k][1], dense=float(hits[items[k][0]].dense or 0.0),
                lexical=float(hits[items[k][0]].lexical or 0.0), matched=matched[items[k][0]],
            )
            for k in order[:per_source]
        )
        groups.append(
            TopicGroup(
                source=source, title=hits[items[0][0]].chunk.title, count=len(order),
                passages=passages, duplicates=len(dropped),
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.passages[0].relevance))
    return TopicResult(topic=" ".join(topic.split()), groups=tuple(groups), pool=len(hits))


def _phrase_hits(
    ix: Index, q: Question, topic: str, pool: Sequence[Hit], sources: list[str] | None
) -> list[Hit]:
    """The passages outside ``pool`` that contain ``topic`` as written, as hits ranked
    after the pool, with their dense similarity to the topic.

    Candidates are the passages with a BM25 score for the topic (they share a term with
    it), so the work follows the topic's postings, not the size of the index.
    """
    pattern = phrase_pattern(topic)
    if pattern is None:
        return []
    allowed = None if sources is None else ix.source_mask(sources)
    seen = {h.chunk.id for h in pool}
    lexical = ix.lexical_scores(q.terms)
    found = [
        int(i) for i in np.flatnonzero(lexical > 0)
        if int(i) not in seen
        and (allowed is None or allowed[int(i)])
        and pattern.search(fold(ix.chunks[int(i)].text))
    ]
    if not found:
        return []
    dense = np.asarray(ix.passage_vectors[found], dtype=np.float32) @ q.vector
    order = sorted(range(len(found)), key=lambda k: -lexical[found[k]])
    return [
        Hit(chunk=ix.chunks[found[k]], score=float(lexical[found[k]]), rank=len(pool) + n + 1,
            dense=float(dense[k]), lexical=float(lexical[found[k]]))
        for n, k in enumerate(order)
    ]
