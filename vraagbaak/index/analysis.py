"""Dutch text analysis for the lexical (BM25) index.

The same :class:`Analyzer` turns passages and questions into terms: lower case, accents
folded ("enquête" meets "enquete"), Dutch stopwords and question words dropped, compounds
split into their parts using a real Dutch word-frequency list ("gemeenteraadsleden" also
yields "gemeenteraad", "raadsleden", "raad", "leden"), and a light or Snowball stemmer.
Which steps run is set in :class:`~vraagbaak.settings.AnalysisSettings`; the defaults were
chosen by measurement (see README, "Results").
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from itertools import chain
from typing import Any

from ..settings import AnalysisSettings

ANALYSIS_VERSION = 1
"""Bump when the analysis changes, so existing indexes re-analyse their passages."""

_TOKEN = re.compile(r"\w+(?:[.,]\d+)*%?", re.UNICODE)

# bm25s's Dutch list plus question words and a few function words it lacks.
_STOPWORDS = frozenset(
    """
    aan al alles als altijd andere ben bij daar dan dat de der deze die dit doch doen door
    dus een eens en er ge geen geweest haar had heb hebben heeft hem het hier hij hoe hun
    iemand iets ik in is ja je kan kon kunnen maar me meer men met mij mijn moet na naar niet
    niets nog nu of om omdat onder ons ook op over reeds te tegen toch toen tot u uit uw van
    veel voor want waren was wat werd wezen wie wil worden wordt zal ze zelf zich zij zijn zo
    zonder zou
    welk welke hoeveel waar wanneer waarom waardoor waarmee waarover waaraan waarin hoezo
    wij we jij jullie zij hen hun u uw onze ons dat deze dezelfde wel zeer werden worden
    geworden zouden kunnen kun mogen mocht moeten moest
    the a an of to in is are was were what which who whom how when where why does do did
    """.split()  # noqa: SIM905
)


class _Marks(dict[int, int | None]):
    """``str.translate``'s table that drops combining marks and keeps every other
    character, filled per code point the first time it is seen."""

    def __missing__(self, cp: int) -> int | None:
        kept = None if unicodedata.combining(chr(cp)) else cp
        self[cp] = kept
        return kept


_MARKS = _Marks()


def fold(text: str) -> str:
    """Lower case with accents removed (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    if decomposed.isascii():  # nothing to drop
        return decomposed
    return decomposed.translate(_MARKS)


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    """The word's Zipf frequency in Dutch, as ``wordfreq.zipf_frequency(word, "nl")``
    gives it. A lower-case ASCII word is one token to wordfreq, so its frequency is read
    from wordfreq's table directly and rounded as wordfreq rounds it (a fifth of an
    ingest's analysis went to wordfreq's tokenizer; checked identical in
    ``tests/test_analysis.py``); other words go through wordfreq."""
    if word.isascii() and word.isalpha() and word.islower():
        freq = max(_dutch_frequencies().get(word, 0.0), 1e-9)  # zipf_frequency's minimum
        freq = round(freq, math.floor(-math.log(freq, 10)) + 3)
        return round(math.log(freq, 10) + 9, 2)
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "nl"))


@lru_cache(maxsize=1)
def _dutch_frequencies() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict("nl", "best")


_LINKING = ("s", "en", "e")


def _known(part: str, min_zipf: float) -> bool:
    return len(part) >= 4 and zipf(part) >= min_zipf


@lru_cache(maxsize=200_000)
def decompound(word: str, min_zipf: float = 3.0, min_len: int = 8) -> tuple[str, ...]:
    """The parts of a Dutch compound, by a word-frequency list.

    Every split into a known modifier (optionally with a linking "s", "e" or "en") and a
    known head is kept, and long heads are split again. Returns ``()`` when ``word`` is
    not a compound of known words.

    >>> "raadsleden" in decompound("gemeenteraadsleden")
    True
    """
    if len(word) < min_len or not word.isalpha():
        return ()
    parts: list[str] = []
    for i in range(3, len(word) - 3):
        left, right = word[:i], word[i:]
        if not (_known(right, min_zipf) or _known(light_stem(right), min_zipf)):
            continue
        lefts = [left] + [
            left[: -len(s)] for s in _LINKING if left.endswith(s) and len(left) > len(s) + 2
        ]
        for cand in lefts:
            if _known(cand, min_zipf):
                parts.extend([cand, right])
                parts.extend(decompound(right, min_zipf, min_len))
                break
    seen: dict[str, None] = {}
    for p in parts:
        if p != word:
            seen.setdefault(p, None)
    return tuple(seen)


_VOWELS = set("aeiouy")


@lru_cache(maxsize=200_000)
def light_stem(word: str) -> str:
    """A light Dutch suffix stripper: plural and inflection endings only.

    "gemeenten" and "gemeente" -> "gemeent"; "regels" -> "regel"; "wethouders" ->
    "wethouder"; "zakken" -> "zak". Short words and numbers are left alone.
    """
    if len(word) <= 4 or not word.isalpha():
        return word
    w = word
    if w.endswith("'s") or (w.endswith("en") and len(w) > 5):
        w = w[:-2]
    elif (w.endswith("s") and not w.endswith("ss") and w[-2] not in _VOWELS - {"e"}) or (
        w.endswith("e") and not w.endswith("ee")
    ):
        w = w[:-1]
    # undouble a final consonant (zakk -> zak)
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in _VOWELS:
        w = w[:-1]
    return w


TERM_SETS = 8192
"""How many texts' term sets an :class:`Analyzer` remembers (a few MB)."""


class Analyzer:
    """Turns text into BM25 terms; the same for passages and questions."""

    def __init__(self, settings: AnalysisSettings | None = None) -> None:
        self.settings = settings or AnalysisSettings()
        self._snowball: Any = None
        self._token_terms = lru_cache(maxsize=200_000)(self._terms_of)
        self._term_sets = lru_cache(maxsize=TERM_SETS)(self._term_set_of)

    def _stem(self, word: str) -> str:
        mode = self.settings.stemmer
        if mode == "light":
            return light_stem(word)
        if mode == "snowball":
            if self._snowball is None:
                import Stemmer

                self._snowball = Stemmer.Stemmer("dutch")
            return str(self._snowball.stemWord(word))
        return word

    def _terms_of(self, tok: str) -> tuple[str, ...]:
        """The terms of one token (none for a stopword; its compound parts follow it)."""
        s = self.settings
        tok = tok.replace("_", "")
        if not tok or (s.stopwords and tok in _STOPWORDS):
            return ()
        if not s.compounds:
            return (self._stem(tok),)
        return (self._stem(tok), *(self._stem(p) for p in decompound(tok) if p not in _STOPWORDS))

    def terms(self, text: str) -> list[str]:
        """The terms of ``text``, in order (compound parts follow their word)."""
        low = fold(text) if self.settings.fold_accents else text.lower()
        # each token's terms are worked out once
        return list(chain.from_iterable(map(self._token_terms, _TOKEN.findall(low))))

    def term_set(self, text: str) -> frozenset[str]:
        """The distinct terms of ``text``: what the answer step compares a question's terms
        with, for every candidate sentence and the answer's passage. The last
        ``TERM_SETS`` texts are remembered, since the same passages come back for the
        questions asked of one collection."""
        return self._term_sets(text)

    def _term_set_of(self, text: str) -> frozenset[str]:
        return frozenset(self.terms(text))
