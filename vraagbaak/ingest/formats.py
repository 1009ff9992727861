"""Readers for formats whose text must be extracted: PDF, Word (.docx), OpenDocument
(.odt, in :mod:`.odf`), HTML and e-mail (.eml, in :mod:`.mail`).

Each reader returns a :class:`~vraagbaak.types.Document` whose ``text`` is the extracted
(and repaired) text; the index stores that text, so every citation stays an exact slice
``stored_text[start:end]``. Heavy libraries (pypdf, python-docx, trafilatura) are imported
inside the readers. Where the format records them, the author, organisation and date are
kept.

* PDF: text page by page (``Document.pages`` holds the start offset of each page); lines
  are joined into paragraphs, words hyphenated across lines and pages are repaired, page
  numbers and running headers/footers (short, repeated, at the page edge) are dropped,
  headings are found from font size and weight. Pages without a text layer are read by
  OCR (:mod:`.ocr`) when it is installed.
* DOCX: paragraphs in document order, headings from heading styles (``Heading 1``,
  ``Kop 1`` …) with exact offsets, list items one per line, tables one row per line with
  each cell's header (:func:`~vraagbaak.ingest.extract.table_text`).
* HTML: the main text without menus, headers and footers (trafilatura), headings from
  ``<h1>``–``<h6>``, lists and tables as above, the page's title. Pages too large for
  main-text detection, or where it finds (almost) nothing, are read whole by a streaming
  parser (:mod:`.htmltext`), with a notice.

Every reader turns a damaged, encrypted or empty file into an :class:`InputError` with
one clear message. Zip-based files are opened with bounded unpacked sizes.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import math
import re
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Document, Heading
from .extract import EmptyExtractionError, TextBuilder, document, open_zip, quiet, table_text
from .mail import read_eml
from .odf import read_odt

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"[.!?:;…][\"'”’)]*$")
_BULLET = re.compile(r"^(?:[-–•*·▪◦●]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–]\s*)?(?:p(?:agina|age)?\.?\s*)?\d{1,4}(?:\s*(?:/|van|of)\s*\d{1,4})?(?:\s*[-–])?\s*$",
    re.IGNORECASE,
)
_TOC_LEADER = re.compile(r"(?:\.\s?){4,}\s*\w{0,6}\s*$|…+\s*\d{1,4}\s*$")
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+\S")
# after a line-end hyphen, these words mean the hyphen belongs ("Jeugd- en Gezinsteam")
_KEEP_HYPHEN_BEFORE = frozenset({"en", "of", "tot", "noch", "als", "and", "or"})

__all__ = [
    "READERS", "EmptyExtractionError", "read_docx", "read_eml", "read_html", "read_odt",
    "read_pdf",
]


# -- PDF ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One line of a PDF page, with what the page's drawing says about it."""

    text: str
    page: int
    y: float | None = None
    size: float | None = None
    bold: bool = False


def _mult(m: Sequence[float], n: Sequence[float]) -> tuple[float, ...]:
    return (
        m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5],
    )


