"""The library's front door: one object that ingests, searches and answers."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import IndexMissingError
from .index.analysis import AnalysisSettings, looks_dutch
from .index.builder import index_exists, ingest, remove_sources
from .index.encoders import Encoder, get_encoder
from .index.layout import live_generation
from .index.reader import CheckReport, Index, SourceInfo
from .index.store import BuildReport, Progress
from .qa import abstain
from .qa.answer import (
    FEATURES,
    AnswerSettings,
    Candidate,
    candidates,
    features,
    make_answer,
    read,
)
from .qa.reader import Reader, get_reader
from .qa.search import (
    RetrievalSettings,
    Scores,
    bm25_scores,
    check_sources,
    clean_question,
    rank,
    score_all,
    score_candidates,
)
from .settings import Settings, bundled_corpus, check_min_confidence
from .types import Hit, Result

if TYPE_CHECKING:
    from .backends.milvus import MilvusBackend


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
        retrieval: RetrievalSettings | None = None,
        answering: AnswerSettings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.retrieval = retrieval or RetrievalSettings()
        self.answering = answering or AnswerSettings()
        self._index: Index | None = None
        self._backend: MilvusBackend | None = None
        self._checked: Index | None = None
        self._lock = threading.Lock()

    # -- index management ----------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path] | None = None,
        *,
        add: bool = False,
        analysis: AnalysisSettings | None = None,
        progress: Progress | None = None,
    ) -> BuildReport:
        """Index ``paths`` (default: the bundled corpus). See :func:`vraagbaak.index.ingest`.

        With the Milvus backend, the index is then copied into Milvus (when Milvus does not
        hold this very index already); a notice in the report says which.
        """
        backend = self.backend
        if backend is not None:
            backend.client  # noqa: B018 - fail on an unreachable Milvus before the work
        report = ingest(
            list(paths) if paths else [bundled_corpus()],
            self.settings,
            add=add,
            analysis=analysis,
            progress=progress,
        )
        with self._lock:
            self._index = None
        self._sync_backend(report, progress)
        return report

    def remove(self, sources: Iterable[str]) -> BuildReport:
        """Take sources out of the index (and out of Milvus, with the Milvus backend)."""
        report = remove_sources(sources, self.settings)
        with self._lock:
            self._index = None
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
                    self.settings.milvus_uri or "", token=self.settings.milvus_token
                )
            return self._backend

    def close(self) -> None:
        """Close the connection to Milvus, if one is open."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
            self._checked = None

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
        self._checked = ix

    def has_index(self) -> bool:
        return index_exists(self.settings)

    def ensure_index(self, progress: Progress | None = None) -> BuildReport | None:
        """Build the index of the bundled corpus when there is none yet."""
        if self.has_index():
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
            return True

    @property
    def reader(self) -> Reader | None:
        """The reading model (loaded on first use), or None when it is off or not shipped."""
        return self._reader_for(None)

    def _reader_for(self, on: bool | None) -> Reader | None:
        """The reader when ``on`` (None: as ``answering.reader`` says) and one ships."""
        use = self.answering.reader if on is None else on
        return get_reader(self.settings.cache_dir) if use else None

    @property
    def encoder(self) -> Encoder:
        return get_encoder(self.settings.encoder)

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

    def _scores(self, ix: Index, question: str, sources: Iterable[str] | None) -> Scores:
        """The candidates' scores: all from the local index, or candidates found by Milvus
        (its dense and BM25 top-N) scored from the local index.

        Milvus only proposes candidates, as FAISS and the BM25 top-N do in a large local
        index; their scores (vectors and BM25) are vraagbaak's own, so fusion and the
        calibrated abstention mean the same on both backends.
        """
        backend = self.backend
        if backend is None:
            return score_all(ix, self.encoder, question, sources=sources)
        wanted = check_sources(ix, sources)
        if self._checked is not ix:
            backend.check(ix)
            self._checked = ix
        q = self.encoder.encode([question], is_query=True)[0]
        ids, _ = backend.retrieve(q, question, sources=wanted)
        return score_candidates(ix, q, ids, bm25_scores(ix, question)[ids])

    def _retrieval(self, method: str | None) -> RetrievalSettings:
        """The retrieval settings, with another method when one is asked for."""
        return self.retrieval if method is None else replace(self.retrieval, method=method)

    def search(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: Iterable[str] | None = None,
        method: str | None = None,
    ) -> list[Hit]:
        """The passages that best match ``question``."""
        q = clean_question(question)
        rs = self._retrieval(method)
        ix = self.index
        scores = self._scores(ix, q, sources)
        return rank(ix, scores, rs, top_k=top_k or self.settings.top_k)

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
        plus the ranked passages.

        With the reading model (``answering.reader``, or ``reader_on`` for this question),
        it picks the answer among the best candidate sentences, its verdict weighs in the
        confidence, and the passage holding the answer is ranked first.

        Raises:
            InputError: the question is empty, or ``min_confidence`` is not in 0..1.
        """
        q = clean_question(question)
        min_confidence = check_min_confidence(min_confidence)
        ix = self.index
        rs = self._retrieval(method)
        scores = self._scores(ix, q, sources)
        k = top_k or self.settings.top_k
        pool = rank(ix, scores, rs, top_k=max(k, self.answering.passages))
        cands = candidates(ix, q, pool, scores, self.answering)
        reader = self._reader_for(reader_on)
        best: Candidate | None
        if reader is not None and cands:
            readings = read(reader, ix, q, cands, self.answering.read)
            chosen = readings[0].candidate
            best = chosen
            evidence = dict(zip(FEATURES, features(ix, q, scores, best), strict=True))
            evidence["reader_logit"] = readings[0].logit
            cal = reader.card.calibration
            conf = abstain.reader_confidence(evidence, cal)
            default_limit = float(cal.get("threshold", abstain.DEFAULT_THRESHOLD))
            # The passage that holds the answer comes first.
            pool = sorted(pool, key=lambda h: h.chunk.id != chosen.chunk_id)
            pool = [replace(h, rank=i + 1) for i, h in enumerate(pool)]
        else:
            best = cands[0] if cands else None
            conf = abstain.confidence(features(ix, q, scores, best), lexical=looks_dutch(q))
            default_limit = abstain.threshold()
        limit = (
            min_confidence
            if min_confidence is not None
            else self.settings.abstain_threshold
            if self.settings.abstain_threshold is not None
            else default_limit
        )
        answer = (
            make_answer(ix, best, conf, window=self.answering.window)
            if best is not None and conf >= limit
            else None
        )
        notices: tuple[str, ...] = ()
        if len(q) < len(clean_question(question, max_chars=len(str(question)))):
            notices = (f"The question was cut to its first {len(q)} characters.",)
        return Result(
            question=q,
            hits=tuple(pool[:k]),
            answer=answer,
            abstained=answer is None,
            notices=notices,
            confidence=conf,
        )
