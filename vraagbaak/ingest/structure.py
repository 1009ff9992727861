"""Find the structure of a plain or Markdown text: title, date, blocks and headings.

Everything works on offsets into the unchanged text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..types import Heading

_MONTHS = "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december"
_DATE = re.compile(rf"\b(\d{{1,2}})\s+({_MONTHS})\s+(\d{{4}})\b", re.IGNORECASE)
_DATE_LINE = re.compile(rf"^\s*datum\s*:\s*(\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}})", re.I | re.M)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")

_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?[ \t]+(\S.*)$")
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*?)[ \t#]*$")
_TOC_LINE = re.compile(r"(?:\t|\.{3,}|…+|\s{3,})\s*\d{1,4}\s*$")
_BULLET_LINE = re.compile(r"^\s*(?:[-–•*·▪◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")


@dataclass(frozen=True)
class Block:
    """A paragraph: text between blank lines.

    Attributes:
        start: offset of its first non-space character.
        end: offset just past its last non-space character.
        kind: ``para``, ``heading``, ``toc`` or ``table``.
        heading: the heading, when the block is one or begins with one.
    """

    start: int
    end: int
    kind: str
    heading: Heading | None = None


def detect_title(text: str) -> str:
    """The document's title: its first line that starts with a capital or a digit (a
    cover's tagline in lower case is skipped), stripped of Markdown marks, when that line
    looks like a title (a Markdown heading, or short without sentence punctuation at its
    end); else ``""``, and the file name serves. A first line that is a sentence stays
    text: on a page that opens with its answer it is the answer."""
    for line in text.splitlines()[:80]:
        s = line.strip().lstrip("#").strip().strip("*").strip()
        if not s:
            continue
        if s[0].isupper() or s[0].isdigit() or s[0] in "‘'\"“":
            if line.lstrip().startswith("#") or _is_title_line(line):
                return s[:200]
            return ""
    return ""


def detect_date(text: str, *, window: int = 3000) -> str | None:
    """A date the text states near its start: a ``Datum:`` line first, else the first
    full Dutch date ("7 juni 2018") or ISO date within ``window`` characters."""
    m = _DATE_LINE.search(text)
    if m:
        return m.group(1)
    head = text[:window]
    m2 = _DATE.search(head)
    if m2:
        return m2.group(0)
    m3 = _ISO_DATE.search(head)
    return m3.group(0) if m3 else None


def split_blocks(text: str) -> list[tuple[int, int]]:
    """Spans of paragraphs, separated by lines that are empty or only whitespace."""
    spans = []
    for m in re.finditer(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*", text):
        s, e = m.start(), m.end()
        # trim trailing whitespace on the last line
        while e > s and text[e - 1].isspace():
            e -= 1
        spans.append((s, e))
    return spans


def _is_title_line(line: str) -> bool:
    """A short line that reads as a title: capitalised, no sentence punctuation at the end."""
    s = line.strip().strip("*").strip()
    if not s or len(s) > 90 or len(s.split()) > 14:
        return False
    if not (s[0].isupper() or s[0].isdigit() or s[0] in "‘'\"“"):
        return False
    if s[-1] in ".,;:…" or s.endswith(("...”", '..."', "…”")) or "\t" in line:
        return False
    if sum(c.isalnum() for c in s) < 3 or ". " in s:
        return False
    if _DATE.fullmatch(s) or _ISO_DATE.fullmatch(s):
        return False
    return not _BULLET_LINE.match(line)


def _is_label_line(line: str) -> bool:
    """ "Datum: 8 mei 2018", "Bestellen: www…": a one-word label, not a title."""
    return bool(re.match(r"^\W*\w+:\s", line.strip()))


def heading_of_line(text: str, start: int, end: int, *, alone: bool) -> Heading | None:
    """The heading that the line ``text[start:end]`` is, if any.

    Args:
        alone: the line is a block by itself (then short title lines count); otherwise
            only numbered and Markdown headings do, or a title line above long prose.
    """
    line = text[start:end]
    m = _MD_HEADING.match(line)
    if m:
        return Heading(start, end, len(m.group(1)), m.group(2).strip())
    m = _NUMBERED.match(line)
    if m and _is_title_line(m.group(2)) and len(line) <= 100:
        level = m.group(1).count(".") + 1
        return Heading(start, end, level, line.strip())
    if alone and _is_title_line(line) and not _is_label_line(line):
        return Heading(start, end, 0, line.strip().strip("*").strip())
    return None


def _numbering(h: Heading) -> tuple[int, ...] | None:
    m = _NUMBERED.match(h.text)
    return tuple(int(x) for x in m.group(1).split(".")) if m and h.level > 0 else None


def _plausible_next(last: tuple[int, ...] | None, num: tuple[int, ...]) -> bool:
    """Numbered headings only move forward: "2.2" may follow "2.1" or "2", "3" may
    follow "2.3"; a footnote "2 Zie …" after "2.1" is no heading."""
    if last is None:
        return num[0] <= 3 and all(n <= 3 for n in num[1:])
    if num <= last:
        return False
    # the first component that changes may go up by one; deeper ones restart low
    for i, n in enumerate(num):
        prev = last[i] if i < len(last) else 0
        if n != prev:
            return n == prev + 1 and all(x <= 1 for x in num[i + 1 :])
    return True


def classify_blocks(text: str) -> list[Block]:
    """Split into blocks and tell headings, tables of contents and tables from prose."""
    blocks = _classify(text)
    # Drop numbered "headings" that break the numbering (footnotes, list items), and a
    # lone numbered line in a text without a numbered outline.
    last: tuple[int, ...] | None = None
    keep: list[bool] = []
    for b in blocks:
        num = _numbering(b.heading) if b.heading else None
        ok = num is None or _plausible_next(last, num)
        if num is not None and ok:
            last = num
        keep.append(ok)
    numbered = sum(
        1 for b, k in zip(blocks, keep, strict=True) if k and b.heading and _numbering(b.heading)
    )
    out = []
    for b, ok in zip(blocks, keep, strict=True):
        if b.heading and _numbering(b.heading) and (not ok or numbered < 2):
            b = Block(b.start, b.end, "para" if b.kind == "heading" else b.kind)
        out.append(b)
    return out


def _classify(text: str) -> list[Block]:
    blocks: list[Block] = []
    for s, e in split_blocks(text):
        body = text[s:e]
        lines = body.split("\n")
        nonblank = [ln for ln in lines if ln.strip()]
        if len(nonblank) >= 2 and sum(bool(_TOC_LINE.search(ln)) for ln in nonblank) >= max(
            2, 0.6 * len(nonblank)
        ):
            blocks.append(Block(s, e, "toc"))
            continue
        if len(nonblank) == 1:
            h = heading_of_line(text, s, e, alone=True)
            blocks.append(Block(s, e, "heading", h) if h else Block(s, e, "para"))
            continue
        first_end = s + len(lines[0])
        h = heading_of_line(text, s, first_end, alone=False)
        if (
            h is None
            and len(lines) >= 2
            and _is_title_line(lines[0])
            and not _is_label_line(lines[0])
            and len(lines[1]) > 120
        ):
            h = Heading(s, first_end, 0, lines[0].strip().strip("*").strip())
        if sum("\t" in ln for ln in nonblank) >= 0.6 * len(nonblank):
            blocks.append(Block(s, e, "table", h))
        else:
            blocks.append(Block(s, e, "para", h))
    return blocks


def breadcrumb(stack: list[Heading]) -> str | None:
    """The section path, outermost first."""
    return " › ".join(h.text for h in stack) if stack else None


def push_heading(stack: list[Heading], h: Heading) -> list[Heading]:
    """The heading stack after ``h``: numbered and Markdown headings nest by level; an
    unnumbered title line sits one level below the deepest numbered heading and replaces
    a previous unnumbered one."""
    if h.level > 0:
        return [x for x in stack if 0 < x.level < h.level] + [h]
    numbered = [x for x in stack if x.level > 0]
    return [*numbered, h]