def _page_lines(page: Any, number: int) -> list[_Line]:
    """The page's lines as pypdf extracts them, each with its position, font size and
    weight when pypdf's drawing callbacks account for every character."""
    frags: list[tuple[str, float, float, bool]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if not text:
            return
        try:
            m = _mult(tm, cm)
            eff = abs(size) * math.hypot(m[2], m[3])
            name = str(font.get("/BaseFont", "")) if font else ""
        except (TypeError, ValueError, AttributeError):
            m, eff, name = (0.0,) * 6, 0.0, ""
        bold = any(w in name.lower() for w in ("bold", "black", "heavy", "semibold"))
        frags.append((text, float(m[5]), float(eff), bold))

    text = page.extract_text(visitor_text=visit) or ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "".join(f[0] for f in frags).replace("\r", "\n") != text:
        return [_Line(t.strip(), number) for t in text.split("\n") if t.strip()]

    lines: list[_Line] = []
    cur: list[str] = []
    meta: list[tuple[float, float, bool]] = []  # per non-space character

    def end_line() -> None:
        t = "".join(cur).strip()
        if t:
            y = meta[0][0] if meta else None
            size = max(m[1] for m in meta) if meta else None
            bold = bool(meta) and all(m[2] for m in meta)
            lines.append(_Line(t, number, y, size or None, bold))
        cur.clear()
        meta.clear()

    for ftext, y, size, bold in frags:
        for ch in ftext.replace("\r", "\n"):
            if ch == "\n":
                end_line()
                continue
            cur.append(ch)
            if not ch.isspace():
                meta.append((y, size, bold))
    end_line()
    return lines


_FURNITURE_MAX_CHARS = 100
"""A running header or footer is short: a longer repeated line is body text."""
_FURNITURE_MAX_SHARE = 0.3
"""If repeated edge lines would take more than this share of a document's text, they are
its body (pages made from one template), not headers and footers, and are kept."""
_EDGE = 0.15
"""The top and bottom share of a page's height where headers and footers are printed."""


def _strip_furniture(
    pages: list[list[_Line]], heights: Sequence[float | None] = ()
) -> tuple[list[list[_Line]], list[int]]:
    """Drop page numbers and running headers/footers: short lines at the top or bottom
    edge of a page that repeat (numbers aside) on most pages. It never removes the body:
    a repeated line that is long, or lies inside the page, stays, and so does everything
    when the repeated lines would be a large part of the text (a template).

    Returns:
        The pages' lines, and the numbers of pages that had text and lost all of it.
    """
    out = []
    for lines in pages:
        lines = list(lines)
        for _ in range(2):
            if lines and _PAGE_NUMBER.match(lines[-1].text):
                lines.pop()
            if lines and _PAGE_NUMBER.match(lines[0].text):
                lines.pop(0)
        out.append(lines)
    if len(out) >= 3:
        def key(line: _Line) -> str:
            return re.sub(r"\d+", "#", line.text.lower())

        def at_edge(line: _Line) -> bool:
            h = heights[line.page - 1] if line.page - 1 < len(heights) else None
            if line.y is None or not h:
                return True  # first or last line, position unknown
            return line.y >= (1 - _EDGE) * h or line.y <= _EDGE * h

        def edges(lines: list[_Line]) -> tuple[list[_Line], list[_Line]]:
            head = [x for x in lines[:2] if len(x.text) <= _FURNITURE_MAX_CHARS and at_edge(x)]
            tail = [x for x in lines[-2:] if len(x.text) <= _FURNITURE_MAX_CHARS and at_edge(x)]
            return head, tail

        counts: dict[str, int] = {}
        for lines in out:
            head, tail = edges(lines)
            for k in {key(x) for x in head + tail}:
                counts[k] = counts.get(k, 0) + 1
        repeated = {k for k, n in counts.items() if n >= max(3, 0.6 * len(out))}
        drops: list[tuple[int, int]] = []  # per page: lines to drop at the top, at the end
        for lines in out:
            top = 0
            while top < min(2, len(lines)) and key(lines[top]) in repeated and (
                len(lines[top].text) <= _FURNITURE_MAX_CHARS and at_edge(lines[top])
            ):
                top += 1
            end = 0
            while end < min(2, len(lines) - top) and key(lines[-1 - end]) in repeated and (
                len(lines[-1 - end].text) <= _FURNITURE_MAX_CHARS and at_edge(lines[-1 - end])
            ):
                end += 1
            drops.append((top, end))
        total = sum(len(x.text) for lines in out for x in lines)
        removed = sum(
            len(x.text) for lines, (top, end) in zip(out, drops, strict=True)
            for x in lines[:top] + lines[len(lines) - end :]
        )
        if repeated and removed <= _FURNITURE_MAX_SHARE * total:
            out = [
                lines[top : len(lines) - end]
                for lines, (top, end) in zip(out, drops, strict=True)
            ]
    emptied = [i + 1 for i, (a, b) in enumerate(zip(pages, out, strict=True)) if a and not b]
    return out, emptied


def _body_size(lines: Sequence[_Line]) -> float | None:
    weights: dict[float, int] = {}
    for line in lines:
        if line.size:
            s = round(line.size, 1)
            weights[s] = weights.get(s, 0) + len(line.text)
    return max(weights, key=lambda s: weights[s]) if weights else None


def _heading_levels(lines: Sequence[_Line], body: float | None) -> dict[int, int]:
    """Which lines (by index) are headings, and their level: larger type is a higher
    level; bold lines at body size come last; "2.1 …" numbering decides where present."""
    if body is None:
        return {}
    body_bold = sum(len(x.text) for x in lines if x.bold and x.size and round(x.size, 1) == body)
    body_all = sum(len(x.text) for x in lines if x.size and round(x.size, 1) == body) or 1
    bold_is_heading = body_bold / body_all < 0.3

    def candidate(line: _Line) -> float | None:
        if not line.size or len(line.text) > 160 or not any(c.isalpha() for c in line.text):
            return None
        if _TOC_LEADER.search(line.text):  # a table-of-contents entry, not a heading
            return None
        if line.size >= body * 1.12:
            return round(line.size, 1)
        if bold_is_heading and line.bold and len(line.text) <= 100 and not line.text.endswith(
            (".", ",", ";")
        ):
            return body
        return None

    sizes = {i: s for i, line in enumerate(lines) if (s := candidate(line)) is not None}
    ranks = {s: r + 1 for r, s in enumerate(sorted(set(sizes.values()), reverse=True))}
    levels = {}
    for i, s in sizes.items():
        m = _NUMBERED_HEADING.match(lines[i].text)
        levels[i] = min(m.group(1).count(".") + 1, 6) if m else min(ranks[s], 6)
    return levels


def _join(prev: str, nxt: str) -> tuple[str, int]:
    """How ``nxt`` continues the paragraph ending in ``prev``: the text to append and how
    many characters to remove from the end of what was written (a repaired hyphen)."""
    if re.search(r"[^\W\d_]-$", prev) and len(prev) >= 2 and prev[-2].isalpha():
        first = nxt.split(maxsplit=1)[0] if nxt.split() else ""
        if nxt[:1].islower() and first.strip(".,;:").lower() not in _KEEP_HYPHEN_BEFORE:
            # a word broken at the line end: "afge-" + "broken" -> "afgebroken"
            single = len(prev) < 3 or not prev[-3].isalpha()  # "e-" + "mail" keeps it
            return (nxt, 0) if single else (nxt, 1)
        if nxt[:1].isupper() or nxt[:1].isdigit():
            return nxt, 0  # "Noord-" + "Holland" -> "Noord-Holland"
        return " " + nxt, 0  # "Jeugd-" + "en …" -> "Jeugd- en …"
    if _BULLET.match(nxt):
        return "\n" + nxt, 0
    return " " + nxt, 0


def _continues(prev: _Line, nxt: _Line) -> bool:
    """Whether a page's first line continues the paragraph ending the page before."""
    if re.search(r"[^\W\d_]-$", prev.text):
        return True
    return not _SENTENCE_END.search(prev.text) and nxt.text[:1].islower()


def _assemble_pdf(pages: list[list[_Line]]) -> tuple[str, list[int], list[Heading]]:
    """Join lines into paragraphs; return the text, page start offsets and headings."""
    all_lines = [line for lines in pages for line in lines]
    body = _body_size(all_lines)
    levels = _heading_levels(all_lines, body)
    gaps = [
        a.y - b.y for a, b in itertools.pairwise(all_lines)
        if a.page == b.page and a.y is not None and b.y is not None and a.y > b.y
        and a.size and b.size and body and abs(a.size - body) < 0.5 and abs(b.size - body) < 0.5
    ]
    line_gap = statistics.median(gaps) if gaps else None
    widths = [len(x.text) for x in all_lines]
    full = statistics.quantiles(widths, n=10)[-1] if len(widths) >= 10 else max(widths, default=0)

    out: list[str] = []
    length = 0
    page_starts: list[int] = []
    headings: list[Heading] = []
    para_start = 0
    para_level: int | None = None
    prev: _Line | None = None

    def write(s: str) -> None:
        nonlocal length
        out.append(s)
        length += len(s)

    def unwrite(n: int) -> None:
        nonlocal length
        if n:
            out[-1] = out[-1][:-n]
            length -= n

    def close_para() -> None:
        if para_level is not None and prev is not None:
            text = "".join(out)[para_start:length]
            headings.append(Heading(para_start, length, para_level, text))

    page_no = 0
    for i, line in enumerate(all_lines):
        while page_no < line.page:  # this line opens one or more new pages
            page_no += 1
            page_starts.append(-1)
        level = levels.get(i)
        new_page = prev is not None and line.page != prev.page
        if prev is None:
            brk = True
        elif new_page:
            brk = level is not None or para_level is not None or not _continues(prev, line)
        elif level is not None or para_level is not None:
            # a heading is a paragraph of its own; a heading running over two lines
            # (same size, close together) stays one
            brk = not (
                level is not None and para_level == level and prev.size == line.size
                and (line_gap is None or prev.y is None or line.y is None
                     or prev.y - line.y <= 1.6 * line_gap * (line.size or 1) / (body or 1))
            )
        elif re.search(r"[^\W\d_]-$", prev.text) and line.text[:1].isalpha():
            brk = False
        elif line_gap and prev.y is not None and line.y is not None:
            gap = prev.y - line.y
            brk = gap < 0 or gap > 1.35 * line_gap
        else:
            brk = False
        if not brk and prev is not None and not new_page and level is None and (
            _SENTENCE_END.search(prev.text) and len(prev.text) < 0.6 * full
        ):
            brk = True  # a short last line of a paragraph
        if brk:
            close_para()
            if out:
                write("\n\n")
            para_start = length
            para_level = level
            if page_starts and page_starts[-1] == -1:
                page_starts[-1] = length
            write(line.text)
        else:
            add, drop = _join(prev.text if prev else "", line.text)
            unwrite(drop)
            if page_starts and page_starts[-1] == -1:
                lead = len(add) - len(add.lstrip(" \n"))
                if not lead and prev is not None and prev.text.endswith("-"):
                    # a word completed across the page break belongs to the page it began on
                    word = re.match(r"\S*\s*", add)
                    lead = word.end() if word else 0
                page_starts[-1] = length + lead
            write(add)
        prev = line
    close_para()
    while page_no < len(pages):
        page_no += 1
        page_starts.append(-1)
    text = "".join(out)
    fixed: list[int] = []
    for s in page_starts:  # empty pages start where the next text starts
        fixed.append(min(s if s >= 0 else len(text), len(text)))
    for k in range(len(fixed) - 2, -1, -1):
        if page_starts[k] < 0:
            fixed[k] = fixed[k + 1]
    return text, fixed, headings


def _pdf_title(meta: Any, headings: Sequence[Heading], pages: Sequence[int]) -> str | None:
    raw = ""
    with contextlib.suppress(Exception):
        raw = str((meta or {}).get("/Title") or "").strip()
    junk = ("untitled", "microsoft word", "document", "naamloos", "titel")
    if raw and not raw.lower().startswith(junk) and not raw.lower().endswith(
        (".doc", ".docx", ".pdf", ".indd")
    ):
        return raw
    first_page_end = pages[1] if len(pages) > 1 else math.inf
    on_first = [h for h in headings if h.start < first_page_end]
    if on_first:
        return min(on_first, key=lambda h: (h.level, h.start)).text
    return None


def read_pdf(path: Path, data: bytes, source: str) -> Document:
    """Read a PDF: its text layer, page by page, repaired into paragraphs.

    Raises:
        InputError: the PDF is damaged, password-protected or has no text layer.
    """
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    notices: list[str] = []
    with quiet("pypdf"):
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                try:
                    ok = reader.decrypt("")
                except (DependencyError, NotImplementedError) as e:
                    raise InputError(
                        f"{source}: this PDF is encrypted in a way vraagbaak cannot open ({e}).",
                        hint="Save an unencrypted copy and ingest that.",
                    ) from None
                if not ok:
                    raise InputError(
                        f"{source}: this PDF is password-protected.",
                        hint="Save a copy without a password and ingest that.",
                    )
                notices.append(f"{source}: encrypted PDF opened (no password needed).")
            pages = []
            heights: list[float | None] = []
            failed = []
            for number, page in enumerate(reader.pages, start=1):
                try:
                    pages.append(_page_lines(page, number))
                except Exception:  # one broken page must not lose the others
                    failed.append(number)
                    pages.append([])
                try:
                    heights.append(float(page.mediabox.top))
                except Exception:
                    heights.append(None)
            meta = reader.metadata
        except InputError:
            raise
        except FileNotDecryptedError:
            raise InputError(f"{source}: this PDF is password-protected.") from None
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                OSError, RecursionError, AssertionError, ZeroDivisionError) as e:
            raise InputError(
                f"{source}: this PDF is damaged and cannot be read ({type(e).__name__}: {e})."
            ) from None
    if not pages:
        raise EmptyExtractionError(f"{source}: this PDF has no pages.")
    if failed:
        notices.append(f"{source}: could not read page(s) {_numbers(failed)}.")
    ocr_done = _ocr_textless_pages(data, source, pages, notices)
    pages, emptied = _strip_furniture(pages, heights)
    if emptied:
        notices.append(
            f"{source}: the only text of page(s) {_numbers(emptied)} repeats at the top or "
            "bottom of most pages (a running header or footer); it was left out."
        )
    text, starts, headings = _assemble_pdf(pages)
    if not text.strip():
        from .ocr import INSTALL_HINT, unavailable

        why = unavailable()
        raise EmptyExtractionError(
            f"{source}: this PDF has no text layer (a scan?) and OCR found no text in it."
            if why is None
            else f"{source}: this PDF has no text layer (a scan?) and OCR is not available "
            f"({why}). {INSTALL_HINT}"
        )
    author, organisation, date = _pdf_metadata(meta)
    return document(
        source=source, data=data, text=text, kind="pdf",
        title=_pdf_title(meta, headings, starts), pages=starts, headings=headings,
        notices=notices, author=author, organisation=organisation, date=date,
        ocr_pages=ocr_done,
    )


