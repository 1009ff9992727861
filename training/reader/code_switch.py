"""Code-switching for the reader's English training pairs: some English words replaced by a
Dutch translation from a bilingual dictionary, so the model sees Dutch words in the
questions and sentences it learns to match (dictionary code-switching, as in Qin et al.
2020, "CoSDA-ML: Multi-Lingual Code-Switching Data Augmentation for Zero-Shot Cross-Lingual
NLP"; the base model is multilingual, the training data English).

The dictionary is FreeDict's English-Dutch and Dutch-English (Debian's
``dict-freedict-eng-nld`` and ``dict-freedict-nld-eng``, GPL-2+; read from the installed
files, nothing of it is shipped), and a short list of English function words with their
Dutch counterparts written here.

    apt install dict-freedict-eng-nld dict-freedict-nld-eng
"""

from __future__ import annotations

import random
import re

from vraagbaak.qa.translate import DICTD, installed

FUNCTION_WORDS = {
    "the": ["de", "het"], "a": ["een"], "an": ["een"], "of": ["van"], "and": ["en"],
    "in": ["in"], "on": ["op"], "at": ["bij", "op"], "to": ["naar", "tot"], "for": ["voor"],
    "with": ["met"], "from": ["uit", "van"], "by": ["door"], "is": ["is"], "was": ["was"],
    "are": ["zijn"], "were": ["waren"], "be": ["zijn"], "been": ["geweest"],
    "has": ["heeft"], "have": ["hebben"], "had": ["had"], "not": ["niet"], "or": ["of"],
    "but": ["maar"], "that": ["dat", "die"], "which": ["welke", "die"], "who": ["wie", "die"],
    "what": ["wat"], "when": ["wanneer", "toen"], "where": ["waar"], "why": ["waarom"],
    "how": ["hoe"], "many": ["veel"], "much": ["veel"], "did": ["deed"], "does": ["doet"],
    "do": ["doen"], "this": ["dit", "deze"], "these": ["deze"], "it": ["het"],
    "its": ["zijn"], "their": ["hun"], "his": ["zijn"], "her": ["haar"], "they": ["zij"],
    "he": ["hij"], "she": ["zij"], "as": ["als"], "after": ["na"], "before": ["voor"],
    "during": ["tijdens"], "than": ["dan"], "also": ["ook"], "year": ["jaar"],
    "years": ["jaren"], "first": ["eerste"], "city": ["stad"], "most": ["meeste"],
}

_WORD = re.compile(r"[A-Za-z]+")


def dictionary() -> dict[str, list[str]]:
    """English word (lower case) -> its Dutch translations of one or two plain words
    (:func:`vraagbaak.qa.translate.build`), and the function words above."""
    words = installed(DICTD)
    if words is None:
        raise SystemExit(
            "code-switching needs FreeDict's dictionaries: "
            "apt install dict-freedict-eng-nld dict-freedict-nld-eng"
        )
    out = {en: list(nls) for en, nls in words.to_dutch.items()}
    for en, nls in FUNCTION_WORDS.items():
        out[en] = list(nls)
    return out


def switch(text: str, words: dict[str, list[str]], rng: random.Random, rate: float) -> str:
    """``text`` with each word that ``words`` translates replaced, with probability
    ``rate``, by one of its translations (capitalised like the word)."""

    def one(m: re.Match[str]) -> str:
        w = m.group()
        options = words.get(w.lower())
        if not options or rng.random() >= rate:
            return w
        nl = rng.choice(options)
        return nl[:1].upper() + nl[1:] if w[:1].isupper() else nl

    return _WORD.sub(one, text)
