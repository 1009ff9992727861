"""The library's front door: one object that ingests, searches and answers."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from .errors import IndexMissingError
from .index.analysis import AnalysisSettings
from .index.builder import index_exists, ingest, remove_sources
from .index.encoders import Encoder, get_encoder
from .index.store import BuildReport, Index, Progress, SourceInfo
from .qa import abstain
from .qa.answer import AnswerSettings, candidates, features, make_answer
from .qa.search import RetrievalSettings, clean_question, rank, score_all
from .settings import Settings, bundled_corpus
from .types import Hit, Result


class Vraagbaak:
    """Ask questions of an index of Dutch documents.

    Construction only stores settings; the index and the encoder load on first use.

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
        """Index ``paths`` (default: the bundled corpus). See :func:`vraagbaak.index.ingest`."""
        report = ingest(
            list(paths) if paths else [bundled_corpus()],
            self.settings,
            add=add,
            analysis=analysis,
            progress=progress,
        )
        with self._lock:
            self._index = None
        return report

    def remove(self, sources: Iterable[str]) -> BuildReport:
        """Take sources out of the index."""
        report = remove_sources(sources, self.settings)
        with self._lock:
            self._index = None
        return report

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

    @property
    def encoder(self) -> Encoder:
        return get_encoder(self.settings.encoder)

    def sources(self) -> list[SourceInfo]:
        return self.index.sources

    # -- questions -----------------------------------------------------------

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
        rs = (
            self.retrieval
            if method is None
            else RetrievalSettings(**{**self.retrieval.__dict__, "method": method})
        )
        ix = self.index
        scores = score_all(ix, self.encoder, q, sources=sources)
        return rank(ix, scores, rs, top_k=top_k or self.settings.top_k)

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        sources: Iterable[str] | None = None,
        method: str | None = None,
        min_confidence: float | None = None,
    ) -> Result:
        """Answer ``question``: the answering sentence with its citation, or an abstention,
        plus the ranked passages."""
        q = clean_question(question)
        ix = self.index
        rs = (
            self.retrieval
            if method is None
            else RetrievalSettings(**{**self.retrieval.__dict__, "method": method})
        )
        scores = score_all(ix, self.encoder, q, sources=sources)
        k = top_k or self.settings.top_k
        pool = rank(ix, scores, rs, top_k=max(k, self.answering.passages))
        cands = candidates(ix, q, pool, scores, self.answering)
        best = cands[0] if cands else None
        conf = abstain.confidence(features(scores, best, pool[0].score if pool else 0.0))
        limit = abstain.threshold(
            min_confidence if min_confidence is not None else self.settings.abstain_threshold
        )
        answer = (
            make_answer(ix, best, conf, window=self.answering.window)
            if best is not None and conf >= limit
            else None
        )
        return Result(
            question=q,
            hits=tuple(pool[:k]),
            answer=answer,
            abstained=answer is None,
            confidence=conf,
        )