def _numbers(pages: Sequence[int]) -> str:
    return ", ".join(map(str, pages))


_MIN_TEXT_LAYER = 20
"""A page with fewer letters and digits than this in its text layer is read by OCR."""


def _ocr_textless_pages(
    data: bytes, source: str, pages: list[list[_Line]], notices: list[str]
) -> list[int]:
    """Read the pages without a text layer by OCR, in place (lines with a made-up
    position that keeps Tesseract's paragraphs). Returns the pages OCR read.

    Without OCR installed, a notice names the pages left without text (a PDF with no
    text at all then fails with the install hint)."""
    from .ocr import INSTALL_HINT, ocr_pages, unavailable

    def letters(lines: Sequence[_Line]) -> int:
        return sum(ch.isalnum() for x in lines for ch in x.text)

    todo = [i + 1 for i, lines in enumerate(pages) if letters(lines) < _MIN_TEXT_LAYER]
    if not todo:
        return []
    why = unavailable()
    if why is not None:
        if len(todo) < len(pages):
            notices.append(
                f"{source}: page(s) {_numbers(todo)} have no text layer (scanned?) and were "
                f"not read: OCR is not available ({why}). {INSTALL_HINT}"
            )
        return []
    body = _body_size([x for lines in pages for x in lines]) or 10.0
    done = []
    try:
        for number, text in ocr_pages(data, todo):
            lines: list[_Line] = []
            y = 1000.0
            for raw in text.split("\n"):
                y -= body * 1.2
                if raw.strip():
                    lines.append(_Line(raw.strip(), number, y, body))
                else:
                    y -= body * 1.2  # a blank line: a paragraph break
            if letters(lines) > letters(pages[number - 1]):
                pages[number - 1] = lines
                done.append(number)
    except Exception as e:  # a page pdfium cannot render, Tesseract failing
        notices.append(f"{source}: OCR failed ({type(e).__name__}: {e}).")
    if done:
        notices.append(
            f"{source}: page(s) {_numbers(done)} read by OCR (Tesseract, Dutch): the text "
            "may hold recognition errors; check a quote against the page."
        )
    return done


