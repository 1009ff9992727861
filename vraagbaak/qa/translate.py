"""Word-by-word translation of an English question's words into Dutch, for the lexical
search over Dutch sources (dictionary-based cross-language retrieval).

An English question shares few words with Dutch text, so its BM25 ranking says little and
its answer candidates are chosen on meaning alone. When FreeDict's English-Dutch and
Dutch-English dictionaries are installed (Debian's ``dict-freedict-eng-nld`` and
``dict-freedict-nld-eng``, GPL-2+; read from the installed files, nothing of them ships
with vraagbaak), each of the question's content words adds up to
``RetrievalSettings.translations_per_word`` of its Dutch translations to the question's
terms, analysed as the index analyses Dutch ("cost" -> kosten, kostprijs, onkosten). A
word the dictionary lacks is looked up without a plural or verb ending ("members" ->
"member"). Without the dictionaries nothing changes.

    apt install dict-freedict-eng-nld dict-freedict-nld-eng

Decided on training data (the Debian FAQ's English questions over its Dutch answers,
``bench/ablation.py``'s file): see the README.
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DICTD = Path("/usr/share/dictd")
"""Where dictd dictionaries are installed (Debian)."""
ENGLISH_DUTCH = "freedict-eng-nld"
DUTCH_ENGLISH = "freedict-nld-eng"

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_PLAIN = re.compile(r"^[a-zà-ÿ]+(?: [a-zà-ÿ]+)?$")
_WORD = re.compile(r"[A-Za-z]+")
_ENDINGS = (
    ("ies", "y"), ("s", ""), ("es", ""), ("men", "man"), ("ing", ""), ("ing", "e"),
    ("ed", ""), ("ed", "e"), ("ly", ""), ("ation", "ate"), ("ations", "ate"),
)
"""Endings taken off a word the dictionary lacks, in this order ("themes" -> "theme"
before "them"; "aldermen" -> "alderman"; "cooperation" -> "cooperate")."""
_SPELLINGS = (
    ("isation", "ization"), ("isations", "izations"), ("ise", "ize"), ("ises", "izes"),
    ("ised", "ized"), ("ising", "izing"), ("yse", "yze"), ("ysed", "yzed"), ("our", "or"),
    ("ours", "ors"), ("tre", "ter"), ("tres", "ters"), ("ogue", "og"), ("ogues", "ogs"),
)
"""British spellings and the American ones the dictionary has ("organisation",
"characterise", "behaviour", "centre")."""
ENGLISH_FUNCTION_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few
    for from further get gets got had has have having he her here hers him his how i if in
    into is it its itself just many may me might more most much must my no nor not now of
    off on once only or other our ours out over own same shall she should so some such than
    that the their theirs them then there these they this those through to too under until
    up upon very was we were what when where which while who whom whose why will with would
    you your yours""".split()  # noqa: SIM905
)
"""English words not translated: they carry no subject (their Dutch counterparts are
stopwords of the Dutch analysis anyway, or worse, other words: "can" -> "blik")."""


def _b64(s: str) -> int:
    v = 0
    for ch in s:
        v = v * 64 + _B64.index(ch)
    return v


def read_dictd(folder: Path, name: str) -> list[tuple[str, list[str]]]:
    """A dictd dictionary's entries: (headword, translations), every sense's
    comma-separated list in order, NFKC-normalised (the ligature "ĳ" becomes "ij").

    Raises:
        OSError: its ``.index`` or ``.dict.dz`` file cannot be read.
    """
    text = gzip.decompress((folder / f"{name}.dict.dz").read_bytes())
    out = []
    for line in (folder / f"{name}.index").read_text("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00database"):
            continue
        head, off, length = parts
        body = text[_b64(off) : _b64(off) + _b64(length)].decode("utf-8", "replace")
        body = unicodedata.normalize("NFKC", body)
        senses = []
        for sense in body.splitlines()[1:]:
            sense = re.sub(r"^\d+\.\s*", "", sense.strip())
            senses += [t.strip() for t in sense.split(",") if t.strip()]
        out.append((unicodedata.normalize("NFKC", head).strip(), senses))
    return out


@dataclass(frozen=True)
class Dictionary:
    """English word (lower case) -> its Dutch translations of one or two plain words, in
    the dictionaries' order (the English-Dutch senses first)."""

    to_dutch: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.to_dutch)

    def translations(self, word: str) -> tuple[str, ...]:
        """The Dutch translations of an English word; a word the dictionary lacks is
        looked up in American spelling ("characterise" -> "characterize") and without a
        plural or verb ending ("members" -> "member", "aldermen" -> "alderman")."""
        w = word.lower()
        forms = [w] + [w[: -len(a)] + b for a, b in _SPELLINGS if w.endswith(a)]
        for f in forms:
            if f in self.to_dutch:
                return self.to_dutch[f]
        for f in forms:
            for ending, repl in _ENDINGS:
                stem = f[: -len(ending)] + repl
                if (
                    f.endswith(ending)
                    and len(f) - len(ending) >= 3
                    and stem not in ENGLISH_FUNCTION_WORDS  # "themes" is not "them"
                    and stem in self.to_dutch
                ):
                    return self.to_dutch[stem]
        return ()

    def dutch_words(self, text: str, per_word: int) -> list[str]:
        """The Dutch translations of the content words of English ``text``, up to
        ``per_word`` per word."""
        out: list[str] = []
        for m in _WORD.finditer(text):
            w = m.group().lower()
            if w not in ENGLISH_FUNCTION_WORDS:
                out += self.translations(w)[:per_word]
        return out


def build(
    english_dutch: list[tuple[str, list[str]]], dutch_english: list[tuple[str, list[str]]]
) -> Dictionary:
    """One English -> Dutch dictionary from both directions' entries."""
    out: dict[str, list[str]] = {}

    def add(en: str, nl: str) -> None:
        en, nl = en.lower(), nl.lower()
        if en.isalpha() and _PLAIN.match(nl) and nl != en:
            seen = out.setdefault(en, [])
            if nl not in seen:
                seen.append(nl)

    for head, senses in english_dutch:
        for nl in senses:
            add(head, nl)
    for head, senses in dutch_english:
        for en in senses:
            add(en, head)
    return Dictionary({en: tuple(nls) for en, nls in out.items()})


@lru_cache(maxsize=4)
def installed(folder: Path = DICTD) -> Dictionary | None:
    """FreeDict's English-Dutch dictionary from ``folder`` (both directions' files), or
    ``None`` when they are not installed or cannot be read (read once per folder)."""
    try:
        return build(read_dictd(folder, ENGLISH_DUTCH), read_dictd(folder, DUTCH_ENGLISH))
    except (OSError, ValueError, EOFError):
        return None
