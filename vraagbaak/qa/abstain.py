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

# Used when no fitted model ships (a fresh checkout before calibration).
_FALLBACK = {"coef": [0.0, 12.0, 4.0, 2.0, 0.3], "intercept": -10.5, "threshold": DEFAULT_THRESHOLD}


@lru_cache(maxsize=1)
def model() -> dict[str, object]:
    try:
        data = resources.files("vraagbaak").joinpath("data/abstention.json").read_text("utf-8")
        return dict(json.loads(data))
    except (FileNotFoundError, ValueError, OSError):
        return dict(_FALLBACK)


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


def threshold(override: float | None = None) -> float:
    if override is not None:
        return float(override)
    return float(model().get("threshold", DEFAULT_THRESHOLD))  # type: ignore[arg-type]