def _pdf_metadata(meta: Any) -> tuple[str | None, str | None, str | None]:
    """Author, organisation (``/Company``, which Office writes) and the creation date
    (``YYYY-MM-DD``) from the PDF's document information."""
    def get(key: str) -> str | None:
        with contextlib.suppress(Exception):
            v = str((meta or {}).get(key) or "").strip()
            return v or None
        return None

    date = None
    raw = get("/CreationDate") or get("/ModDate")
    m = re.match(r"^(?:D:)?(\d{4})(\d{2})(\d{2})", raw or "")
    if m and 1900 < int(m.group(1)) < 2200:
        date = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    return get("/Author"), get("/Company"), date


# -- DOCX --------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^(?:heading|kop)\s*(\d)$", re.IGNORECASE)
_TITLE_STYLE = {"title", "titel"}
_LIST_STYLE = re.compile(r"list|lijst|opsomming", re.IGNORECASE)


def _docx_blocks(doc: Any) -> Iterator[tuple[str, Any]]:
    """The body's paragraphs and tables, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in doc.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            yield "p", Paragraph(child, doc)
        elif tag == "tbl":
            yield "tbl", Table(child, doc)
        elif tag == "sdt":  # content controls (e.g. a table of contents) hold paragraphs
            for p in child.iter():
                if p.tag.rsplit("}", 1)[-1] == "p":
                    yield "p", Paragraph(p, doc)


def _table_text(table: Any) -> str:
    """A Word table as text (see :func:`~vraagbaak.ingest.extract.table_text`); header
    rows are the ones Word marks to repeat, or else a first row that looks like one."""
    from docx.oxml.ns import qn

    rows: list[list[str]] = []
    marked = 0
    for r, row in enumerate(table.rows):
        cells: list[str] = []
        last = None
        for cell in row.cells:
            # a cell merged across columns repeats itself: its text counts once
            cells.append("" if cell._tc is last else " ".join(cell.text.split()))
            last = cell._tc
        rows.append(cells)
        trpr = row._tr.trPr
        if r == marked and trpr is not None and trpr.find(qn("w:tblHeader")) is not None:
            marked += 1
    return table_text(rows, header_rows=marked or None)


def _paragraph_style(p: Any) -> str:
    try:
        return str(p.style.name or "") if p.style is not None else ""
    except (KeyError, AttributeError, ValueError):
        return ""


def read_docx(path: Path, data: bytes, source: str) -> Document:
    """Read a Word .docx file: paragraphs, headings (from heading styles), lists and tables.

    Raises:
        InputError: the file is not a valid .docx or holds no text.
    """
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    hint = "Old .doc files are not supported: save as .docx or PDF."
    try:
        archive = open_zip(data, source, "Word .docx")
    except InputError as e:
        raise InputError(str(e), hint=hint) from None
    organisation = _zip_xml_text(archive, "docProps/app.xml", "Company")
    try:
        d = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise InputError(
            f"{source}: not a valid Word .docx file ({type(e).__name__}: {e}).", hint=hint
        ) from None
    except Exception as e:  # lxml errors on damaged XML parts
        raise InputError(f"{source}: this Word file is damaged ({type(e).__name__}).") from None

    b = TextBuilder()
    title: str | None = None
    list_items: list[str] = []

    def flush_list() -> None:
        if list_items:
            b.block("\n".join(list_items))
            list_items.clear()

    try:
        for kind, item in _docx_blocks(d):
            if kind == "tbl":
                flush_list()
                b.block(_table_text(item))
                continue
            text = " ".join(item.text.replace("\t", " ").split())
            if not text:
                continue
            style = _paragraph_style(item)
            m = _HEADING_STYLE.match(style)
            ppr = item._p.pPr
            is_list = bool(_LIST_STYLE.search(style)) or (ppr is not None and ppr.numPr is not None)
            if style.lower() in _TITLE_STYLE:
                flush_list()
                title = title or text
                b.block(text)
            elif m:
                flush_list()
                b.block(text, heading_level=max(1, int(m.group(1))))
            elif is_list:
                list_items.append(text if _BULLET.match(text) else f"- {text}")
            else:
                flush_list()
                b.block(text)
        flush_list()
        props = d.core_properties
        core_title = (props.title or "").strip()
        author = props.author or props.last_modified_by
        created = props.created or props.modified
        date = created.strftime("%Y-%m-%d") if created else None
    except Exception as e:  # a damaged part deep inside the package
        raise InputError(
            f"{source}: this Word file is damaged ({type(e).__name__}: {e})."
        ) from None
    if core_title:
        title = core_title
    elif title is None and b.headings:
        title = b.headings[0].text
    return document(
        source=source, data=data, text=b.text, kind="docx", title=title, headings=b.headings,
        author=author, organisation=organisation, date=date,
    )


def _zip_xml_text(archive: Any, name: str, tag: str) -> str | None:
    """The text of the first element named ``tag`` (any namespace) in one XML part of a
    zip, or None; the part was size-checked by :func:`open_zip`."""
    from lxml import etree

    try:
        raw = archive.read(name)
        root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    except Exception:  # missing or damaged: metadata is optional
        return None
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == tag and el.text:
            return el.text.strip() or None
    return None


# -- HTML --------------------------------------------------------------------------


def _html_title(html: str) -> str | None:
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    from html import unescape

    return " ".join(unescape(m.group(1)).split()) or None


def _xml_to_text(xml: str) -> tuple[str, list[Heading], str | None]:
    """Turn trafilatura's XML into text with headings, lists and tables."""
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"))
    main = root.find("main")
    b = TextBuilder()

    def flat(el: Any) -> str:
        return " ".join("".join(el.itertext()).split())

    def walk(el: Any) -> None:
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == "head":
                rend = str(child.get("rend") or "h2")
                level = int(rend[1]) if re.fullmatch(r"h[1-6]", rend) else 2
                b.block(flat(child), heading_level=level)
            elif tag == "list":
                items = [flat(it) for it in child.iter("item")]
                b.block("\n".join(f"- {t}" for t in items if t))
            elif tag == "table":
                rows: list[list[str]] = []
                heads = 0
                for row in child.iter("row"):
                    cells = [flat(c) for c in row.iter("cell")]
                    if rows == [] or heads == len(rows):
                        heads += all(c.get("role") == "head" for c in row.iter("cell"))
                    rows.append(cells)
                b.block(table_text(rows, header_rows=heads or None))
            elif tag in {"p", "quote", "code"}:
                lines = ["".join(seg) for seg in _split_lb(child)]
                if tag == "code":
                    lines = [x for line in lines for x in line.split("\n")]
                b.block("\n".join(" ".join(x.split()) for x in lines if x.strip()))
            elif tag in {"div", "section", "main"}:
                walk(child)
            elif tag and tag != "graphic":
                b.block(flat(child))

    if main is not None:
        walk(main)
    return b.text, b.headings, root.get("title") or None


