"""Ingest: read sources, split them, embed and index them, and swap the new index in."""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError, VraagbaakError
from ..ingest.chunker import chunk_document
from ..ingest.readers import discover, read_document, read_file_bytes, shown
from ..settings import DEFAULT_SENTENCE_VECTORS, AnalysisSettings, ChunkSettings, Settings
from ..types import Chunk, Document, Heading
from .cache import EmbeddingCache
from .embedding import passage_mode, sentence_mode, sentence_model
from .encoders import Encoder, settings_encoder
from .layout import (
    check_writable_layout,
    code_versions,
    holds_index,
    new_generation_dir,
    write_error,
    write_lock,
)
from .reader import Index, SourceInfo
from .store import BuildReport, Progress, build_generation, swap_in

logger = logging.getLogger(__name__)


def _old_index(settings: Settings, *, add: bool) -> Index | None:
    """The live index, checked; None when there is none, or when it is damaged and the
    ingest replaces it anyway. ``--add`` keeps what is indexed, so there a damaged index
    is an error: nothing it holds is dropped unasked."""
    try:
        return Index.open(settings.index_dir, verify=True)
    except VraagbaakError:
        if add and holds_index(settings.index_dir):
            raise
        return None


def sentence_vectors_for(settings: Settings, old: Index | None, encoder: Encoder) -> str:
    """The way an ingest makes sentence vectors: the one ``settings`` asks for, or with
    ``auto`` (the default) the way the index there was made by the same encoder, so that
    adding or removing a file does not embed a whole archive again (an index made another
    way lends no sentence vectors); else :data:`~vraagbaak.settings.DEFAULT_SENTENCE_VECTORS`.
    """
    if settings.sentence_vectors != "auto":
        return settings.sentence_vectors
    if old is not None and old.manifest["encoder"]["id"] == encoder.id:
        return old.sentence_mode
    return DEFAULT_SENTENCE_VECTORS


def _same_settings(
    old: Index, settings: Settings, encoder: Encoder, analysis: AnalysisSettings
) -> bool:
    m = old.manifest
    sentences = sentence_mode(encoder, settings.sentence_vectors)
    return (
        m["encoder"]["id"] == encoder.id
        and old.sentence_mode == sentences
        and m["encoder"].get("sentence_model") == sentence_model(encoder, sentences)
        and m["encoder"].get("passages", "whole") == passage_mode(encoder)
        and m["chunking"] == settings.chunking.__dict__
        and m["analysis"] == analysis.to_dict()
        and m.get("versions") == code_versions()
    )


def source_names(
    found: list[tuple[Path, str]], old: list[SourceInfo], *, add: bool
) -> list[tuple[Path, str]]:
    """The source name each found file is indexed under, given the sources already indexed.

    A file that is already indexed keeps its name, however it is named now (a file indexed
    through its folder and added again on its own is the same source, not a second one).
    A new file whose name an indexed source already has takes its full path as its name
    when that source is another file that is kept (``add``, and the file is still there),
    so that adding it does not replace the other; otherwise it takes the source's place,
    as a folder moved elsewhere does.
    """
    by_path: dict[str, str] = {}
    for s in sorted(old, key=lambda s: len(s.source)):  # a file before its attachments
        by_path.setdefault(s.path, s.source)
    old_path = {s.source: s.path for s in old}
    real = [str(p.resolve()) for p, _ in found]
    kept = {by_path[r] for r in real if r in by_path}
    out: list[tuple[Path, str]] = []
    taken: set[str] = set()
    for (p, name), r in zip(found, real, strict=True):
        if r in by_path:
            name = by_path[r]
        elif name in kept or name in taken or (
            add and name in old_path and old_path[name] != r and Path(old_path[name]).exists()
        ):
            name = r
        taken.add(name)
        out.append((p, name))
    return out


