"""What kind of answer a question asks for, and whether a sentence can hold one.

A question that asks *how many* is not answered by a sentence without a number, and one
that asks *in which year* not by a sentence without a date, however many of the
question's words that sentence repeats. Classic extractive QA systems check the expected
answer type; vraagbaak checks the two kinds a sentence's words show reliably in Dutch and
English: a **number** (hoeveel, hoe groot/lang/oud…, welk percentage; how many, how much…)
and a **date** (in welk jaar, welke eeuw, op welke datum; what year, which century…).

``wanneer``/``when`` is left out on purpose: in Dutch it asks as often for a condition
("Wanneer heb ik recht op huurtoeslag?" — "Als uw inkomen …") as for a time, so a sentence
without a date may well answer it.

Pure functions over text; the weight of a mismatch in the answer's score is fitted on
training data (``bench/fit_answer_weights.py``). When the question asks for a kind in so
many words (:func:`explicit_kind`) and the chosen sentence still holds none, the pipeline
does not answer (``AnswerSettings.kind_gate``).
"""

from __future__ import annotations

import re
from typing import Literal

from ..index.analysis import fold

Kind = Literal["number", "date"]

# Asked anywhere in the question ("Tot hoeveel …", "De bouw begon in welk jaar?").
_NUMBER_Q = re.compile(
    r"\b(?:hoeveel|hoe\s+veel|hoeveelheid|welk(?:e)?\s+(?:aantal|percentage|bedrag|getal)"
    r"|hoe\s+(?:groot|lang|hoog|oud|ver|zwaar|breed|diep|snel|warm|koud|duur)"
    r"|how\s+(?:many|much|large|big|long|tall|high|old|far|heavy|wide|deep|fast|hot|cold)"
    r"|what\s+(?:percentage|percent|number|amount|proportion|fraction)"
    r"|which\s+(?:percentage|number|amount))\b"
)
# English "When did/was …" asks for a time or for a condition ("When does it become
# difficult to …?"), as Dutch "wanneer" does: a hint for the cheap score, not the
# explicit ask that :func:`explicit_kind` gates answers on.
_WHEN = r"^(?:since\s+|until\s+)?when\s+(?:did|was|were|is|are|does|do|will|has|have|had)\b"
_DATE_Q = re.compile(
    r"\b(?:welk(?:e)?\s+(?:jaar|jaartal|eeuw|decennium|datum|maand|dag|periode\s+van\s+het"
    r"\s+jaar)|in\s+welk(?:e)?\s+(?:jaar|eeuw|decennium|maand)|hoe\s+laat"
    r"|(?:what|which)\s+(?:year|century|decade|date|month|day\s+of)|what\s+time)\b"
    rf"|{_WHEN}"
)
_LOOSE_DATE_Q = re.compile(_WHEN)

_NUMBER_WORDS = (
    "twee|drie|vier|vijf|zes|zeven|acht|negen|tien|elf|twaalf|dertien|veertien|vijftien"
    "|zestien|zeventien|achttien|negentien|twintig|dertig|veertig|vijftig|zestig|zeventig"
    "|tachtig|negentig|honderd|duizend|miljoen|miljard|dozijn|half|halve|helft|tiental"
    "|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    "|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty"
    "|seventy|eighty|ninety|hundred|thousand|million|billion|dozen|dozens|quarter"
    "|kwart|derde|third|once|twice|eenmaal|tweemaal|driemaal|tientallen"
    # a vague count answers "hoeveel" too ("vele malen", "meerdere keren")
    "|vele|meerdere|talloze|verscheidene|ettelijke|many|several|numerous|multiple"
)
# A digit, "één", or a number word standing alone or inside a Dutch compound
# ("vijfentwintig", "tweehonderd", "honderden", "miljoenen").
_NUMBER_S = re.compile(
    rf"\d|\been\b(?=\s*(?:op\s+de|van\s+de|per)\b)|\b(?:{_NUMBER_WORDS})(?:s|en|ste|de|e)?\b"
    r"|\w*(?:twintig|dertig|veertig|vijftig|zestig|zeventig|tachtig|negentig|honderd"
    r"|duizend|miljoen|miljard)\w*"
    # "zesvoudig" (six-fold, not "eenvoudig": simple); "geen van de …" counts zero
    r"|\b(?:twee|drie|vier|vijf|zes|zeven|acht|negen|tien|honderd)voudige?\b"
    r"|\bgeen\s+van\b|\bnone\s+of\b"
)
_MONTHS = (
    "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november"
    "|december|january|february|march|may|june|july|august|october"
)
_DATE_S = re.compile(
    rf"\b(?:\d{{3,4}}s?|\d{{1,2}}(?:e|de|ste|th|st|nd|rd)?\s+(?:eeuw|century)|'\d\d"
    rf"|{_MONTHS}|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag|monday"
    r"|tuesday|wednesday|thursday|friday|saturday|sunday|eeuw|eeuwen|century|centuries"
    r"|decennium|decennia|decade|decades|jaren\s+\w+ig|jaartelling|v\.?\s?chr|n\.?\s?chr"
    r"|bc|bce)\b|\w+(?:tiende|tigste|ste)\s+eeuw"
)


def asked_kind(question: str) -> Kind | None:
    """The kind of answer ``question`` asks for: ``"number"``, ``"date"`` or ``None``."""
    q = fold(question)
    if _DATE_Q.search(q):
        return "date"
    if _NUMBER_Q.search(q):
        return "number"
    return None


def explicit_kind(question: str) -> Kind | None:
    """The kind ``question`` asks for in so many words ("hoeveel", "in welk jaar", "how
    many", "what year"): :func:`asked_kind` without English "When did/was …", which may
    ask for a condition. A sentence without such a kind does not answer the question."""
    q = fold(question)
    if _DATE_Q.search(_LOOSE_DATE_Q.sub("", q)):
        return "date"
    if _NUMBER_Q.search(q):
        return "number"
    return None


def holds_kind(text: str, kind: Kind) -> bool:
    """Whether ``text`` holds something of ``kind``: a number (digits, a number word) or a
    date (a year, a month or weekday, a century or decade)."""
    t = fold(text)
    if kind == "date":
        return _DATE_S.search(t) is not None
    return _NUMBER_S.search(t) is not None


def kind_mismatch(kind: Kind | None, text: str) -> float:
    """1.0 when the question asks for ``kind`` and ``text`` holds none, else 0.0."""
    return 0.0 if kind is None or holds_kind(text, kind) else 1.0
