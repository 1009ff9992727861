"""Deciding whether the sources answer a question.

A small logistic model turns the retrieval evidence (see :func:`.answer.features`) into a
confidence between 0 and 1. Its coefficients are fitted by ``bench/calibrate_abstention.py``
on questions whose answer is known to be in the index (positives) and the same questions
asked of documents without the answer: unrelated ones, and other paragraphs on the same
subject (negatives); they are stored in ``vraagbaak/data/abstention.json``.
vraagbaak abstains when the confidence is below the threshold (default 0.5; change it with
``--min-confidence`` or ``Settings.abstain_threshold``).

A question in another language than the sources (English over Dutch text) shares few
words with them, so its lexical evidence says nothing about whether they answer it, and
its similarities to the text run lower than a Dutch question's. Such questions are judged
by a second model on the dense (meaning) features only, fitted on English questions asked
of Dutch text.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

DEFAULT_THRESHOLD = 0.5

_RECALIBRATE = "Refit it: python bench/calibrate_abstention.py --write"


@lru_cache(maxsize=1)
def model() -> dict[str, object]:
    """The fitted model of ``data/abstention.json``, checked against the evidence
    :func:`.answer.features` computes (by name and number)."""
    from ..errors import VraagbaakError
    from .answer import FEATURES

    try:
        data = resources.files("vraagbaak").joinpath("data/abstention.json").read_text("utf-8")
        m = dict(json.loads(data))
    except (FileNotFoundError, OSError, ValueError) as e:
        raise VraagbaakError(
            f"The abstention model (vraagbaak/data/abstention.json) is missing or unreadable: {e}",
            hint=_RECALIBRATE,
        ) from e
    names = m.get("features")
    cross = m.get("cross_lingual")
    ok = (
        names == list(FEATURES)
        and len(m.get("coef", [])) == len(FEATURES)
        and (not isinstance(cross, dict) or 0 < len(cross.get("coef", [])) <= len(FEATURES))
    )
    if not ok:
        raise VraagbaakError(
            "The abstention model was fitted on other evidence than this vraagbaak computes "
            f"(it names {names}; expected {list(FEATURES)}).",
            hint=_RECALIBRATE,
        )
    return m


def confidence(features: np.ndarray, *, lexical: bool = True) -> float:
    """The probability that the sources answer the question.

    Args:
        features: the evidence of :func:`.answer.features`.
        lexical: whether words shared by question and text are evidence (False for a
            question in another language than the sources: the cross-lingual model, on
            the dense features only, decides).
    """
    m = model()
    cross = m.get("cross_lingual")
    if not lexical and isinstance(cross, dict):
        m = cross
    coef = np.asarray(m["coef"], dtype=np.float64)
    z = float(coef @ features[: len(coef)] + float(m["intercept"]))  # type: ignore[arg-type]
    return 1.0 / (1.0 + np.exp(-z))


def reader_confidence(evidence: dict[str, float], calibration: dict[str, object]) -> float:
    """The probability that the sources answer, from the reading model's verdict on the
    best candidate and the retrieval evidence, by the logistic model stored with the reader.

    Raises:
        EncoderError: the stored model names evidence that is not given (a reader and a
            vraagbaak that do not belong together).
    """
    if "features" not in calibration:
        from ..errors import EncoderError

        raise EncoderError(
            "The reading model has no abstention calibration.",
            hint="Calibrate it: python -m training.reader.calibrate --write",
        )
    names = [str(n) for n in calibration["features"]]  # type: ignore[attr-defined]
    missing = [n for n in names if n not in evidence]
    if missing:
        from ..errors import EncoderError

        raise EncoderError(
            f"The reading model's abstention calibration needs evidence this vraagbaak does "
            f"not compute: {', '.join(missing)}.",
            hint="Recalibrate it: python -m training.reader.calibrate --write",
        )
    x = np.array([evidence[n] for n in names], dtype=np.float64)
    coef = np.asarray(calibration["coef"], dtype=np.float64)
    z = float(coef @ x + float(calibration["intercept"]))  # type: ignore[arg-type]
    return 1.0 / (1.0 + np.exp(-z))


def threshold(override: float | None = None) -> float:
    if override is not None:
        return float(override)
    return float(model().get("threshold", DEFAULT_THRESHOLD))  # type: ignore[arg-type]