def ingest(
    paths: Iterable[str | Path],
    settings: Settings,
    *,
    add: bool = False,
    progress: Progress | None = None,
    encoder: Encoder | None = None,
) -> BuildReport:
    """Bring the index in line with ``paths``.

    Args:
        paths: files and folders (folders are read recursively).
        settings: where the index lives, which encoder, passage sizes, BM25 analysis.
        add: keep the sources already indexed and add (or update) these; by default the
            index holds exactly the sources under ``paths``.
        progress: called as the ingest advances.
        encoder: the encoder to embed with (default: the one ``settings.encoder`` names).

    Returns:
        What was added, changed, removed, skipped and how much was embedded.

    Raises:
        InputError: a path is missing, or nothing readable was found.
        IndexLockedError: another ingest is running.
    """
    t0 = time.perf_counter()
    analysis = settings.analysis
    report = BuildReport()
    if encoder is None:
        encoder = settings_encoder(settings)  # cheap checks first, then walk the folders
    check_writable_layout(settings.index_dir)
    found, skipped = discover(paths)
    report.skipped.extend((shown(str(p)), why) for p, why in skipped)

    with write_lock(settings.index_dir):
        check_writable_layout(settings.index_dir)
        old = _old_index(settings, add=add)
        settings = settings.with_(sentence_vectors=sentence_vectors_for(settings, old, encoder))
        reusable = old is not None and _same_settings(old, settings, encoder, analysis)
        old_by_source = {s.source: s for s in old.sources} if old else {}
        found = source_names(found, list(old.sources) if old else [], add=add)

        documents: list[tuple[Document, str]] = []
        chunks_by_doc: list[list[Chunk]] = []
        names = set()
        for i, (path, name) in enumerate(found):
            if progress:
                progress("reading", i, len(found))
            try:
                sha = hashlib.sha256(read_file_bytes(path)).hexdigest()
            except InputError as e:
                where = shown(str(path))
                report.skipped.append((where, str(e).removeprefix(f"{where}: ")))
                continue
            prev = old_by_source.get(name)
            attached: list[tuple[Document, list[Chunk]]] = []  # an e-mail's attachments
            if reusable and old is not None and prev is not None and prev.sha256 == sha:
                doc, doc_chunks = _reuse(old, name)
                report.unchanged.append(name)
                attached = [_reuse(old, s) for s in old_by_source if s.startswith(f"{name}#")]
                report.unchanged.extend(a.source for a, _ in attached)
            else:
                try:
                    doc = read_document(path, source=name)
                except InputError as e:
                    why = str(e)
                    why = why[len(name) + 2 :] if why.startswith(f"{name}: ") else why
                    report.skipped.append((shown(str(path)), why))
                    continue
                doc_chunks = chunk_document(doc, settings.chunking)
                (report.changed if prev is not None else report.added).append(name)
                report.notices.extend(doc.notices)
                attached = [(a, chunk_document(a, settings.chunking)) for a in doc.attachments]
                for a, _ in attached:
                    (report.changed if a.source in old_by_source else report.added).append(a.source)
            for d, d_chunks in [(doc, doc_chunks), *attached]:
                names.add(d.source)
                documents.append((d, str(path.resolve())))
                chunks_by_doc.append(d_chunks)

        if not documents:
            # nothing under the given paths could be read: fail, and leave the index as it is
            why = "; ".join(f"{Path(p).name}: {w.rstrip('.')}" for p, w in report.skipped[:5])
            more = f" and {len(report.skipped) - 5} more" if len(report.skipped) > 5 else ""
            raise InputError(
                "Nothing to index: no readable .txt, .md, .pdf, .docx or .html files found"
                + (f" ({why}{more})." if why else ".")
                + (" The index was not changed." if old is not None else "")
            )

        if add and old is not None:
            for s in old.sources:
                if s.source not in names:
                    doc, doc_chunks = _reuse(old, s.source)
                    if reusable:
                        report.unchanged.append(s.source)
                    else:  # settings changed: re-split the stored text
                        doc_chunks = chunk_document(doc, settings.chunking)
                        report.changed.append(s.source)
                    documents.insert(0, (doc, s.path))
                    chunks_by_doc.insert(0, doc_chunks)
                    names.add(s.source)
        report.removed = sorted(set(old_by_source) - names)

        report.documents = len(documents)
        report.chunks = sum(len(c) for c in chunks_by_doc)
        if reusable and not report.added and not report.changed and not report.removed:
            report.up_to_date = True
            report.reused = report.chunks
            report.seconds = time.perf_counter() - t0
            return report

        _write_generation(
            settings,
            documents,
            chunks_by_doc,
            encoder=encoder,
            encoder_spec=settings.encoder,
            chunking=settings.chunking,
            analysis=analysis,
            report=report,
            progress=progress,
            indexed_at={n: old_by_source[n].indexed_at for n in report.unchanged},
            previous=old,
        )
    report.seconds = time.perf_counter() - t0
    return report


