"""Extractive answers: the sentence(s) in the top passages that answer the question.

Candidate sentences come from the best passages. Each is scored by its own embedding's
similarity to the question, by how much of the question's (IDF-weighted) terms it contains,
by its passage's rank, and by whether it lacks the number or date the question asks for
(:mod:`.answer_type`). The best one, extended by the next sentence when it is only a
lead-in, is the answer. Whether to give it at all is decided by :mod:`.abstain`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..index.encoders import Encoder
from ..index.reader import Index
from ..index.store import bare_sentence_input
from ..ingest.sentences import is_list_item, split_sentences
from ..settings import AnswerSettings
from ..types import Answer, Chunk, Hit
from .answer_type import asked_kind, kind_mismatch
from .question import Question, unseen_idf
from .reader import Reader
from .search import Scores


@dataclass(frozen=True)
class Candidate:
    chunk_id: int
    index: int
    start: int
    end: int
    dense: float
    lexical: float
    passage_rank: int
    score: float
    passage_gap: float = 0.0
    """How far its passage's fused retrieval score lies below the best passage's (<= 0)."""
    kind_miss: float = 0.0
    """1.0 when the question asks for a number or a date and the sentence holds none
    (:func:`.answer_type.kind_mismatch`)."""


def lexical_coverage(
    question_terms: list[str], sentence_terms: AbstractSet[str], idf: dict[str, float]
) -> float:
    """Share of the question's IDF weight whose terms occur in the sentence (0..1)."""
    return _coverage(_weights(question_terms, idf), sentence_terms)


def _weights(question_terms: list[str], idf: dict[str, float]) -> list[tuple[str, float]]:
    """Each distinct question term with its share of the question's IDF weight."""
    w = {t: idf.get(t, 1.0) for t in question_terms}
    total = sum(w.values())
    return [(t, v / total) for t, v in w.items()] if total else []


def _coverage(weights: list[tuple[str, float]], terms: AbstractSet[str]) -> float:
    return sum(v for t, v in weights if t in terms)


def _alnum_at_least(text: str, n: int) -> bool:
    """Whether ``text`` holds ``n`` letters or digits (stops at the ``n``-th)."""
    for ch in text:
        if ch.isalnum():
            n -= 1
            if n <= 0:
                return True
    return n <= 0


def candidates(
    index: Index, question: Question, hits: list[Hit], scores: Scores, cfg: AnswerSettings
) -> list[Candidate]:
    """Score every sentence of the top passages, best first."""
    weights = _weights(list(question.terms), dict(question.idf))
    kind = asked_kind(question.text)
    out = []
    best = hits[0].score if hits else 0.0
    for hit in hits[: cfg.passages]:
        c = hit.chunk
        sims = scores.sentence_sims(c.id)
        if sims is None:
            continue
        for j, (s, e) in enumerate(c.sentences):
            text = c.text[s - c.start : e - c.start]
            if not _alnum_at_least(text, 3) or _is_heading(text, c):
                continue
            if text.rstrip().endswith("?") and j == len(c.sentences) - 1:
                continue  # a question in the text answers nothing without what follows it
            header = _table_header(c, s, e)
            if header == (s, e):  # a table's header row names columns; it answers nothing
                continue
            context = text
            if header is not None:
                context = f"{c.text[header[0] - c.start : header[1] - c.start]} {text}"
            dense = float(sims[j])
            lex = _coverage(weights, index.analyzer.term_set(context))
            miss = kind_mismatch(kind, context)
            score = (
                cfg.w_dense * dense
                + cfg.w_lexical * lex
                - cfg.w_rank * math.log(hit.rank)
                - cfg.w_kind * miss
            )
            out.append(
                Candidate(c.id, j, s, e, dense, lex, hit.rank, score, hit.score - best, miss)
            )
    out.sort(key=lambda x: -x.score)
    return out


def candidate_text(index: Index, cand: Candidate) -> str:
    """The candidate sentence as the reader reads it: a table row with its header row."""
    c = index.chunks[cand.chunk_id]
    text = c.text[cand.start - c.start : cand.end - c.start]
    header = _table_header(c, cand.start, cand.end)
    if header is not None:
        text = f"{c.text[header[0] - c.start : header[1] - c.start]} {text}"
    return text


