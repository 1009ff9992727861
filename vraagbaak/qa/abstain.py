"""Deciding whether the sources answer a question.

A small logistic model turns the retrieval evidence (:class:`Evidence`, a named type; see
:func:`evidence`) into a confidence between 0 and 1. Its coefficients are fitted by
``bench/calibrate_abstention.py`` on training data only, never on an evaluation set:
held-out SQuAD articles (English) and the Dutch Debian FAQ, their questions asked of
indexes that hold the answer (positives) and of ones that do not: unrelated documents, and
other paragraphs or sections on the same subject (negatives). They are stored in
``vraagbaak/data/abstention.json``. vraagbaak abstains when the confidence is below the
threshold (default 0.5; change it with ``--min-confidence`` or
``Settings.abstain_threshold``).

A question in another language than the sources (English over Dutch text) shares few
words with them, so its lexical evidence says nothing about whether they answer it, and
its similarities to the text run lower than a Dutch question's. Such questions are judged
by a second model on the dense (meaning) features and on the share of the question's names
and figures that the answer's passage lacks (names are written alike in both languages:
"Which club won the Eredivisie in 2018?" finds a passage with "2018" but not
"Eredivisie"), shifted by the difference that the
Debian FAQ's Dutch and English editions show between a Dutch and an English question.

Each model in ``abstention.json`` names the evidence it weighs (``features``); the names
are checked against :class:`Evidence` when the file is loaded, and the confidence is
computed by name, so a model fitted on other evidence is refused with the command that
refits it instead of being applied to the wrong numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from ..errors import VraagbaakError
from ..index.reader import Index
from .answer import Candidate, lexical_coverage, rarest_missing
from .question import Question
from .search import Scores

DEFAULT_THRESHOLD = 0.5

_RECALIBRATE = "Refit it: python bench/calibrate_abstention.py --write"


@dataclass(frozen=True)
class Evidence:
    """What the abstention model weighs for one question and its best answer candidate.

    Attributes:
        top_passage_dense: the best passage's similarity in meaning (cosine).
        top_sentence_dense: the best sentence's similarity, among the candidates' sentences.
        answer_dense: the answer sentence's similarity (0 without a candidate).
        answer_lexical_coverage: the share of the question's IDF weight the answer contains.
        log1p_top_bm25: ``log(1 + best BM25 score)``.
        answer_passage_lexical_coverage: the same share for the answer's whole passage.
        answer_rarest_missing: the IDF of the rarest question term the answer lacks, as a
            share of an unseen term's (0: none missing; 1 without a candidate).
        answer_passage_rarest_missing: the same for the answer's passage.
        answer_passage_names_missing: the share of the question's names and figures
            (:func:`~vraagbaak.qa.question.name_words`) that the answer's passage lacks
            (0 when it names none; 1 without a candidate). Names are written alike in
            Dutch and English, so this is lexical evidence a question in another language
            than the sources still has.
    """

    top_passage_dense: float
    top_sentence_dense: float
    answer_dense: float
    answer_lexical_coverage: float
    log1p_top_bm25: float
    answer_passage_lexical_coverage: float
    answer_rarest_missing: float
    answer_passage_rarest_missing: float
    answer_passage_names_missing: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def values(self, names: list[str]) -> np.ndarray:
        """The named evidence, in the order given."""
        return np.array([getattr(self, n) for n in names], dtype=np.float64)


FEATURES = tuple(f.name for f in fields(Evidence))
"""The names of :class:`Evidence`, in order (the first three are the dense ones)."""


def evidence(index: Index, question: Question, scores: Scores, best: Candidate | None) -> Evidence:
    """The evidence for ``question`` with ``best`` as its answer.

    Besides how close the best passage, sentence and answer are in meaning and how much of
    the question's weight the answer contains, it looks at what the answer lacks: a
    question whose rarest word is missing from the answer and from its passage is often
    about the right subject but asks something the text does not say.
    """
    top_dense = float(scores.dense.max(initial=0.0))
    top_sent = float(scores.sentence.max(initial=0.0))
    top_bm25 = float(scores.lexical.max(initial=0.0))
    if best is None:
        return Evidence(top_dense, top_sent, 0.0, 0.0, math.log1p(top_bm25), 0.0, 1.0, 1.0, 1.0)
    qterms, idf = list(question.terms), dict(question.idf)
    n = max(1, question.passages)
    c = index.chunks[best.chunk_id]
    sentence = index.analyzer.term_set(c.text[best.start - c.start : best.end - c.start])
    passage = index.analyzer.term_set(c.text)
    return Evidence(
        top_passage_dense=top_dense,
        top_sentence_dense=top_sent,
        answer_dense=best.dense,
        answer_lexical_coverage=best.lexical,
        log1p_top_bm25=math.log1p(top_bm25),
        answer_passage_lexical_coverage=lexical_coverage(qterms, passage, idf),
        answer_rarest_missing=rarest_missing(qterms, sentence, idf, n),
        answer_passage_rarest_missing=rarest_missing(qterms, passage, idf, n),
        answer_passage_names_missing=names_missing(question.names, passage),
    )


def names_missing(names: tuple[tuple[str, ...], ...], terms: AbstractSet[str]) -> float:
    """The share of ``names`` (each the analysed terms of one name) not all of whose
    terms are in ``terms`` (0 when there are no names)."""
    if not names:
        return 0.0
    return sum(not set(n) <= terms for n in names) / len(names)


def _check_model(m: Any, what: str) -> None:
    """A model's named features are :class:`Evidence` fields, one coefficient each."""
    names = m.get("features") if isinstance(m, dict) else None
    ok = (
        isinstance(names, list)
        and names
        and all(n in FEATURES for n in names)
        and isinstance(m.get("coef"), list)
        and len(m["coef"]) == len(names)
        and isinstance(m.get("intercept"), int | float)
    )
    if not ok:
        raise VraagbaakError(
            f"The {what} was fitted on other evidence than this vraagbaak computes "
            f"(it names {names}; this vraagbaak computes {list(FEATURES)}).",
            hint=_RECALIBRATE,
        )


