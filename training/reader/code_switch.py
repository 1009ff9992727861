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

import gzip
import random
import re
import unicodedata
from pathlib import Path

DICTD = Path("/usr/share/dictd")
FILES = ("freedict-eng-nld", "freedict-nld-eng")

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

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_WORD = re.compile(r"[A-Za-z]+")
_PLAIN = re.compile(r"^[a-zà-ÿ]+(?: [a-zà-ÿ]+)?$")


def _b64(s: str) -> int:
    v = 0
    for ch in s:
        v = v * 64 + _B64.index(ch)
    return v


def _entries(name: str) -> list[tuple[str, list[str]]]:
    """A dictd dictionary's (headword, translations): every sense's comma-separated list."""
    text = gzip.decompress((DICTD / f"{name}.dict.dz").read_bytes())
    out = []
    for line in (DICTD / f"{name}.index").read_text("utf-8").splitlines():
        head, off, length = line.split("\t")
        if head.startswith("00database"):
            continue
        body = text[_b64(off) : _b64(off) + _b64(length)].decode("utf-8")
        body = unicodedata.normalize("NFKC", body)  # the ligature "ĳ" -> "ij"
        senses = []
        for sense in body.splitlines()[1:]:
            sense = re.sub(r"^\d+\.\s*", "", sense.strip())
            senses += [t.strip() for t in sense.split(",") if t.strip()]
        out.append((unicodedata.normalize("NFKC", head).strip(), senses))
    return out


def dictionary() -> dict[str, list[str]]:
    """English word (lower case) -> its Dutch translations of one or two plain words."""
    missing = [f for f in FILES if not (DICTD / f"{f}.index").exists()]
    if missing:
        raise SystemExit(
            "code-switching needs FreeDict's dictionaries: "
            "apt install dict-freedict-eng-nld dict-freedict-nld-eng"
        )
    out: dict[str, list[str]] = {}

    def add(en: str, nl: str) -> None:
        en, nl = en.lower(), nl.lower()
        if en.isalpha() and _PLAIN.match(nl) and nl != en:
            out.setdefault(en, [])
            if nl not in out[en]:
                out[en].append(nl)

    for head, senses in _entries("freedict-eng-nld"):
        for nl in senses:
            add(head, nl)
    for head, senses in _entries("freedict-nld-eng"):
        for en in senses:
            add(en, head)
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
