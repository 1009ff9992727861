"""What the format readers share: building a text with offsets, tables as text, bounded
zip archives, and the :class:`~vraagbaak.types.Document` they return."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..types import Document, Heading
from .structure import detect_date, detect_title

MAX_ZIP_MEMBER = 64 << 20
"""The largest uncompressed part of a zip-based file (.docx, .odt) that is read: a real
document.xml of this size is thousands of pages; a zip bomb is refused before it grows."""
MAX_ZIP_TOTAL = 512 << 20
"""The largest uncompressed total of a zip-based file."""
MAX_ZIP_RATIO = 200
"""A part that shrank more than this (and is over 1 MB unpacked) is a zip bomb."""

_NUMERIC = re.compile(r"^[\d\s.,%€$+\-–/()]*\d[\d\s.,%€$+\-–/()]*$")


class EmptyExtractionError(InputError):
    """A file that holds no extractable text (e.g. a scanned PDF without a text layer)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def quiet(*loggers: str) -> Iterator[None]:
    """Keep a parser's warnings about damaged files out of the user's terminal: the reader
    reports what matters as one message or notice."""
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    try:
        for lg, _ in saved:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in saved:
            lg.setLevel(level)


@dataclass
class TextBuilder:
    """Builds a text from blocks and records offsets of headings."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    headings: list[Heading] = field(default_factory=list)

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def block(self, s: str, *, heading_level: int | None = None) -> None:
        """Append a paragraph (separated from the one before by a blank line)."""
        s = s.strip()
        if not s:
            return
        if self.length:
            self.add("\n\n")
        start = self.length
        self.add(s)
        if heading_level is not None:
            self.headings.append(Heading(start, self.length, heading_level, s))

    @property
    def text(self) -> str:
        return "".join(self.parts)


def document(
    *, source: str, data: bytes, text: str, kind: str, title: str | None,
    pages: Sequence[int] = (), headings: Sequence[Heading] = (), notices: Sequence[str] = (),
    what: str = "text", date: str | None = None, author: str | None = None,
    organisation: str | None = None, ocr_pages: Sequence[int] = (),
    attachments: Sequence[Document] = (),
) -> Document:
    """The Document a reader returns. A date the text states wins over ``date`` (the
    format's metadata, often the day a file was exported)."""
    if not text.strip():
        raise EmptyExtractionError(f"{source}: no {what} found in this file.")
    title = " ".join((title or "").split())

    def clean(s: str | None) -> str | None:
        s = " ".join((s or "").split())[:200]
        return s or None

    return Document(
        source=source,
        text=text,
        title=title or detect_title(text) or Path(source).stem,
        sha256=sha256(data),
        kind=kind,
        date=detect_date(text) or clean(date),
        pages=tuple(pages),
        headings=tuple(headings),
        notices=tuple(notices),
        author=clean(author),
        organisation=clean(organisation),
        ocr_pages=tuple(ocr_pages),
        attachments=tuple(attachments),
    )


# -- tables ------------------------------------------------------------------------


def _is_header(row: Sequence[str], width: int) -> bool:
    cells = [c for c in row if c]
    return (
        len(cells) >= max(2, width // 2)
        and all(len(c) <= 40 and len(c.split()) <= 6 and not _NUMERIC.match(c) for c in cells)
    )


def table_text(rows: Sequence[Sequence[str]], *, header_rows: int | None = None) -> str:
    """A table as text: one line per row, each cell with its column's header
    (``Gemeente: Teylingen; Inwoners: 36.000.``), so a row reads, is found and can be
    quoted on its own.

    Args:
        rows: the cells, row by row (empty cells, and the columns a merged cell spans
            after its first, are "").
        header_rows: how many leading rows are headers (as the format marks them);
            None: the first row is a header when it looks like one (all short, not
            numbers).
    """
    rows = [[" ".join(c.split()) for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    lines: list[str] = []
    # a caption above the table (one cell spanning the row) stays a line of its own
    while len(rows) > 1 and width > 1 and len({c for c in rows[0] if c}) == 1:
        lines.append(next(c for c in rows[0] if c))
        rows = rows[1:]
    if header_rows is None:
        header_rows = 1 if len(rows) > 1 and width > 1 and _is_header(rows[0], width) else 0
    header: list[str] = [""] * width
    for r in rows[:header_rows]:
        for i, c in enumerate(r):
            if c and c not in header[i]:
                header[i] = f"{header[i]} {c}".strip()
    for r in rows[header_rows:] if len(rows) > header_rows else rows:
        parts: list[str] = []
        for i, c in enumerate(r):
            if not c:
                continue
            h = header[i] if i < len(header) else ""
            parts.append(f"{h}: {c}" if h and h != c else c)
        line = "; ".join(parts)
        if line:
            lines.append(line if line[-1] in ".!?:;" else line + ".")
    return "\n".join(lines)


# -- zip-based formats -------------------------------------------------------------


def open_zip(data: bytes, source: str, what: str) -> zipfile.ZipFile:
    """Open a zip-based document, refusing one whose parts would unpack beyond the
    limits (a zip bomb): what a part may unpack to is bounded by its declared size,
    which ``zipfile`` enforces while reading.

    Raises:
        InputError: not a zip file, or too large once unpacked.
    """
    import io

    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"{source}: not a valid {what} file ({type(e).__name__}: {e}).") from None
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if (
            info.file_size > MAX_ZIP_MEMBER
            or total > MAX_ZIP_TOTAL
            or (info.file_size > 1 << 20 and ratio > MAX_ZIP_RATIO)
        ):
            raise InputError(
                f"{source}: this {what} file unpacks to more than vraagbaak reads "
                f"({info.filename}: {info.file_size / 1e6:,.0f} MB from "
                f"{info.compress_size / 1e6:,.1f} MB); it looks like a zip bomb or is too big."
            )
    return z