@lru_cache(maxsize=1)
def model() -> dict[str, Any]:
    """The fitted models of ``data/abstention.json``, each checked by the names of the
    evidence it weighs.

    Raises:
        VraagbaakError: the file is missing or unreadable, or a model names evidence that
            :class:`Evidence` does not hold (with the command that refits it).
    """
    try:
        data = resources.files("vraagbaak").joinpath("data/abstention.json").read_text("utf-8")
        m = dict(json.loads(data))
    except (FileNotFoundError, OSError, ValueError) as e:
        raise VraagbaakError(
            f"The abstention model (vraagbaak/data/abstention.json) is missing or unreadable: {e}",
            hint=_RECALIBRATE,
        ) from e
    _check_model(m, "abstention model")
    if m.get("cross_lingual") is not None:
        _check_model(m["cross_lingual"], "cross-lingual abstention model")
    return m


def _logistic(m: dict[str, Any], ev: Evidence) -> float:
    coef = np.asarray(m["coef"], dtype=np.float64)
    z = float(coef @ ev.values(m["features"]) + float(m["intercept"]))
    return float(1.0 / (1.0 + np.exp(-z)))


def confidence(ev: Evidence, *, lexical: bool = True) -> float:
    """The probability that the sources answer the question.

    Args:
        ev: the evidence of :func:`evidence`.
        lexical: whether words shared by question and text are evidence (False for a
            question in another language than the sources: the cross-lingual model, on
            the dense features and the names, decides).
    """
    m = model()
    cross = m.get("cross_lingual")
    return _logistic(cross if not lexical and cross is not None else m, ev)


def reader_confidence(
    ev: Evidence, logit: float, calibration: dict[str, Any], *, same_language: bool = True
) -> float:
    """The probability that the sources answer, from the reading model's verdict
    (``logit``) on the best candidate and the retrieval evidence, by the logistic model
    stored with the reader.

    A question in another language than the sources (``same_language`` False) gets the
    calibration's ``language_shift`` added to its evidence: the mean difference between
    the Debian FAQ's Dutch and English questions on the same Dutch answers, as for
    :func:`confidence`'s cross-lingual model.

    Raises:
        EncoderError: the stored model names evidence that is not given (a reader and a
            vraagbaak that do not belong together).
    """
    from ..errors import EncoderError

    if "features" not in calibration:
        raise EncoderError(
            "The reading model has no abstention calibration.",
            hint="Calibrate it: python -m training.reader.calibrate --write",
        )
    given = {**ev.to_dict(), "reader_logit": float(logit)}
    names = [str(n) for n in calibration["features"]]
    missing = [n for n in names if n not in given]
    if missing:
        raise EncoderError(
            f"The reading model's abstention calibration needs evidence this vraagbaak does "
            f"not compute: {', '.join(missing)}.",
            hint="Recalibrate it: python -m training.reader.calibrate --write",
        )
    x = np.array([given[n] for n in names], dtype=np.float64)
    shift = calibration.get("language_shift")
    if not same_language and shift is not None:
        if len(shift) != len(names):
            raise EncoderError(
                "The reading model's language shift does not match its features.",
                hint="Recalibrate it: python -m training.reader.calibrate --write",
            )
        x = x + np.asarray(shift, dtype=np.float64)
    coef = np.asarray(calibration["coef"], dtype=np.float64)
    z = float(coef @ x + float(calibration["intercept"]))
    return 1.0 / (1.0 + np.exp(-z))


def threshold(override: float | None = None) -> float:
    if override is not None:
        return float(override)
    return float(model().get("threshold", DEFAULT_THRESHOLD))
