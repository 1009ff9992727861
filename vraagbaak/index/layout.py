"""The index folder: its generations, the ``current`` link, the write lock and the
messages that say how to recover or rebuild an index.

Layout of an index folder::

    <index>/current          -> a symlink to the live generation
    <index>/gen-<stamp>/     manifest.json, chunks.jsonl, chunks.offsets.npy,
                             sentences.offsets.npy, texts/<sha256>.txt, passages.faiss,
                             passages.npy, sentences.npy, bm25/
    <index>.lock             held while an ingest writes

An ingest (:mod:`.store`) builds a new generation next to the live one and then swaps the
``current`` link atomically, so a failed or killed ingest leaves the previous index
usable. A reader (:mod:`.reader`) holds a shared lock on the manifest of the generation it
opened for as long as it uses it; an ingest removes an old generation only when it can
take that lock exclusively, so a swap never pulls files from under a reader. A folder
that holds generations is an index, even without its ``current`` link: it is reported
with the way to recover it, never rebuilt or cleaned up on the tool's own initiative.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IndexCorruptError, IndexLockedError, IndexWriteError, InputError
from .manifest import ManifestError
from .manifest import loads as load_manifest

FORMAT_VERSION = 3
"""2: the manifest carries its own checksum, and every source the sha256 of its stored text.
3: chunk and sentence offset tables (so nothing is parsed on open), and the size and edge
checksum of every file (the cheap check on open)."""
CHECKED_FILES = (
    "chunks.jsonl",
    "chunks.offsets.npy",
    "sentences.offsets.npy",
    "passages.faiss",
    "passages.npy",
    "sentences.npy",
    "bm25/params.index.json",
    "bm25/vocab.index.json",
    "bm25/data.csc.index.npy",
    "bm25/indices.csc.index.npy",
    "bm25/indptr.csc.index.npy",
)
"""The files of a generation besides its stored texts; the manifest records each one's
sha256, size and edge checksum."""
EDGE_BYTES = 4096
"""The quick check on open hashes this many bytes at the start and at the end of a file."""


def code_versions() -> dict[str, int]:
    """Versions of the code that shapes an index's content: a change re-splits or
    re-analyses every source on the next ingest, even when no file changed."""
    from ..ingest.chunker import CHUNKER_VERSION
    from .analysis import ANALYSIS_VERSION

    return {"format": FORMAT_VERSION, "chunker": CHUNKER_VERSION, "analysis": ANALYSIS_VERSION}


def sha256_file(path: Path, *, sync: bool = False) -> str:
    """The file's checksum; with ``sync``, also flush it to disk first."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        if sync:
            os.fsync(f.fileno())
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def edge_sha256(path: Path) -> str:
    """The sha256 of a file's first and last :data:`EDGE_BYTES` (the whole of a small
    file): with the size, what opening an index checks of every file. It catches a file
    that was truncated, extended, or replaced by another one (an ``.npy`` header names the
    shape, and the tail differs), not a byte changed in the middle (``vraagbaak check``
    hashes every byte)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        h.update(f.read(EDGE_BYTES))
        if size > EDGE_BYTES:
            f.seek(max(EDGE_BYTES, size - EDGE_BYTES))
            h.update(f.read(EDGE_BYTES))
    return h.hexdigest()


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock, or fail at once with a clear message."""
    lock_path = index_dir.parent / f"{index_dir.name}.lock"
    try:
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise write_error(index_dir, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(
                f"Another vraagbaak process is updating the index at {index_dir}.",
                hint="Wait for it to finish, then try again.",
            ) from None
        yield
    finally:
        os.close(fd)


def write_error(index_dir: Path, error: OSError) -> IndexWriteError:
    """The error for an index folder that cannot be written (read-only, full disk, no
    permission); the previous index there is left as it was."""
    why = error.strerror or str(error)
    hint = None
    if error.errno in (errno.ENOSPC, errno.EDQUOT) or (error.errno is None and _full(index_dir)):
        # numpy reports a short write without an errno ("56960 requested and 17376 written")
        why = os.strerror(errno.ENOSPC)
        hint = "Free some disk space, then try again."
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        hint = "Use a folder you can write to: --index DIR (or $VRAAGBAAK_INDEX)."
    return IndexWriteError(
        f"Cannot write the index at {index_dir}: {why}. The index there was not changed.",
        hint=hint,
    )


def _full(folder: Path) -> bool:
    """Whether the file system of ``folder`` (or its nearest existing parent) is full."""
    for p in (folder, *folder.parents):
        try:
            st = os.statvfs(p)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize < (1 << 20)
    return False


def rebuild_hint(index_dir: Path, manifest: dict[str, Any] | None = None) -> str:
    """The command that rebuilds the index: with the folders and files it was built from
    (and its encoder) when the manifest still tells them."""
    paths: list[str] = []
    encoder = ""
    with contextlib.suppress(Exception):
        for s in (manifest or {}).get("sources", ()):
            root = Path(s["path"])
            for _ in Path(s["source"]).parts[1:]:  # "corpus/a/b.txt" was ingested as corpus/
                root = root.parent
            if str(root) not in paths:
                paths.append(str(root))
        spec = (manifest or {}).get("encoder", {}).get("spec")
        if spec and spec != "e5":
            encoder = f" --encoder {spec}"
    where = " ".join(_shell_quote(p) for p in paths) if paths else "[PATH ...]"
    index = _shell_quote(str(index_dir))
    return f"Rebuild it with: vraagbaak --index {index}{encoder} ingest {where}"


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def live_generation(index_dir: Path) -> Path | None:
    """The folder of the live generation, or None when there is no index."""
    link = index_dir / "current"
    if not link.is_symlink() and not link.exists():
        return None
    target = index_dir / os.readlink(link) if link.is_symlink() else link
    return target if target.is_dir() else None


def live_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The live generation's manifest, read and checked without loading the index; None
    when there is no live generation or its manifest does not read (opening the index
    says why)."""
    gen = live_generation(index_dir)
    if gen is None:
        return None
    try:
        return load_manifest((gen / "manifest.json").read_bytes())
    except (OSError, ManifestError):
        return None


def holds_index(index_dir: Path) -> bool:
    """Whether the folder holds an index: a ``current`` link (even a broken one) or a
    generation with a manifest (even a damaged one, even without ``current``). Such a
    folder is never rebuilt or cleaned up unless the user asks for it."""
    try:
        if _is_entry(index_dir / "current"):
            return True
        return any((p / "manifest.json").exists() for p in index_dir.glob("gen-*"))
    except OSError:
        return False


def complete_generations(index_dir: Path) -> list[Path]:
    """The generations whose manifest reads and passes its checks, newest first."""
    found = []
    for p in index_dir.glob("gen-*"):
        try:
            m = load_manifest((p / "manifest.json").read_bytes())
        except (OSError, ManifestError):
            continue
        found.append((str(m.get("created", "")), p.name, p))
    return [p for _, _, p in sorted(found, reverse=True)]


def recovery_hint(index_dir: Path) -> str | None:
    """The command that makes the newest complete generation live, when there is one."""
    gens = complete_generations(index_dir)
    if not gens:
        return None
    link = _shell_quote(str(index_dir / "current"))
    return (
        "Point it at its newest complete generation with: "
        f"ln -sfn {_shell_quote(gens[0].name)} {link}"
    )


def check_writable_layout(index_dir: Path) -> None:
    """Refuse to write into a folder whose index cannot be kept: generations without a
    ``current`` link, or a ``current`` that is a folder (an index copied with its links
    followed). The user recovers it first; nothing is rebuilt over it.

    Raises:
        IndexCorruptError: the folder holds an index that an ingest would lose.
    """
    link = index_dir / "current"
    if link.is_dir() and not link.is_symlink():
        raise IndexCorruptError(
            f"The index at {index_dir} has a 'current' that is not a link (was it copied "
            "with its links followed?). Nothing was changed.",
            hint=f"Make it a generation: mv {_shell_quote(str(link))} "
            f"{_shell_quote(str(index_dir / 'gen-restored'))} && ln -s gen-restored "
            f"{_shell_quote(str(link))}",
        )
    if not link.is_symlink() and holds_index(index_dir):
        raise no_current_link(index_dir)
    others = [] if link.is_symlink() else other_files(index_dir)
    if others:
        raise InputError(
            f"{index_dir} is not a vraagbaak index and is not empty "
            f"(it holds {shown_name(others[0])}). vraagbaak makes an index "
            "only in a new or empty folder. Nothing was changed.",
            hint=f"Name a new folder: --index {_shell_quote(str(index_dir / 'vraagbaak-index'))}",
        )


def other_files(index_dir: Path) -> list[str]:
    """What a folder without an index holds besides an index's own entries (generations,
    hidden files), sorted; empty when the folder does not exist."""
    try:
        names = sorted(p.name for p in index_dir.iterdir())
    except OSError:
        return []
    return [
        n for n in names
        if not n.startswith((".", "gen-")) and (n != "current" or not _is_entry(index_dir / n))
    ]


def _is_entry(link: Path) -> bool:
    """Whether ``current`` is what an index has there: a link (even a broken one) or a
    generation folder (an index copied with its links followed)."""
    return link.is_symlink() or link.is_dir()


def shown_name(name: str) -> str:
    return repr(name) if any(not c.isprintable() for c in name) else f"'{name}'"


def no_current_link(index_dir: Path) -> IndexCorruptError:
    return IndexCorruptError(
        f"The index at {index_dir} has generations but no 'current' link to the live one "
        "(was it copied without symbolic links?). Nothing was changed.",
        hint=recovery_hint(index_dir) or rebuild_hint(index_dir),
    )


def share_lock(fd: int) -> bool:
    """Take a shared lock on a generation's manifest; False while an ingest removes it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: no protection, but no failure
        pass
    return True


def same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the file open as ``fd`` (not moved away for removal)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)



def new_generation_dir(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
    return index_dir / f"gen-{stamp}"