def _write_generation(
    settings: Settings,
    documents: list[tuple[Document, str]],
    chunks_by_doc: list[list[Chunk]],
    *,
    encoder: Encoder,
    encoder_spec: str,
    chunking: ChunkSettings,
    analysis: AnalysisSettings,
    report: BuildReport,
    indexed_at: dict[str, str],
    progress: Progress | None = None,
    previous: Index | None = None,
) -> None:
    """Build a new generation and make it live; on any failure remove it, so the previous
    index stays live and intact. ``previous`` (the live index) lends its vectors and is
    released before the swap, so the swap can remove it.

    Raises:
        IndexWriteError: the folder cannot be written (read-only, full, no permission).
    """
    cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite")
    try:
        gen = new_generation_dir(settings.index_dir)
        gen.mkdir()
    except OSError as e:
        cache.close()
        raise write_error(settings.index_dir, e) from None
    try:
        build_generation(
            gen,
            documents,
            chunks_by_doc,
            encoder=encoder,
            encoder_spec=encoder_spec,
            chunking=chunking,
            analysis=analysis,
            cache=cache,
            report=report,
            progress=progress,
            indexed_at=indexed_at,
            previous=previous,
            sentence_vectors=settings.sentence_vectors,
        )
        if previous is not None:
            previous.close()
        swap_in(settings.index_dir, gen)
    except OSError as e:
        shutil.rmtree(gen, ignore_errors=True)
        raise write_error(settings.index_dir, e) from None
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)
        raise
    finally:
        cache.close()


def _reuse(old: Index, source: str) -> tuple[Document, list[Chunk]]:
    """A source's document and chunks from the previous index, without re-reading it."""
    info = next(s for s in old.sources if s.source == source)
    doc = Document(
        source=info.source,
        text=old.source_text(source),
        title=info.title,
        sha256=info.sha256,
        kind=info.kind,
        date=info.date,
        notices=info.notices,
        author=info.author,
        organisation=info.organisation,
        ocr_pages=info.ocr_pages,
        pages=info.pages,
        headings=tuple(Heading(*h) for h in info.headings),
    )
    return doc, old.chunks_of(source)


def remove_sources(sources: Iterable[str], settings: Settings) -> BuildReport:
    """Take sources out of the index (by source name or by file path).

    Raises:
        InputError: a source is not in the index.
    """
    t0 = time.perf_counter()
    with write_lock(settings.index_dir):
        old = Index.open(settings.index_dir, verify=True)
        by_name = {s.source: s for s in old.sources}
        by_path = {s.path: s for s in old.sources}
        drop = set()
        for raw in sources:
            s = by_name.get(str(raw)) or by_path.get(str(Path(raw).expanduser().resolve()))
            if s is not None:
                drop.add(s.source)  # with an e-mail's attachments
                drop.update(x.source for x in old.sources if x.source.startswith(f"{s.source}#"))
                continue
            # a folder (by path or by the name its sources start with) removes all in it
            folder = Path(raw).expanduser().resolve()
            prefix = str(raw).rstrip("/") + "/"
            inside = [
                x.source
                for x in old.sources
                if x.source.startswith(prefix) or Path(x.path).is_relative_to(folder)
            ]
            if not inside:
                raise InputError(
                    f"'{raw}' is not in the index.",
                    hint="See what is indexed with: vraagbaak sources",
                )
            drop.update(inside)
        keep = [s for s in old.sources if s.source not in drop]
        if not keep:
            raise InputError("Removing these would leave the index empty; nothing was removed.")
        documents, chunks_by_doc = [], []
        for s in keep:
            doc, doc_chunks = _reuse(old, s.source)
            documents.append((doc, s.path))
            chunks_by_doc.append(doc_chunks)
        report = BuildReport(documents=len(keep), chunks=sum(len(c) for c in chunks_by_doc))
        report.removed = sorted(drop)
        report.unchanged = [s.source for s in keep]
        # what is kept is written again the way it was made: its encoder, passages,
        # analysis and sentence vectors (so it is carried over, not embedded again)
        settings = settings.with_(sentence_vectors=old.sentence_mode)
        _write_generation(
            settings,
            documents,
            chunks_by_doc,
            encoder=settings_encoder(settings.with_(encoder=old.encoder_spec)),
            encoder_spec=old.encoder_spec,
            chunking=ChunkSettings(**old.manifest["chunking"]),
            analysis=AnalysisSettings(**old.manifest["analysis"]),
            report=report,
            indexed_at={s.source: s.indexed_at for s in keep},
            previous=old,
        )
    report.seconds = time.perf_counter() - t0
    return report


def index_exists(settings: Settings) -> bool:
    """Whether an index is there (a damaged one counts, and so do generations without
    their ``current`` link: opening it reports the damage, rather than a new index
    silently replacing it)."""
    return holds_index(settings.index_dir)
