"""OpenDocument text (``.odt``), the Dutch government's standard office format: a zip
with ``content.xml`` (the text) and ``meta.xml`` (title, author, dates), read with lxml.

Headings (``text:h`` with their outline level), paragraphs, lists (one item a line) and
tables (one row a line, each cell with its header) in document order; notes, tables of
contents and tracked deletions are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Document
from .extract import TextBuilder, document, open_zip, table_text

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
}
_SKIP = {"note", "table-of-content", "tracked-changes", "sequence-decls", "bibliography",
         "alphabetical-index", "illustration-index", "table-index", "user-index"}
_MAX_REPEAT = 64
"""Repeated empty cells and rows (``number-columns-repeated``) are expanded this far."""


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _local(el: Any) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _inline(el: Any) -> str:
    """The text of a paragraph or heading: spans, links, spaces (``text:s``), tabs and
    line breaks; notes left out."""
    out: list[str] = []

    def go(e: Any) -> None:
        if e.text:
            out.append(e.text)
        for c in e:
            name = _local(c)
            if name == "s":
                out.append(" " * min(int(c.get(_q("text", "c"), "1") or 1), 100))
            elif name in ("tab", "line-break"):
                out.append(" ")
            elif name not in _SKIP and name != "deletion":
                go(c)
            if c.tail:
                out.append(c.tail)

    go(el)
    return " ".join("".join(out).split())


def _parse(raw: bytes) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(raw, parser)


def read_odt(path: Path, data: bytes, source: str) -> Document:
    """Read an OpenDocument text file: headings, paragraphs, lists and tables.

    Raises:
        InputError: not a valid .odt, too large unpacked, or no text.
    """
    archive = open_zip(data, source, "OpenDocument .odt")
    try:
        root = _parse(archive.read("content.xml"))
    except KeyError:
        raise InputError(
            f"{source}: not a valid OpenDocument .odt file (no content.xml)."
        ) from None
    except Exception as e:  # damaged XML
        raise InputError(
            f"{source}: this OpenDocument file is damaged ({type(e).__name__}: {e})."
        ) from None
    body = root.find(f"{_q('office', 'body')}/{_q('office', 'text')}")
    if body is None:
        raise InputError(f"{source}: not an OpenDocument text file (a spreadsheet or slides?).")

    b = TextBuilder()
    title: str | None = None

    def list_items(lst: Any, depth: int) -> list[str]:
        items = []
        for item in lst:
            if _local(item) not in ("list-item", "list-header"):
                continue
            for c in item:
                name = _local(c)
                if name in ("p", "h"):
                    t = _inline(c)
                    if t:
                        items.append("  " * depth + f"- {t}")
                elif name == "list":
                    items.extend(list_items(c, depth + 1))
        return items

    def table(tbl: Any) -> str:
        rows: list[list[str]] = []
        header_rows = 0

        def add_rows(parent: Any, is_header: bool) -> None:
            nonlocal header_rows
            for row in parent:
                name = _local(row)
                if name == "table-header-rows":
                    add_rows(row, True)
                elif name in ("table-rows", "table-row-group"):
                    add_rows(row, is_header)
                elif name == "table-row":
                    cells: list[str] = []
                    for cell in row:
                        cname = _local(cell)
                        if cname not in ("table-cell", "covered-table-cell"):
                            continue
                        text = "" if cname == "covered-table-cell" else " ".join(
                            t for t in (
                                _inline(p) if _local(p) in ("p", "h") else table(p)
                                for p in cell if _local(p) in ("p", "h", "table")
                            ) if t
                        )
                        rep = int(cell.get(_q("table", "number-columns-repeated"), "1") or 1)
                        cells.extend([text] * min(max(rep, 1), _MAX_REPEAT if text else 1))
                    rep_rows = int(row.get(_q("table", "number-rows-repeated"), "1") or 1)
                    for _ in range(min(max(rep_rows, 1), _MAX_REPEAT if any(cells) else 1)):
                        rows.append(cells)
                        header_rows += is_header
        add_rows(tbl, False)
        return table_text(rows, header_rows=header_rows or None)

    def walk(parent: Any) -> None:
        nonlocal title
        for el in parent:
            name = _local(el)
            if name == "h":
                level = int(el.get(_q("text", "outline-level"), "1") or 1)
                b.block(_inline(el), heading_level=max(1, min(level, 9)))
            elif name == "p":
                text = _inline(el)
                style = (el.get(_q("text", "style-name")) or "").lower()
                if style in ("title", "titel") and text:
                    title = title or text
                b.block(text)
            elif name == "list":
                b.block("\n".join(list_items(el, 0)))
            elif name == "table":
                b.block(table(el))
            elif name in ("section", "index-body", "frame", "text-box", "change-start"):
                walk(el)
            elif name in _SKIP:
                continue
            elif name not in ("soft-page-break", "bookmark", "variable-decls"):
                walk(el)  # unknown containers: their paragraphs still count

    try:
        walk(body)
    except (ValueError, RecursionError) as e:
        raise InputError(
            f"{source}: this OpenDocument file is damaged ({type(e).__name__}: {e})."
        ) from None

    author = organisation = date = None
    meta_title = None
    try:
        meta = _parse(archive.read("meta.xml")).find(_q("office", "meta"))
    except Exception:  # meta.xml is optional
        meta = None
    if meta is not None:
        def get(prefix: str, name: str) -> str | None:
            el = meta.find(_q(prefix, name))
            return (el.text or "").strip() or None if el is not None else None

        meta_title = get("dc", "title")
        author = get("dc", "creator") or get("meta", "initial-creator")
        stamp = get("meta", "creation-date") or get("dc", "date")
        date = stamp[:10] if stamp and stamp[:4].isdigit() else None
        for field in meta.iter(_q("meta", "user-defined")):
            key = (field.get(_q("meta", "name")) or "").lower()
            if key in ("organisatie", "organisation", "organization", "company", "bedrijf"):
                organisation = (field.text or "").strip() or None
    if meta_title:
        title = meta_title
    elif title is None and b.headings:
        title = b.headings[0].text
    return document(
        source=source, data=data, text=b.text, kind="odt", title=title, headings=b.headings,
        author=author, organisation=organisation, date=date,
    )