def candidate_context(index: Index, cand: Candidate, mode: str = "previous") -> str:
    """What a reader trained with context reads beside the candidate: with ``mode``
    ``"previous"`` the sentence before it in its passage ("" for a passage's first one: a
    pronoun's antecedent, a list's lead-in), with ``"title"`` its document's title, else
    nothing."""
    c = index.chunks[cand.chunk_id]
    if mode == "title":
        return c.title or ""
    if mode != "previous" or cand.index == 0:
        return ""
    s, e = c.sentences[cand.index - 1]
    return c.text[s - c.start : e - c.start]


@dataclass(frozen=True)
class Reading:
    """A candidate, the reading model's logit for it (higher: more likely the answer), and
    the score it is chosen by (:func:`choice_score`)."""

    candidate: Candidate
    logit: float
    score: float


def choice_score(
    logit: float, cheap: float, cheap_weight: float, gap: float = 0.0, passage_weight: float = 0.0
) -> float:
    """How the answer is chosen among the candidates the reader read: its logit, plus
    ``cheap_weight`` times the cheap score (similarity, shared words, passage rank), plus
    ``passage_weight`` times its passage's ``gap`` (how far the passage's fused retrieval
    score lies below the best passage's; 0 for the best passage's sentences). The weights
    are fitted with the reader's calibration on held-out training data
    (``training/reader/calibrate.py``); both 0 let the reader alone decide."""
    return logit + cheap_weight * cheap + passage_weight * gap


def read(
    reader: Reader,
    index: Index,
    question: Question,
    cands: list[Candidate],
    n: int,
    cheap_weight: float = 0.0,
    passage_weight: float = 0.0,
) -> list[Reading]:
    """The reader's verdict on the ``n`` best candidates (by the cheap score), best first
    by :func:`choice_score`."""
    top = cands[:n]
    logits = reader.logits(
        question.text,
        [candidate_text(index, c) for c in top],
        [candidate_context(index, c, reader.card.context) for c in top],
    )
    out = [
        Reading(c, z, choice_score(z, c.score, cheap_weight, c.passage_gap, passage_weight))
        for c, z in zip(top, map(float, logits), strict=True)
    ]
    out.sort(key=lambda r: -r.score)
    return out


def exact_dense(
    index: Index,
    encoder: Encoder,
    question: Question,
    cands: list[Candidate],
    n: int,
    w_dense: float,
) -> list[Candidate]:
    """The ``n`` best candidates with their similarity to the question from their sentence
    read alone (as a ``bare`` index holds it), their cheap score moved by the change; the
    rest as they are. For an index whose sentence vectors come from their passage's pass
    (``upper``, ``passage``), whose error is larger than the margins between a passage's
    sentences (README, "Ingest speed")."""
    top = cands[:n]
    if not top:
        return cands
    texts = [bare_sentence_input(index.chunks[c.chunk_id], c.start, c.end) for c in top]
    sims = np.asarray(encoder.encode(texts) @ question.vector, dtype=np.float64)
    out = [
        replace(c, dense=float(s), score=c.score + w_dense * (float(s) - c.dense))
        for c, s in zip(top, sims, strict=True)
    ]
    return out + cands[n:]


def _table_header(chunk: Chunk, start: int, end: int) -> tuple[int, int] | None:
    """For a row of a tab-separated table, the span of the table's first (header) row."""
    text = chunk.text
    if "\t" not in text[start - chunk.start : end - chunk.start]:
        return None
    pos = start - chunk.start
    while pos > 0:
        prev_end = pos - 1  # the newline before this line
        prev_start = text.rfind("\n", 0, prev_end) + 1
        if prev_end <= prev_start or "\t" not in text[prev_start:prev_end]:
            break
        pos = prev_start
    lines = text[pos:].split("\n")
    if len(lines) < 2 or "\t" not in lines[1]:
        return None  # a single tabbed line is no table
    return chunk.start + pos, chunk.start + pos + len(lines[0])


