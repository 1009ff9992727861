"""The library's front door: one object that ingests, checks, searches and answers.

:class:`Vraagbaak` is a thin facade: it holds the settings tree, opens the index and the
encoder on first use, and hands questions to a :class:`~vraagbaak.qa.pipeline.Pipeline`
over the opened index, where the question flow can be read top-down.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import IndexMissingError
from .index.builder import index_exists, ingest, remove_sources
from .index.encoders import Encoder, settings_encoder
from .index.layout import check_writable_layout, live_generation, live_manifest
from .index.reader import CheckReport, Index, SourceInfo
from .index.store import BuildReport, Progress
from .qa.pipeline import Pipeline
from .qa.reader import Reader, get_reader
from .qa.search import Retriever
from .qa.topic import TopicResult, topic_passages
from .settings import Settings, bundled_corpus
from .types import Hit, Result

if TYPE_CHECKING:
    from .backends.milvus import MilvusBackend, MilvusRetriever


class Vraagbaak:
    """Ask questions of an index of Dutch documents.

    Construction only stores settings; the index and the encoder load on first use.

    With ``Settings(backend="milvus", milvus_uri=...)``, :meth:`ingest` also copies the
    index into Milvus, and :meth:`search`/:meth:`ask` take their candidate passages from
    Milvus; their scores, texts and citations still come from the local index.

    >>> vb = Vraagbaak(Settings(index_dir=Path("/tmp/idx")))   # doctest: +SKIP
    >>> vb.ingest()                                             # doctest: +SKIP
    >>> vb.ask("Hoeveel gemeenten doen mee aan de Village Deals?").answer.text  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        encoder: Encoder | None = None,
        retriever: Retriever | None = None,
    ) -> None:
        """
        Args:
            settings: the settings tree (default: ``Settings()``).
            encoder: embeds questions and passages (default: the one ``settings.encoder``
                names, loaded on first use); its ``id`` must be the index's.
            retriever: proposes candidate passages (default: the local index, or Milvus
                with ``settings.backend == "milvus"``).
        """
        self.settings = settings or Settings()
        self._encoder = encoder
        self._retriever = retriever
        self._index: Index | None = None
        self._pipeline: Pipeline | None = None
        self._backend: MilvusBackend | None = None
        self._milvus: MilvusRetriever | None = None
        self._lock = threading.Lock()

    # -- index management ----------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path] | str | Path | None = None,
        *,
        add: bool = False,
        progress: Progress | None = None,
    ) -> BuildReport:
        """Index ``paths`` (default: the bundled corpus; one path may be given on its own).
        See :func:`vraagbaak.index.ingest`.

        With the Milvus backend, the index is then copied into Milvus (when Milvus does not
        hold this very index already); a notice in the report says which.
        """
        backend = self.backend
        if backend is not None:
            backend.client  # noqa: B018 - fail on an unreachable Milvus before the work
        if isinstance(paths, str | os.PathLike):  # one path
            paths = [paths]
        report = ingest(
            list(paths) if paths else [bundled_corpus()],
            self.settings,
            add=add,
            progress=progress,
            encoder=self._encoder,
        )
        self._forget_index()
        self._sync_backend(report, progress)
        return report

    def remove(self, sources: Iterable[str] | str) -> BuildReport:
        """Take sources out of the index (and out of Milvus, with the Milvus backend)."""
        report = remove_sources([sources] if isinstance(sources, str) else sources, self.settings)
        self._forget_index()
        self._sync_backend(report, None)
        return report

    @property
    def backend(self) -> MilvusBackend | None:
        """The Milvus backend (connected on first use), or None for the local backend."""
        if self.settings.backend != "milvus":
            return None
        with self._lock:
            if self._backend is None:
                from .backends.milvus import MilvusBackend

                self._backend = MilvusBackend(
                    self.settings.milvus_uri or "",
                    token=self.settings.milvus_token,
                    candidates=self.settings.retrieval.candidates,
                )
            return self._backend

    def close(self) -> None:
        """Close the connection to Milvus, if one is open."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
            self._milvus = None
            self._pipeline = None

    def _forget_index(self) -> None:
        with self._lock:
            self._index = None
            self._pipeline = None

    def _sync_backend(self, report: BuildReport, progress: Progress | None) -> None:
        backend = self.backend
        if backend is None:
            return
        ix = self.index
        if backend.is_current(ix):
            report.notices.append(f"Milvus at {backend.uri} already holds this index.")
        else:
            n = backend.sync(ix, progress=progress)
            report.notices.append(f"Copied {n} passages into Milvus at {backend.uri}.")
        self._milvus_retriever().checked = ix

    def has_index(self) -> bool:
        return index_exists(self.settings)

    def needs_index(self) -> bool:
        """Whether :meth:`ensure_index` will build the index of the bundled corpus: there
        is no index yet, or the one there is an :meth:`outdated_bundled_index`.

        Raises:
            VraagbaakError: there is none and the folder cannot take one (it holds other
                files, or generations without their ``current`` link).
        """
        if self.has_index():
            return self.outdated_bundled_index()
        check_writable_layout(self.settings.index_dir)
        return True

    def outdated_bundled_index(self) -> bool:
        """Whether the index holds only the bundled corpus and was built by an earlier
        version of this encoder (the same name, another id: its vectors differ from the
        ones questions now get). Building it again loses nothing; an index of the user's
        own documents is never rebuilt unasked (opening it says how)."""
        manifest = live_manifest(self.settings.index_dir)
        if manifest is None:
            return False
        enc = manifest["encoder"]
        if enc["spec"] != self.settings.encoder or enc["id"] == self.encoder.id:
            return False
        corpus = bundled_corpus().resolve()
        paths = [Path(s["path"]).resolve() for s in manifest["sources"]]
        return bool(paths) and all(p.is_relative_to(corpus) for p in paths)

    def build_notice(self) -> str:
        """What :meth:`ensure_index` is about to do, for a message (when
        :meth:`needs_index`)."""
        if self.has_index():
            return (
                "The index of the bundled corpus was built by an earlier version of the "
                "encoder: building it again"
            )
        return "No index yet: building one from the bundled corpus"

    def ensure_index(self, progress: Progress | None = None) -> BuildReport | None:
        """Build the index of the bundled corpus when there is none yet, or when the one
        there is an :meth:`outdated_bundled_index`."""
        if not self.needs_index():
            return None
        return self.ingest(progress=progress)

    @property
    def index(self) -> Index:
        """The loaded index (opened on first use; checked against the encoder)."""
        with self._lock:
            if self._index is None:
                if not self.has_index():
                    raise IndexMissingError(
                        f"No index at {self.settings.index_dir}.",
                        hint="Build one with: vraagbaak ingest [PATH ...]",
                    )
                self._index = Index.open(self.settings.index_dir, encoder_id=self.encoder.id)
            return self._index

    def refresh(self) -> bool:
        """Switch to the live index generation when an ingest (by any process) has swapped
        in a new one since the index was opened; returns whether it switched. Work already
        holding the old :class:`Index` finishes on it."""
        live = live_generation(self.settings.index_dir)
        with self._lock:
            if self._index is None or live is None or live.name == self._index.root.name:
                return False
            self._index = None
            self._pipeline = None
            return True

    @property
    def reader(self) -> Reader | None:
        """The reading model (loaded on first use), or None when it is off or not shipped."""
        return self._reader_for(None)

    def _reader_for(self, on: bool | None) -> Reader | None:
        """The reader when ``on`` (None: as ``answering.reader`` says) and one ships."""
        use = self.settings.answering.reader if on is None else on
        if not use:
            return None
        s = self.settings
        return get_reader(
            s.cache_dir, engine=s.answering.reader_engine, threads=s.encoder_threads
        )

    @property
    def encoder(self) -> Encoder:
        """The encoder given, or the one ``settings`` names (shared per process)."""
        return self._encoder or settings_encoder(self.settings)

    def check(self) -> CheckReport:
        """Verify the live index in full: every file hashed against the manifest, every
        passage checked (opening does only a quick check of sizes and file edges).

        Raises:
            IndexMissingError: there is no index.
            IndexCorruptError: a file is missing or changed; the hint says how to rebuild.
        """
        if not self.has_index():
            raise IndexMissingError(
                f"No index at {self.settings.index_dir}.",
                hint="Build one with: vraagbaak ingest [PATH ...]",
            )
        ix = Index.open(self.settings.index_dir)
        try:
            return ix.verify()
        finally:
            ix.close()

    def sources(self) -> list[SourceInfo]:
        return self.index.sources

    # -- questions -----------------------------------------------------------

    @property
    def retriever(self) -> Retriever | None:
        """The retriever given to the constructor (None: the default for the backend)."""
        return self._retriever

    def _milvus_retriever(self) -> MilvusRetriever:
        backend = self.backend
        assert backend is not None
        with self._lock:
            if self._milvus is None:
                from .backends.milvus import MilvusRetriever

                self._milvus = MilvusRetriever(backend)
            return self._milvus

    def pipeline(self) -> Pipeline:
        """The question pipeline over the live index (opened on first use)."""
        ix = self.index
        retriever = self._retriever
        if retriever is None and self.settings.backend == "milvus":
            retriever = self._milvus_retriever()
        with self._lock:
            if self._pipeline is None or self._pipeline.index is not ix:
                self._pipeline = Pipeline(ix, self.encoder, self.settings, retriever)
            return self._pipeline

    def search(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: Iterable[str] | None = None,
        method: str | None = None,
    ) -> list[Hit]:
        """The passages that best match ``question``.

        Raises:
            InputError: the question is empty, or a source is not in the index.
        """
        return self.pipeline().search(question, top_k=top_k, sources=sources, method=method)

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: Iterable[str] | None = None,
        method: str | None = None,
        min_confidence: float | None = None,
        reader_on: bool | None = None,
    ) -> Result:
        """Answer ``question``: the answering sentence with its citation, or an abstention,
        plus the ranked passages (see :meth:`Pipeline.ask`).

        Raises:
            InputError: the question is empty, ``min_confidence`` is not in 0..1, or a
                source is not in the index.
        """
        pipe = self.pipeline()
        reader = self._reader_for(reader_on)
        if reader is not None:
            pipe = replace(pipe, reader=reader)
        return pipe.ask(
            question, top_k=top_k, sources=sources, method=method,
            min_confidence=min_confidence, reader_on=reader is not None,
        )

    def topic(
        self,
        topic: str,
        *,
        per_source: int = 5,
        pool: int = 50,
        sources: Iterable[str] | None = None,
    ) -> TopicResult:
        """Every passage about ``topic``, grouped per document (see :mod:`.qa.topic`).

        Raises:
            InputError: an empty topic, an option out of range, or an unknown source.
        """
        return topic_passages(
            self.pipeline(), topic, per_source=per_source, pool=pool, sources=sources
        )

