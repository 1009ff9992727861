"""Read source files into :class:`~vraagbaak.types.Document`.

Plain text and Markdown are decoded and kept exactly as they are (offsets point into
the decoded file). Other formats register a reader in :data:`READERS`; they return the
extracted text, which the index stores so citations stay checkable.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
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


def shown(name: str) -> str:
    """A file name or path as it may be printed: bytes that are not UTF-8 as ``\\xff``,
    control characters (a newline, an escape) as ``\\n``, ``\\x1b``, so a name can never
    forge a line of output."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def name_problem(name: str) -> str | None:
    """Why a file name cannot be a source name (it is printed in answers and listings),
    or None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8; rename the file"
    if shown(name) != name:
        return "the file name holds control characters (a line break?); rename the file"
    return None


def read_file_bytes(path: Path) -> bytes:
    """The bytes of a regular file. A FIFO, socket or device is refused at once (opened
    without blocking, checked before reading), so nothing can hang an ingest.

    Raises:
        InputError: the file is missing, unreadable or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{shown(str(path))}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"{shown(str(path))}: is a folder, not a file.") from None
    except OSError as e:
        raise InputError(f"{shown(str(path))}: {_why(e)}.") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{shown(str(path))}: is a folder, not a file.")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{shown(str(path))}: {_kind(st.st_mode)}, not a regular file.")
        os.set_blocking(f.fileno(), True)
        try:
            return f.read()
        except OSError as e:
            raise InputError(f"{shown(str(path))}: cannot read it ({e.strerror or e}).") from None


def _why(e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "a symbolic link that loops"
    if e.errno == errno.ENXIO:
        return "a socket or device, not a regular file"
    return f"cannot read it ({e.strerror or e})"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


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
    return reader(p, read_file_bytes(p), name)


def _entry_problem(path: Path) -> str | None:
    """Why a folder entry cannot be read as a file (checked without opening it), or None."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link that loops"
        if path.is_symlink():
            return "a broken symbolic link (its target is missing)"
        return f"cannot read it ({e.strerror or e})"
    if stat.S_ISDIR(st.st_mode):
        return "a link to a folder (links to folders are not followed)"
    if not stat.S_ISREG(st.st_mode):
        return f"{_kind(st.st_mode)}, not a regular file"
    return None


def vraagbaak_folder(folder: Path) -> str | None:
    """What of vraagbaak's own ``folder`` is, or None: an index (it keeps a copy of every
    document it holds) or the embedding cache (it keeps the documents of the evaluation
    sets). Read as documents, their copies would come back as second sources."""
    from ..index.layout import holds_index  # here: the index package imports this one

    if holds_index(folder):
        return "a vraagbaak index (its copies of documents are not sources)"
    if (folder / "embeddings.sqlite").is_file():
        return "vraagbaak's cache folder"
    return None


def _walk(folder: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    """The entries under ``folder`` (hidden ones left out), sorted; folders it cannot
    read, and vraagbaak's own folders (:func:`vraagbaak_folder`), are added to
    ``skipped``. Links to folders are listed, not followed."""
    out: list[Path] = []

    def unreadable(e: OSError) -> None:
        skipped.append((Path(e.filename or folder), f"cannot read this folder ({e.strerror})"))

    for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=False):
        base = Path(root)
        entries = [d for d in dirs if (base / d).is_symlink()] + files
        kept, locks = [], set()
        for d in sorted(dirs):
            if d.startswith(".") or (base / d).is_symlink():
                continue
            own = vraagbaak_folder(base / d)
            if own is None:
                kept.append(d)
            else:
                skipped.append((base / d, own))
                locks.add(f"{d}.lock")  # an index's lock file lies beside it
        dirs[:] = kept
        out.extend(base / f for f in entries if not f.startswith(".") and f not in locks)
    return sorted(out, key=lambda f: f.relative_to(folder).parts)


def discover(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Find the files to ingest under ``paths`` (files or folders, recursively).

    Returns:
        ``(found, skipped)``: ``found`` pairs each file with its source name (the folder's
        name plus the path inside it, or the file's name; a second file of the same name
        gets its full path), each file once however often it is named; ``skipped`` pairs each
        unsupported file with the reason.

    Raises:
        InputError: a path does not exist.
    """
    found: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[str] = set()
    files: set[Path] = set()  # a file named twice (or inside a folder also named) is read once
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists() and not p.is_symlink():
            raise InputError(f"{shown(str(raw))}: no such file or folder.")
        if p.is_dir():
            own = vraagbaak_folder(p)
            if own is not None:
                raise InputError(
                    f"{shown(str(raw))} is {own}, not a folder of documents.",
                    hint="Name the folders that hold your documents.",
                )
            items = [
                (f, f"{p.resolve().name}/{f.relative_to(p).as_posix()}") for f in _walk(p, skipped)
            ]
        else:
            items = [(p, p.name)]
        for f, name in items:
            problem = name_problem(name) or _entry_problem(f)
            if problem is None and f.suffix.lower() not in READERS:
                if f.name.lower() in {"readme", "license"}:
                    continue
                problem = f"unsupported file type '{f.suffix or f.name}'"
            if problem is not None:
                skipped.append((f, problem))
                continue
            real = f.resolve()
            if real in files:
                continue
            files.add(real)
            if name in seen:
                name = str(real)
            seen.add(name)
            found.append((f, name))
    return found, skipped
