"""Writing an index generation, and swapping it in.

:func:`build_generation` writes a complete generation into a new folder: the stored
texts, the passages (``chunks.jsonl`` with its offset table), the passage and sentence
vectors with the dense index, the BM25 index, and last the manifest with the sha256, size
and edge checksum of every file (after flushing them to disk). :func:`swap_in` makes it
live atomically and :func:`cleanup` removes generations no reader holds. The folder's
layout and its locks are in :mod:`.layout`; reading a generation is :mod:`.reader`.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import ChunkSettings
from ..types import Chunk, Document
from .analysis import AnalysisSettings, Analyzer
from .ann import choose_params, make_dense_index, save_dense_index, vector_dtype
from .cache import EmbeddingCache, Lookup, text_key
from .embedding import (
    LazyTexts,
    VectorFile,
    embed_chunks,
    passage_key,
    passage_mode,
    sentence_mode,
    sentence_model,
)
from .encoders import Encoder
from .layout import (
    CHECKED_FILES,
    FORMAT_VERSION,
    code_versions,
    edge_sha256,
    live_generation,
    sha256_file,
)
from .manifest import dumps as dump_manifest
from .reader import Index, SourceInfo, import_bm25s

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as an ingest advances."""


def bare_sentence_input(chunk: Chunk, start: int, end: int) -> str:
    """The text a sentence is embedded as with ``sentence_vectors="bare"``: itself."""
    return chunk.text[start - chunk.start : end - chunk.start]


def sentence_input(chunk: Chunk, start: int, end: int) -> str:
    """The text a sentence is embedded as: the document title gives it context."""
    return f"{chunk.title}\n{bare_sentence_input(chunk, start, end)}"


def passage_input(chunk: Chunk) -> str:
    """The text a passage is embedded (and lexically indexed) as: its document title and
    section give context that the passage itself may not repeat."""
    head = chunk.title
    if chunk.section and chunk.section != chunk.title:
        head = f"{head} — {chunk.section.split(' › ')[-1]}"
    return f"{head}\n{chunk.text}"


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


