"""Split a document into passages that follow its structure.

Passages grow paragraph by paragraph within one section up to a target size; a heading
is attached to the passage beneath it; a list's lead-in ("…:") stays with its items;
paragraphs that are too long are split at sentence boundaries; tiny fragments are merged
with a neighbour; a table of contents is skipped. Every passage is an exact slice of the
document text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..settings import ChunkSettings
from ..types import Chunk, Document, Heading
from .sentences import split_sentences
from .structure import Block, breadcrumb, classify_blocks, push_heading

CHUNKER_VERSION = 3
"""Bump when splitting (or what the readers extract) changes, so existing indexes read
and split their sources again. 3: tables as rows with headers, OCR, safer furniture."""


@dataclass
class _Group:
    start: int
    end: int
    section: str | None
    units: list[tuple[int, int]]


def _split_long(
    text: str, start: int, end: int, target: int, hard_max: int
) -> list[tuple[int, int]]:
    """Pack the sentences of a long paragraph into pieces of about ``target`` characters."""
    pieces: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for s, e in _bounded_sentences(text, start, end, hard_max):
        if cur is None:
            cur = (s, e)
        elif e - cur[0] <= target:
            cur = (cur[0], e)
        else:
            pieces.append(cur)
            cur = (s, e)
    if cur is not None:
        pieces.append(cur)
    return pieces


def _bounded_sentences(text: str, start: int, end: int, hard_max: int) -> Iterator[tuple[int, int]]:
    """Sentences, with any sentence longer than ``hard_max`` cut at whitespace."""
    for s, e in split_sentences(text, start, end):
        while e - s > hard_max:
            cut = text.rfind(" ", s + hard_max // 2, s + hard_max)
            if cut <= s:
                cut = s + hard_max
            yield s, cut
            s = cut
            while s < e and text[s].isspace():
                s += 1
        if e > s:
            yield s, e


class _LineIndex:
    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


def _blocks_from_headings(doc: Document) -> list[Block]:
    """Blocks for a document whose reader already knows its headings (e.g. DOCX)."""
    blocks = classify_blocks(doc.text)
    by_start = {h.start: h for h in doc.headings}
    out = []
    for b in blocks:
        h = by_start.get(b.start)
        if h is not None:
            kind = "heading" if b.end <= h.end + 1 else b.kind
            out.append(Block(b.start, b.end, kind, h))
        elif b.kind == "heading":
            out.append(Block(b.start, b.end, "para"))
        else:
            out.append(Block(b.start, b.end, b.kind, None))
    return out


def chunk_document(
    doc: Document, settings: ChunkSettings | None = None, *, first_id: int = 0
) -> list[Chunk]:
    """Split ``doc`` into passages.

    Args:
        doc: the document.
        settings: passage sizes.
        first_id: id of the first chunk (ids run on from there).

    Returns:
        The chunks, in document order, each with ``doc.text[start:end] == text``.
    """
    cfg = settings or ChunkSettings()
    text = doc.text
    blocks = _blocks_from_headings(doc) if doc.headings else classify_blocks(text)

    groups: list[_Group] = []
    stack: list[Heading] = []
    section = None
    section_groups: list[_Group] = []
    heading_start: int | None = None  # a heading waiting for the passage beneath it

    def flush_section() -> None:
        nonlocal section_groups
        # merge a tiny last group into the one before it
        if len(section_groups) >= 2:
            last, prev = section_groups[-1], section_groups[-2]
            if last.end - last.start < cfg.min_chars and last.end - prev.start <= cfg.max_chars:
                prev.end = last.end
                prev.units.extend(last.units)
                section_groups.pop()
        groups.extend(section_groups)
        section_groups = []

    for block in blocks:
        if block.kind == "toc":
            continue
        if block.heading is not None:
            flush_section()
            stack = push_heading(stack, block.heading)
            section = breadcrumb(stack)
            heading_start = block.start
            if block.kind == "heading":
                continue
            body_start = block.heading.end
            while body_start < block.end and text[body_start].isspace():
                body_start += 1
            if body_start >= block.end:
                continue
            units = _units(text, body_start, block.end, cfg)
        else:
            units = _units(text, block.start, block.end, cfg)

        for u in units:
            cur = section_groups[-1] if section_groups else None
            if cur is not None and _fits(text, cur, u, cfg):
                cur.end = u[1]
                cur.units.append(u)
            else:
                start = u[0]
                if heading_start is not None and not section_groups:
                    start = heading_start
                section_groups.append(_Group(start, u[1], section, [u]))
        heading_start = None
    flush_section()

    lines = _LineIndex(text)
    chunks: list[Chunk] = []
    for g in groups:
        sents: list[tuple[int, int]] = []
        if g.start < g.units[0][0]:  # the attached heading is a sentence of its own
            sents.extend(split_sentences(text, g.start, g.units[0][0]))
        for us, ue in g.units:
            sents.extend(_bounded_sentences(text, us, ue, cfg.max_chars))
        chunks.append(
            Chunk(
                id=first_id + len(chunks),
                source=doc.source,
                title=doc.title,
                section=g.section,
                start=g.start,
                end=g.end,
                text=text[g.start : g.end],
                line=lines.line(g.start),
                page=doc.page_at(g.start),
                sentences=tuple(sents),
            )
        )
    return chunks


def _units(text: str, start: int, end: int, cfg: ChunkSettings) -> list[tuple[int, int]]:
    if end - start <= cfg.max_chars:
        return [(start, end)]
    return _split_long(text, start, end, cfg.target_chars, cfg.max_chars)


def _fits(text: str, group: _Group, unit: tuple[int, int], cfg: ChunkSettings) -> bool:
    """Whether ``unit`` joins the passage being built."""
    new_len = unit[1] - group.start
    if new_len > cfg.max_chars:
        return False
    if new_len <= cfg.target_chars:
        return True
    # Keep a lead-in with its list, and never leave a tiny fragment on its own.
    lead_in = text[group.end - 1] == ":"
    tiny = (group.end - group.start) < cfg.min_chars or (unit[1] - unit[0]) < cfg.min_chars // 2
    return lead_in or tiny
