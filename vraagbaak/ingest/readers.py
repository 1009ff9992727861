"""Read source files into :class:`~vraagbaak.types.Document`.

Plain text and Markdown are decoded and kept exactly as they are (offsets point into
the decoded file). Other formats register a reader in :data:`READERS`; they return the
extracted text, which the index stores so citations stay checkable.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InputError, UnsupportedFormatError
from ..types import Document
from .structure import detect_date, detect_title

logger = logging.getLogger(__name__)

Reader = Callable[[Path, bytes, str], Document]
"""A reader gets the path, the file's bytes and the source name, and returns a Document."""


class EmptyDocumentError(InputError):
    """A file with no text in it."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _binary(name: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"{name}: this looks like a binary file, not text (is the file extension right?)."
    )


def _looks_binary(text: str) -> bool:
    """Many control characters (other than tab, newline, form feed) mean binary data."""
    sample = text[:65536]
    return bool(sample) and len(_CONTROL.findall(sample)) > 0.01 * len(sample) + 2


def decode_text(data: bytes, name: str) -> tuple[str, tuple[str, ...]]:
    """Decode bytes as UTF-8 (a byte order mark is dropped), UTF-16 with a byte order
    mark, or a detected legacy encoding (cp1252, latin-1), with a notice when it is not
    UTF-8.

    Raises:
        UnsupportedFormatError: the bytes are binary, not text.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise _binary(name) from None
        if _looks_binary(text):
            raise _binary(name)
        return text, (f"{name}: read as UTF-16.",)
    if b"\x00" in data[:8192]:
        raise _binary(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        if _looks_binary(text):
            raise _binary(name)
        return text, ()
    # Dutch files in a legacy encoding are nearly always Windows-1252 (or its subset
    # latin-1); other encodings are left to charset-normalizer to detect.
    candidates = ["cp1252"]
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[: 1 << 20]).best()
        if best is not None and best.encoding:
            candidates.append(best.encoding)
    except ImportError:  # optional
        candidates.append("latin-1")
    for enc in candidates:
        try:
            text = data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        if _looks_binary(text):
            raise _binary(name)
        return text, (f"{name}: not valid UTF-8; read as {enc}.",)
    raise _binary(name)


def read_text_document(path: Path, data: bytes, source: str) -> Document:
    """Read a .txt or .md file."""
    if not data:
        raise EmptyDocumentError(f"{source}: the file is empty.")
    text, notices = decode_text(data, source)
    if not text.strip():
        raise EmptyDocumentError(f"{source}: the file holds only whitespace, no text.")
    return Document(
        source=source,
        text=text,
        title=detect_title(text) or Path(source).stem,
        sha256=hashlib.sha256(data).hexdigest(),
        kind=path.suffix.lower().lstrip(".") or "txt",
        date=detect_date(text),
        notices=notices,
    )


READERS: dict[str, Reader] = {
    ".txt": read_text_document,
    ".md": read_text_document,
    ".markdown": read_text_document,
}


def _register_optional_readers() -> None:
    try:
        from . import formats
    except ImportError:  # pragma: no cover - formats ships with the package
        return
    READERS.update(formats.READERS)


_register_optional_readers()

SUPPORTED_SUFFIXES = frozenset(READERS)


def read_document(path: str | Path, *, source: str | None = None) -> Document:
    """Read one file.

    Args:
        path: the file.
        source: the name citations will use (default: the file name).

    Raises:
        InputError: the file is missing, unreadable, empty or of an unsupported format.
    """
    p = Path(path)
    name = source or p.name
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        supported = ", ".join(sorted(READERS))
        raise UnsupportedFormatError(f"{name}: unsupported file type (supported: {supported}).")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a folder, not a file.") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read it ({e.strerror or e}).") from None
    return reader(p, data, name)


def discover(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Find the files to ingest under ``paths`` (files or folders, recursively).

    Returns:
        ``(found, skipped)``: ``found`` pairs each file with its source name (the folder's
        name plus the path inside it, or the file's name); ``skipped`` pairs each
        unsupported file with the reason.

    Raises:
        InputError: a path does not exist.
    """
    found: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            raise InputError(f"{raw}: no such file or folder.")
        if p.is_dir():
            files = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            items = [(f, f"{p.resolve().name}/{f.relative_to(p).as_posix()}") for f in files]
        else:
            items = [(p, p.name)]
        for f, name in items:
            if f.suffix.lower() not in READERS:
                if f.name.lower() not in {"readme", "license"}:
                    skipped.append((f, f"unsupported file type '{f.suffix or f.name}'"))
                continue
            if name in seen:
                name = str(f.resolve())
            seen.add(name)
            found.append((f, name))
    return found, skipped