def _is_heading(sentence: str, chunk: Chunk) -> bool:
    """A sentence that is the passage's section heading or document title, or one of
    their sentences ("Mijn container is niet geleegd. Wat nu?" is two): no answer."""
    bare = sentence.strip().strip("#*").strip()
    last = chunk.section.split(" › ")[-1] if chunk.section else ""
    return bare in _sentences_of(last) or bare in _sentences_of(chunk.title)


@lru_cache(maxsize=4096)
def _sentences_of(heading: str) -> frozenset[str]:
    """A heading or title and each of its sentences."""
    if not heading:
        return frozenset()
    return frozenset({heading, *(heading[a:b] for a, b in split_sentences(heading))})


_DUTCH_BACK = "hij zij ze hem hen hun haar zijn dit deze dat die dan daardoor daarmee daarom "
_DUTCH_BACK += "daarvoor daarbij daarin daarop hierdoor hiermee hierom hiervoor hierbij hierin"
_ENGLISH_BACK = "he she it they him them his her its their this these those then"
POINTS_BACK = frozenset(f"{_DUTCH_BACK} {_ENGLISH_BACK}".split())
"""Words that, opening a sentence, point back to the one before it: such a sentence quoted
alone ("Hij is ook de oudste quarterback ooit …") does not say who or what it is about, and
"Dan kunt u een vergunning aanvragen." does not say for whom without the condition before
it ("Woont u in het centrum?"), the way Dutch public information is often written."""


def points_back(sentence: str) -> bool:
    """Whether ``sentence`` opens with a word of :data:`POINTS_BACK`."""
    words = sentence.lstrip(" \t\n\"'‘“(«-–—").split(maxsplit=1)
    return bool(words) and words[0].rstrip(",;:").lower() in POINTS_BACK


def _neighbour(index: Index, chunk: Chunk, step: int) -> Chunk | None:
    """The passage just before (``step`` -1) or after (+1) ``chunk`` in its document, when
    it lies in the same section (a long paragraph split into passages continues there)."""
    j = chunk.id + step
    if not 0 <= j < len(index.chunks):
        return None
    n = index.chunks[j]
    same = n.source == chunk.source and n.section == chunk.section and n.sentences
    return n if same else None


def _quote(index: Index, chunk: Chunk, a: int, b: int) -> str:
    """The document text at ``a:b``, from ``chunk``'s text when it lies inside it (the
    whole document is read only for a span reaching into a neighbouring passage)."""
    if chunk.start <= a and b <= chunk.end:
        return chunk.text[a - chunk.start : b - chunk.start]
    return index.source_text(chunk.source)[a:b]