def previous_vectors(
    previous: Index | None,
    encoder_id: str,
    sentence_text: Callable[[Chunk, int, int], str] = sentence_input,
    passages: str = "whole",
) -> Lookup | None:
    """A lookup of the vectors an earlier generation holds, by cache key (built on first
    use: only an ingest that misses the cache pays for hashing the old texts).
    ``sentence_text`` is the text its sentences were embedded as (their mode's), and
    ``passages`` how its passage vectors were made (:func:`~.embedding.passage_mode`)."""
    if previous is None or previous.manifest["encoder"]["id"] != encoder_id:
        return None
    table: dict[str, tuple[bool, int]] = {}

    def lookup(keys: list[str]) -> dict[str, np.ndarray]:
        if not table:
            row = 0
            for c in previous.chunks:
                key = passage_key(encoder_id, passage_input(c), passages)
                table.setdefault(key, (True, c.id))
                for s, e in c.sentences:
                    text = sentence_text(c, s, e)
                    table.setdefault(text_key(encoder_id, "passage", text), (False, row))
                    row += 1
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
    after flushing them to disk (the generation is complete before it is swapped in), and
    the size and edge checksum of each (the quick check on open)."""
    texts = sorted(p.relative_to(gen).as_posix() for p in (gen / "texts").glob("*"))
    names = [*CHECKED_FILES, *texts]
    manifest["checksums"] = {name: sha256_file(gen / name, sync=True) for name in names}
    manifest["files"] = {
        name: {"size": (gen / name).stat().st_size, "edge": edge_sha256(gen / name)}
        for name in names
    }
    with (gen / "manifest.json").open("w", encoding="utf-8") as f:
        f.write(dump_manifest(manifest))
        f.flush()
        os.fsync(f.fileno())


def write_chunks(gen: Path, chunks: list[Chunk]) -> None:
    """``chunks.jsonl`` (one passage a line) with its offset table ``chunks.offsets.npy``
    (line i is bytes ``offsets[i]:offsets[i+1]``) and ``sentences.offsets.npy`` (chunk i's
    sentences are rows ``offsets[i]:offsets[i+1]`` of ``sentences.npy``), so a reader
    parses only the passages it uses."""
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    sentences = np.zeros(len(chunks) + 1, dtype=np.int64)
    with (gen / "chunks.jsonl").open("wb") as f:
        for i, c in enumerate(chunks):
            line = (json.dumps(c.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            offsets[i + 1] = offsets[i] + len(line)
            sentences[i + 1] = sentences[i] + len(c.sentences)
    np.save(gen / "chunks.offsets.npy", offsets)
    np.save(gen / "sentences.offsets.npy", sentences)


def _store_texts(
    gen: Path,
    documents: list[tuple[Document, str]],
    per_doc: list[int],
    indexed_at: dict[str, str],
    now: str,
) -> list[dict[str, Any]]:
    """Write each document's text to ``texts/`` and return the manifest's ``sources``
    (``per_doc``: each document's number of passages)."""
    sources = []
    for (doc, path), n_chunks in zip(documents, per_doc, strict=True):
        data = doc.text.encode("utf-8")
        (gen / "texts" / f"{doc.sha256}.txt").write_bytes(data)
        sources.append(
            asdict(
                SourceInfo(
                    source=doc.source, path=path, sha256=doc.sha256, title=doc.title,
                    kind=doc.kind, date=doc.date, chunks=n_chunks, chars=len(doc.text),
                    indexed_at=indexed_at.get(doc.source, now), notices=doc.notices,
                    text_sha256=hashlib.sha256(data).hexdigest(), pages=doc.pages,
                    headings=tuple((h.start, h.end, h.level, h.text) for h in doc.headings),
                    author=doc.author, organisation=doc.organisation, ocr_pages=doc.ocr_pages,
                )
            )
        )
    return sources


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
    sentence_vectors: str = "bare",
) -> None:
    """Write a complete index generation into the empty folder ``gen``.

    ``indexed_at`` keeps the date a source was first indexed (by source name) for sources
    carried over unchanged. Vectors that the cache lacks are taken from ``previous`` (the
    live generation, checked when it was opened) when it has them for the same encoder
    and text, so a missing or damaged cache does not mean embedding everything again.

    ``documents`` and ``chunks_by_doc`` are emptied as they are written (a document once its
    text is stored, the passages once they and their BM25 terms are), so the texts of a
    large ingest are not held while the dense and BM25 indexes are built.
    """
    bm25s = import_bm25s()

    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    (gen / "texts").mkdir(parents=True)
    chunks: list[Chunk] = []
    per_doc: list[int] = []
    for doc_chunks in chunks_by_doc:
        per_doc.append(len(doc_chunks))
        for c in doc_chunks:
            chunks.append(Chunk(**{**c.__dict__, "id": len(chunks)}))
        doc_chunks.clear()
    chunks_by_doc.clear()
    sources = _store_texts(gen, documents, per_doc, indexed_at or {}, now)
    documents.clear()  # the texts are on disk; the manifest needs only ``sources``

    dim = encoder.dim
    passage_texts = LazyTexts(chunks, passage_input)
    n_chunks = len(chunks)
    n_sentences = sum(len(c.sentences) for c in chunks)
    dtype = vector_dtype(n_chunks)
    mode = sentence_mode(encoder, sentence_vectors)
    pmode = passage_mode(encoder)
    head = sentence_model(encoder, mode)
    if previous is not None and (
        previous.sentence_mode != mode
        or previous.manifest["encoder"].get("sentence_model") != head
        or previous.manifest["encoder"].get("passages", "whole") != pmode
    ):
        previous = None  # its vectors were made another way: none to lend
    sentence_text = bare_sentence_input if mode == "bare" else sentence_input
    pfile = VectorFile(gen / "passages.npy", n_chunks, dim, dtype)
    sfile = VectorFile(gen / "sentences.npy", n_sentences, dim, dtype)
    try:
        report.encoded, report.reused = embed_chunks(
            encoder, chunks, passage_texts, passage_out=pfile, sentence_out=sfile,
            cache=cache,
            sentence_text=sentence_text,
            in_passage=mode in ("passage", "upper"),
            upper=mode == "upper",
            previous=previous,
            fallback=previous_vectors(previous, encoder.id, sentence_text, pmode),
            progress=(lambda d, t: progress("embedding", d, t)) if progress else None,
        )
    except BaseException:
        pfile.close(check=False)
        sfile.close(check=False)
        raise
    pfile.close()
    sfile.close()

    write_chunks(gen, chunks)
    corpus_ids = term_ids(Analyzer(analysis), passage_texts)
    del passage_texts
    chunks.clear()  # from here on, no passage text is held
    release_memory(collect=n_chunks >= COLLECT_FROM)

    bm25 = bm25s.BM25()
    bm25.index(corpus_ids, show_progress=False)
    del corpus_ids
    bm25.save(str(gen / "bm25"), show_progress=False)
    del bm25
    release_memory(collect=n_chunks >= COLLECT_FROM)

    dense = choose_params(n_chunks)
    pvecs = np.load(gen / "passages.npy", mmap_mode="r")
    save_dense_index(make_dense_index(pvecs, dense), gen / "passages.faiss")
    del pvecs

    manifest = {
        "format_version": FORMAT_VERSION,
        "created": now,
        "encoder": {"id": encoder.id, "spec": encoder_spec, "dim": dim, "sentences": mode,
                    "passages": pmode, **({"sentence_model": head} if head else {})},
        "chunking": asdict(chunking),
        "versions": code_versions(),
        "analysis": analysis.to_dict(),
        "sources": sources,
        "counts": {"chunks": n_chunks, "sentences": n_sentences},
        "dense": dense.to_dict(),
        "vectors_dtype": np.dtype(dtype).name,
    }
    _write_manifest(gen, manifest)


COLLECT_FROM = 20_000
"""Passages from which a build runs a full garbage collection between its phases. A
collection walks every live object (the tokenizer's vocabulary alone is 250k strings:
35 ms a call here) and frees only reference cycles, which weigh when a build held many
passages; a small build leaves them to Python's own collector."""


def release_memory(*, collect: bool = True) -> None:
    """Hand freed heap memory back to the system (glibc's ``malloc_trim``; elsewhere a
    no-op), so the next phase of a build starts from a smaller resident size instead of
    one swollen by the last; with ``collect``, collect garbage first."""
    if collect:
        gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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


