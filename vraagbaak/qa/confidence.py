"""How sure an answer is, in words a reader can act on, and numbers in Dutch notation.

Three verdicts: ``sure`` (answered with a confidence at or above the *onzeker* band),
``uncertain`` (answered, but below ``Settings.uncertain_below``: check it in the source)
and ``abstained`` (the sources do not answer). The CLI and the web app show these words
instead of raw scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..errors import InputError

Verdict = Literal["sure", "uncertain", "abstained"]


@dataclass(frozen=True)
class Judgement:
    """A verdict with its Dutch label and a short explanation.

    Attributes:
        verdict: ``sure``, ``uncertain`` or ``abstained``.
        label: the word shown (``zeker``, ``onzeker``, ``geen antwoord``).
        explanation: one sentence that says what to do with it.
        confidence: the confidence, 0..1.
    """

    verdict: Verdict
    label: str
    explanation: str
    confidence: float


def judge(confidence: float, *, abstained: bool, uncertain_below: float) -> Judgement:
    """The verdict on an answer given with ``confidence`` (see the module docstring)."""
    pct = format_nl(confidence)
    if abstained:
        return Judgement(
            "abstained", "geen antwoord",
            f"Geen passage beantwoordt de vraag met genoeg zekerheid ({pct}).", confidence,
        )
    if confidence < uncertain_below:
        return Judgement(
            "uncertain", "onzeker",
            f"Zekerheid {pct}: dit antwoord kan naast de vraag liggen. "
            "Lees het na in de bron voordat u het gebruikt.",
            confidence,
        )
    return Judgement("sure", "zeker", f"Zekerheid {pct}.", confidence)


def format_nl(x: float, decimals: int = 2) -> str:
    """A number in Dutch notation: decimal comma, dots between thousands (0,97; 1.234,5)."""
    s = f"{x:,.{decimals}f}"
    return s.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def parse_confidence(text: str | float | None) -> float | None:
    """A confidence typed by a person: empty means the standard threshold (None); a comma
    or a point as decimal mark ("0,7", "0.7"); must lie in 0..1.

    Raises:
        InputError: not a number, or outside 0..1.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise InputError(
            f"Minimale zekerheid moet een getal tussen 0 en 1 zijn, zoals 0,7 (nu: {raw!r})."
        ) from None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(
            f"Minimale zekerheid moet tussen 0 en 1 liggen, zoals 0,7 (nu: {raw}). "
            "Leeg laten = de standaarddrempel."
        )
    return value
