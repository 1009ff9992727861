"""The training sets that vraagbaak's fitting and calibration scripts share (never an
evaluation set): the SQuAD articles that ``training/reader/prepare.py`` holds out, and the
Dutch Debian FAQ (Debian's ``debian-faq-nl`` and ``debian-faq`` packages).

Used by ``bench/calibrate_abstention.py``, ``bench/fit_answer_weights.py``,
``bench/ablation.py`` and ``training/reader/calibrate.py``.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ROOT / "training" / "out" / "groups.jsonl"
FAQ = Path("/usr/share/doc/debian/FAQ")
MIN_ANSWER = 80  # characters: shorter FAQ sections are headings over their subsections
_FAQ_HEAD = re.compile(r"^(\d+(?:\.\d+)*)\.\s+(\S.*)$")

Asked = tuple[str, str, str, str | None]  # question, article, source, answer sentence


def missing(*, faq: bool = True) -> str | None:
    """What is missing to run a script on the training sets, with the command that makes
    it; None when nothing is."""
    if not GROUPS.exists():
        return f"{GROUPS} is missing: run python -m training.reader.prepare first."
    if faq and not (FAQ / "debian-faq.nl.txt.gz").exists():
        return "The Debian FAQ is missing: apt install debian-faq debian-faq-nl"
    return None


def heldout_groups(path: Path = GROUPS) -> list[dict]:
    """The groups (one per question) of the held-out SQuAD articles."""
    with path.open(encoding="utf-8") as fh:
        groups = [json.loads(line) for line in fh]
    return [g for g in groups if g["split"] == "heldout" and g["set"].startswith("squad")]


def write_docs(groups: list[dict], dest: Path) -> list[tuple[str, str, str, str | None]]:
    """One document per held-out SQuAD paragraph; (question, article, source, the sentence
    holding the answer or None when the question is unanswerable)."""
    dest.mkdir(parents=True, exist_ok=True)
    paras: dict[tuple[str, str], str] = {}
    out = []
    for g in groups:
        text = " ".join(g["sents"])
        key = (g["article"], text)
        if key not in paras:
            art = g["article"].split("/", 1)[1]
            name = f"{''.join(c if c.isalnum() else '_' for c in art)}_{len(paras):04d}.txt"
            (dest / name).write_text(f"{art.replace('_', ' ')}\n\n{text}", "utf-8")
            paras[key] = f"{dest.name}/{name}"
        gold = next((s for s, y in zip(g["sents"], g["labels"], strict=True) if y), None)
        out.append((g["q"], g["article"], paras[key], gold))
    return out


def sources_by_article(asked: list[Asked]) -> dict[str, list[str]]:
    """Every article's paragraph sources, in the order first asked."""
    by_article: dict[str, list[str]] = {}
    for _q, art, src, _ in asked:
        by_article.setdefault(art, [])
        if src not in by_article[art]:
            by_article[art].append(src)
    return by_article


def other_sources(by_article: dict[str, list[str]], article: str) -> list[str]:
    """The sources of every article but ``article``."""
    return [s for a, ss in by_article.items() if a != article for s in ss]


def sample_questions(
    asked: list[Asked], limit: int, seed: int = 13
) -> tuple[list[Asked], list[Asked]]:
    """``limit`` answerable questions and ``limit // 2`` unanswerable ones, drawn with a
    fixed seed."""
    rng = random.Random(seed)
    answerable = [x for x in asked if x[3] is not None]
    unanswerable = [x for x in asked if x[3] is None]
    return (
        rng.sample(answerable, min(limit, len(answerable))),
        rng.sample(unanswerable, min(limit // 2, len(unanswerable))),
    )


def faq_sections(path: Path) -> dict[str, tuple[str, str, str]]:
    """The Debian FAQ's sections from its plain-text edition: number -> (heading, answer
    text with its paragraphs, chapter title)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        text = fh.read().replace("\u00a0", " ")
    lines = text.splitlines()
    found: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    i = 0
    while i < len(lines):
        m = _FAQ_HEAD.match(lines[i])
        if m:  # a heading starts at the margin (the table of contents is indented)
            head = [m.group(2)]
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("    "):
                head.append(lines[i].strip())
                i += 1
            current = []
            found[m.group(1)] = (" ".join(head), current)
            continue
        if current is not None:
            current.append(lines[i])
        i += 1
    out = {}
    for num, (heading, body) in found.items():
        paras = re.split(r"\n\s*\n", "\n".join(body).strip())
        answer = "\n\n".join(" ".join(p.split()) for p in paras if p.strip())
        chapter = found.get(num.split(".")[0], ("", []))[0]
        out[num] = (heading, answer, chapter)
    return out


def faq_answers(path: Path) -> dict[str, tuple[str, str, str]]:
    """The sections of :func:`faq_sections` that are answers: numbered below a chapter,
    with at least ``MIN_ANSWER`` characters of text."""
    return {
        num: sec
        for num, sec in faq_sections(path).items()
        if "." in num and len(sec[1]) >= MIN_ANSWER
    }


def debian_faq(dest: Path) -> tuple[list[tuple[str, str, str, str]], dict[str, str]]:
    """The Dutch Debian FAQ (Debian's ``debian-faq-nl`` package) as one document per
    answer (``<chapter>\\n\\n<answer>``, the question left out), and its questions in
    Dutch and in English (``debian-faq``; the two editions share their numbering):
    (number, Dutch question, English question, source of the answer), and the source of
    every answer written, by section number."""
    en = faq_sections(FAQ / "debian-faq.en.txt.gz")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    sources = {}
    for num, (q_nl, answer, chapter) in faq_answers(FAQ / "debian-faq.nl.txt.gz").items():
        name = f"faq_{num.replace('.', '_')}.txt"
        f = dest / name
        text = f"{chapter}\n\n{answer}"
        if not f.exists() or f.read_text("utf-8") != text:
            f.write_text(text, "utf-8")
        sources[num] = f"{dest.name}/{name}"
        q_en = en.get(num, ("", "", ""))[0]
        if q_nl.endswith("?") and q_en.endswith("?"):
            out.append((num, q_nl, q_en, sources[num]))
    return out, sources


def related(a: str, b: str) -> bool:
    """Whether two FAQ section numbers are the same section or one holds the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")