def _cut(start: int, limit: int, text: Callable[[int, int], str]) -> int:
    """Where a span from ``start`` longer than ``limit`` characters ends: at the last word
    boundary within the limit (if past half of it), white space trimmed."""
    cut = text(start, start + limit).rfind(" ")
    end = start + (cut if cut > limit // 2 else limit)
    while end > start and text(end - 1, end).isspace():
        end -= 1
    return end


def _extend(index: Index, cand: Candidate, window: str, limit: int) -> tuple[int, int]:
    """The answer span around the best sentence, in offsets of its document.

    A lead-in ("…:") takes the list that follows; a question in the text ("…?") takes the
    sentence that answers it; with ``window="next"`` or ``"context"`` the following
    sentence of the same paragraph is added when the two fit in ``limit`` characters, and
    with ``"context"`` a sentence that :func:`points_back` first takes the one before it
    in its paragraph (when that fits; the next one then only when all three fit). The
    sentence before or after may lie in the neighbouring passage of the same section: a
    passage boundary inside a paragraph does not end the answer's context.
    """
    c = index.chunks[cand.chunk_id]
    prev, after = _neighbour(index, c, -1), _neighbour(index, c, 1)
    sents = [
        *(prev.sentences[-1:] if prev else ()),
        *c.sentences,
        *(after.sentences[:1] if after else ()),
    ]
    i = cand.index + (1 if prev else 0)
    start, end = cand.start, cand.end
    k = i + 1

    def text(a: int, b: int) -> str:
        return _quote(index, c, a, b)

    def gap_is_paragraph(a: int, b: int) -> bool:
        return "\n\n" in text(a, b).replace(" ", "")

    head = text(start, end).rstrip()
    if window == "context" and is_list_item(head):
        return _list_span(sents, i, text, limit, lambda t: _is_heading(t, c))
    if window == "context" and i > 0 and points_back(head):
        before = sents[i - 1]
        if (
            end - before[0] <= limit
            and not gap_is_paragraph(before[1], start)
            and not _is_heading(text(*before), c)
        ):
            start = before[0]
    nxt = k < len(sents) and sents[k][1] - start <= limit
    if head.endswith(":"):
        while k < len(sents) and sents[k][1] - start <= limit:
            end = sents[k][1]
            k += 1
    elif nxt and (
        head.endswith("?")
        or (window in ("next", "context") and not gap_is_paragraph(end, sents[k][0]))
    ):
        end = sents[k][1]
    if end - start > limit:  # a single long sentence: cut at a word boundary
        end = _cut(start, limit, text)
    return start, end


def _list_span(
    sents: list[tuple[int, int]],
    i: int,
    text: Callable[[int, int], str],
    limit: int,
    is_heading: Callable[[str], bool],
) -> tuple[int, int]:
    """The answer around list item ``i``: the list it belongs to (its items, and the
    lead-in "…:" that opens it unless that is a heading), as much of it as fits in
    ``limit`` characters, from the lead-in or first item on. One item quoted alone ("- uw
    huidige paspoort") does not say what the list is of."""

    def gap(a: int) -> str:  # the white space between sentence a and the next
        return text(sents[a][1], sents[a + 1][0]).replace(" ", "").replace("\t", "")

    in_item = [is_list_item(text(*sents[0]))]  # an item, or a sentence on an item's line
    for j in range(1, len(sents)):
        item = is_list_item(text(*sents[j]))
        in_item.append(item or (in_item[-1] and "\n" not in gap(j - 1)))

    def same_list(a: int) -> bool:
        """Whether sentence ``a + 1`` is in the same list as ``a``: both in items, no
        blank line between, and on a new line only as a new item."""
        b = a + 1
        if not (in_item[a] and in_item[b]) or "\n\n" in gap(a):
            return False
        return "\n" not in gap(a) or is_list_item(text(*sents[b]))

    def fits(a: int, b: int) -> bool:
        return sents[b][1] - sents[a][0] <= limit

    lo, hi = i, i
    while lo > 0 and same_list(lo - 1) and fits(lo - 1, hi):
        lo -= 1
    if lo > 0 and fits(lo - 1, hi) and "\n\n" not in gap(lo - 1):
        lead = text(*sents[lo - 1]).rstrip()
        if lead.endswith(":") and not is_heading(lead):
            lo -= 1
    while hi + 1 < len(sents) and same_list(hi) and fits(lo, hi + 1):
        hi += 1
    start, end = sents[lo][0], sents[hi][1]
    if end - start > limit:  # one long item: cut at a word boundary
        end = _cut(start, limit, text)
    return start, end


def make_answer(
    index: Index, cand: Candidate, score: float, cfg: AnswerSettings | None = None
) -> Answer:
    """The answer for the chosen candidate, quoted exactly from its document (its passage,
    or where its context reaches into a neighbouring passage, from both)."""
    cfg = cfg or AnswerSettings()
    c = index.chunks[cand.chunk_id]
    start, end = _extend(index, cand, cfg.window, cfg.max_answer_chars)
    at = c if start >= c.start else index.chunks[c.id - 1]  # the passage it starts in
    return Answer(
        text=_quote(index, c, start, end),
        source=c.source,
        start=start,
        end=end,
        score=score,
        title=c.title,
        section=c.section,
        line=at.line + at.text[: start - at.start].count("\n"),
        page=at.page,
        chunk_id=c.id,
    )


def rarest_missing(
    question_terms: list[str], terms: AbstractSet[str], idf: dict[str, float], n: int
) -> float:
    """The IDF of the rarest question term that ``terms`` lack, as a share of the IDF of a
    term no passage of the ``n`` contains (0..1; 0 when none is missing)."""
    missing = [idf.get(t, 1.0) for t in set(question_terms) if t not in terms]
    return max(missing) / unseen_idf(n) if missing else 0.0
