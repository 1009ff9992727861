"""A question, analysed once: cleaned, cut to length, its terms and their IDF, its vector,
and whether it reads as Dutch.

Every step of the pipeline (:mod:`.pipeline`) reads the :class:`Question` instead of
analysing the text again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..errors import InputError
from ..index.analysis import zipf
from ..index.encoders import Encoder
from ..index.reader import Index


def clean_question(question: str, *, max_chars: int = 2000) -> str:
    """Validate and tidy a question: control characters out, length bounded.

    Raises:
        InputError: the question is empty or not text.
    """
    if question is None:
        raise InputError("The question is empty.")
    if not isinstance(question, str):
        raise InputError(f"The question must be text, not {type(question).__name__}.")
    q = "".join(ch if ch.isprintable() else " " for ch in str(question))
    q = " ".join(q.split())
    if not q:
        raise InputError(
            'The question is empty. Ask something, e.g. vraagbaak ask "Wat is een Village Deal?"'
        )
    return q[:max_chars]


def looks_dutch(text: str) -> bool:
    """Whether ``text`` reads as Dutch rather than English, by word frequencies.

    Each word votes with how much more common it is in Dutch than in English (Zipf scale,
    wordfreq's lists); only text that is clearly English (votes summing below -1) is not
    Dutch. Text without words counts as Dutch. On training data: the 120 Dutch questions
    of the Debian FAQ all sum to 1.2 or more (a Dutch question with English names or
    loanwords stays Dutch); 1,000 held-out SQuAD questions all sum to -2.4 or less, and
    118 of the FAQ's 120 English questions below -1 ("What is Debian GNU/Linux?" is all
    names and short words). Measured, not chosen, on the evaluation sets: the 1,218 Dutch
    questions of the sample and XQuAD-nl sum to 0.48 or more; 126 of our 127 English test
    questions to -1.98 or less.
    """
    from wordfreq import zipf_frequency

    words = re.findall(r"[^\W\d_]+", text.lower())
    if not words:
        return True
    # English from the small list (4 MB in memory instead of 30 for the full one); Dutch
    # from the full list the compound splitter has loaded (and cached) already.
    diff = sum(zipf(w) - zipf_frequency(w, "en", wordlist="small") for w in words)
    return diff >= -1.0


_WORD = re.compile(r"[^\W_][\w'’-]*")


def name_words(text: str) -> list[str]:
    """The words of ``text`` that read as names or figures, the same in any language
    ("Eredivisie", "Houten", "WMO", "2018"): words that hold a digit, or begin with a
    capital where a sentence does not begin."""
    out = []
    start = True
    for m in _WORD.finditer(text):
        w = m.group()
        if any(c.isdigit() for c in w) or (w[0].isupper() and not start):
            out.append(w)
        start = text[m.end() : m.end() + 2].lstrip(" ")[:1] in {".", "?", "!", ":"}
    return out


def unseen_idf(n: int) -> float:
    """The IDF a term gets that none of ``n`` passages contains."""
    return math.log(1 + n)


def idf_of(df: int, n: int) -> float:
    """The BM25 IDF (Robertson-Sparck Jones, as bm25s scores) of a term that ``df`` of
    ``n`` passages contain (:func:`unseen_idf` when none does)."""
    return unseen_idf(n) if df <= 0 else math.log(1 + (n - df + 0.5) / (df + 0.5))


def idf(index: Index, terms: list[str] | tuple[str, ...]) -> dict[str, float]:
    """The BM25 IDF of each term in ``index``."""
    n = max(1, len(index))
    return {t: idf_of(df, n) for t, df in index.document_frequencies(terms).items()}


@dataclass(frozen=True)
class Question:
    """A question as every step of the pipeline reads it.

    Attributes:
        text: the cleaned question (what was asked, after :func:`clean_question`).
        terms: its analysed terms (the index's analysis), in order.
        idf: the IDF of each of its terms in the index.
        vector: its embedding (as a query).
        passages: the number of passages of the index (the IDF's ``n``).
        cut: whether the question was cut to the maximum length.
        names: the analysed terms of each of its names and figures (:func:`name_words`).
    """

    text: str
    terms: tuple[str, ...]
    idf: Mapping[str, float]
    vector: np.ndarray = field(repr=False)
    passages: int
    cut: bool = False
    names: tuple[tuple[str, ...], ...] = ()

    @cached_property
    def dutch(self) -> bool:
        """Whether it reads as Dutch (:func:`looks_dutch`); the abstention model judges
        other questions on meaning alone."""
        return looks_dutch(self.text)

    @cached_property
    def has_words(self) -> bool:
        """Whether it holds a word at all: a question of only figures and signs ("5",
        "2018?") asks nothing that a sentence could answer."""
        return any(ch.isalpha() for ch in self.text)

    def with_terms(self, extra: list[str] | tuple[str, ...], index: Index) -> Question:
        """The question with ``extra`` analysed terms after its own (e.g. translations of
        its words, :mod:`.translate`), their IDF from ``index``."""
        new = tuple(t for t in dict.fromkeys(extra) if t not in self.idf)
        if not new:
            return self
        terms = self.terms + new
        return replace(self, terms=terms, idf={**self.idf, **idf(index, new)})

    @property
    def unseen_idf(self) -> float:
        """The IDF of a term that no passage contains."""
        return unseen_idf(max(1, self.passages))


def analyse(
    text: str, index: Index, encoder: Encoder, *, max_chars: int = 2000
) -> Question:
    """Clean, analyse and embed a question once.

    Raises:
        InputError: the question is empty.
    """
    q = clean_question(text, max_chars=max_chars)
    cut = len(q) < len(clean_question(text, max_chars=len(str(text))))
    terms = tuple(index.analyzer.terms(q))
    return Question(
        text=q,
        terms=terms,
        idf=idf(index, terms),
        vector=encoder.encode([q], is_query=True)[0],
        passages=len(index),
        cut=cut,
        names=tuple(
            t for t in dict.fromkeys(tuple(index.analyzer.terms(w)) for w in name_words(q)) if t
        ),
    )