def _split_lb(el: Any) -> list[list[str]]:
    """The text of an element split at its ``<lb/>`` line breaks."""
    lines: list[list[str]] = [[]]

    def go(e: Any) -> None:
        if e.text:
            lines[-1].append(e.text)
        for c in e:
            if c.tag == "lb":
                lines.append([])
            else:
                go(c)
            if c.tail:
                lines[-1].append(c.tail)

    go(el)
    return lines


MAX_HTML_MAIN_TEXT = 3_000_000
"""Pages larger than this (in characters) are read whole, without main-text detection,
which takes minutes on them."""
MAX_HTML = 200_000_000
"""Pages larger than this are refused."""


def _meta_tags(html: str) -> dict[str, str]:
    """The page's ``<meta name|property=… content=…>`` tags (names lower case)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"<meta\b[^>]*>", html[:200_000], re.IGNORECASE):
        tag = m.group(0)
        name = re.search(r"\b(?:name|property)\s*=\s*[\"']?([^\"'\s>]+)", tag, re.IGNORECASE)
        content = re.search(r"\bcontent\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", tag, re.I)
        if name and content:
            from html import unescape

            value = unescape(next(g for g in content.groups() if g is not None)).strip()
            out.setdefault(name.group(1).lower(), value)
    return out


def _html_metadata(html: str) -> tuple[str | None, str | None, str | None]:
    """Author, organisation and date from the page's meta tags (Dublin Core, as Dutch
    government sites write them, then the common ones)."""
    meta = _meta_tags(html)

    def first(*names: str) -> str | None:
        return next((meta[n] for n in names if meta.get(n)), None)

    date = first("dcterms.issued", "dcterms.date", "dcterms.created", "dc.date",
                 "article:published_time", "date", "dcterms.modified")
    m = re.match(r"^(\d{4}-\d{2}-\d{2})", date or "")
    return (
        first("author", "dcterms.creator", "dc.creator", "article:author"),
        first("dcterms.publisher", "dc.publisher", "og:site_name", "organization"),
        m.group(1) if m else None,
    )


def read_html(path: Path, data: bytes, source: str) -> Document:
    """Read an HTML page: its main text (no menus, headers or footers) and its title.

    A page too large for main-text detection, or where it keeps almost nothing of a page
    full of text (or nothing, as with very deep nesting), is read whole instead, without
    scripts, menus, headers and footers, with a notice.

    Raises:
        InputError: the page holds no readable text, or is too large.
    """
    import trafilatura

    from .htmltext import page_text
    from .readers import decode_text

    if len(data) > MAX_HTML:
        raise InputError(
            f"{source}: this HTML page is {len(data) / 1e6:,.0f} MB; vraagbaak reads pages "
            f"up to {MAX_HTML / 1e6:,.0f} MB. Split it or save its text as .txt."
        )
    notices: list[str] = []
    m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", data[:4096], re.IGNORECASE)
    html: str | None = None
    if m:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            html = data.decode(m.group(1).decode("ascii"))
    if html is None:
        html, notes = decode_text(data, source)
        notices.extend(notes)
    if not html.strip():
        raise EmptyExtractionError(f"{source}: the file is empty.")
    text, title = "", None
    headings: list[Heading] = []
    if len(html) <= MAX_HTML_MAIN_TEXT:
        with quiet("trafilatura", "htmldate", "courlan"):
            try:
                for recall in (False, True):
                    xml = trafilatura.extract(
                        html, output_format="xml", include_tables=True, include_comments=False,
                        include_formatting=False, include_links=False, include_images=False,
                        with_metadata=False, favor_recall=recall,
                    )
                    if xml:
                        text, headings, title = _xml_to_text(xml)
                        if text.strip():
                            break
            except Exception as e:  # trafilatura/lxml on badly broken markup
                logger.debug("trafilatura failed on %s: %s", source, e)
                text = ""
    try:
        whole, whole_headings, page_title = page_text(html)
    except Exception as e:  # html.parser on badly broken markup
        logger.debug("reading the whole page failed on %s: %s", source, e)
        whole, whole_headings, page_title = "", [], ""
    kept = len(text.strip())
    if len(html) > MAX_HTML_MAIN_TEXT:
        notices.append(
            f"{source}: a page of {len(html) / 1e6:,.0f} million characters is read whole "
            "(without scripts, menus, headers and footers); main-text detection is skipped."
        )
        text, headings = whole, whole_headings
    elif (kept < 0.05 * len(whole) and len(whole) - kept > 20_000) or (not kept and whole.strip()):
        notices.append(
            f"{source}: main-text detection kept {kept:,} of the page's {len(whole):,} "
            "characters; the page is read whole (without scripts, menus, headers and "
            "footers)."
        )
        text, headings = whole, whole_headings
    title = _html_title(html) or page_title or title
    author, organisation, date = _html_metadata(html)
    return document(
        source=source, data=data, text=text, kind="html", title=title, headings=headings,
        notices=notices, what="main text", author=author, organisation=organisation,
        date=date,
    )


READERS: dict[str, Callable[[Path, bytes, str], Document]] = {
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".odt": read_odt,
    ".html": read_html,
    ".htm": read_html,
    ".eml": read_eml,
}
