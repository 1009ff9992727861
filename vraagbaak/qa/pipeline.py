"""The question pipeline, read top-down: from a question to a cited answer or an abstention.

:meth:`Pipeline.ask` runs these steps over one opened :class:`~vraagbaak.index.reader.Index`:

1. **analyse** (:func:`.question.analyse`): clean the question once, take its terms and
   their IDF, embed it, and tell its language;
2. **propose** (a :class:`.search.Retriever`): the candidate passages, from the local
   index or from Milvus;
3. **score** (:func:`.search.score_candidates`): the candidates' passage, best-sentence and
   BM25 scores, exactly, from the index's vectors;
4. **rank** (:func:`.search.rank`, fused by :mod:`.fusion`): the best passages;
5. **choose** (:func:`.answer.candidates`): score every sentence of the best passages;
6. **read** (optional, :func:`.answer.read`): the reading model picks among the best
   sentences, and the passage holding its choice is ranked first; where the index's
   sentence vectors come from their passage's pass (``upper``, the default), the
   sentences it reads are first compared as read alone (:func:`.answer.exact_dense`);
7. **judge** (:mod:`.abstain`): the evidence (:class:`.abstain.Evidence`) becomes a
   confidence, by the abstention model (or the reader's calibration); 0 when the question
   asks in so many words for a number or a date that the answer lacks
   (:meth:`Judgement.kind_gated`);
8. **answer** (:func:`.answer.make_answer`): quote the answer exactly, or abstain when the
   confidence is below the threshold.

Every step is a function over arrays and chunks; the pipeline only passes their results
on. :class:`vraagbaak.Vraagbaak` builds one per opened index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ..errors import InputError
from ..index.encoders import Encoder
from ..index.reader import Index
from ..settings import RetrievalSettings, Settings, check_min_confidence
from ..types import Hit, Result
from . import abstain, translate
from .answer import Candidate, candidates, exact_dense, make_answer, read
from .answer_type import Kind, asked_kind, explicit_kind
from .question import Question, analyse, looks_dutch
from .reader import Reader
from .search import LocalRetriever, Retriever, Scores, check_sources, rank, score_candidates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgement:
    """The answer candidate chosen and how sure the pipeline is of it.

    Attributes:
        best: the chosen sentence (None when no passage has one).
        confidence: the probability that the sources answer the question.
        threshold: the confidence the model was calibrated to answer at.
        evidence: what the confidence was computed from.
        reader_logit: the reading model's verdict on ``best``, when it read.
    """

    best: Candidate | None
    confidence: float
    threshold: float
    evidence: abstain.Evidence
    reader_logit: float | None = None
    lacks: Kind | None = None
    """The kind of answer the question asks for in so many words and ``best`` lacks, when
    the gate turned the answer down for it (confidence 0)."""

    def kind_gated(self, question: str, gate: str) -> Judgement:
        """This judgement, or with confidence 0 when the question asks in so many words
        for a number or a date and ``best`` holds none (unless ``gate`` is ``off``): such a
        sentence does not answer it, however close it comes (README, "No number, no
        answer")."""
        kind = explicit_kind(question) if gate != "off" else None
        if kind is None or kind != asked_kind(question):  # kind_miss is asked_kind's
            return self
        if self.best is None or not self.best.kind_miss:
            return self
        return replace(self, confidence=0.0, lacks=kind)


@dataclass
class Pipeline:
    """The steps of answering a question over one index.

    Attributes:
        index: the opened index (texts, vectors, BM25).
        encoder: embeds the question (the index's encoder).
        settings: the settings tree (retrieval, answering, top_k, thresholds).
        retriever: proposes candidate passages; default: the local index.
        reader: the reading model, used when ``settings.answering.reader`` or a call asks.
    """

    index: Index
    encoder: Encoder
    settings: Settings = field(default_factory=Settings)
    retriever: Retriever | None = None
    reader: Reader | None = None
    _dutch_collection: bool | None = field(default=None, init=False, repr=False)

    def ask(
        self,
        text: str,
        *,
        top_k: int | None = None,
        sources: Iterable[str] | None = None,
        method: str | None = None,
        min_confidence: float | None = None,
        reader_on: bool | None = None,
    ) -> Result:
        """Answer the question: the answering sentence with its citation, or an
        abstention, plus the ranked passages.

        With the reading model (``answering.reader``, or ``reader_on`` for this question),
        it picks the answer among the best candidate sentences, its verdict weighs in the
        confidence, and the passage holding the answer is ranked first.

        Raises:
            InputError: the question is empty, ``min_confidence`` is not in 0..1, or a
                source is not in the index.
        """
        min_confidence = check_min_confidence(min_confidence)
        cfg = self.settings.answering
        k = self.top_k(top_k)
        q = self.question(text)
        scores = self.scores(q, sources)
        pool = rank(self.index, scores, self.retrieval(method, q), top_k=max(k, cfg.passages))
        # a question without a word gets no answer, only the nearest passages
        cands = candidates(self.index, q, pool, scores, cfg) if q.has_words else []
        use_reader = cfg.reader if reader_on is None else reader_on
        verdict = self.judge(q, scores, cands, self.reader if use_reader else None)
        if verdict.reader_logit is not None and verdict.best is not None:
            chosen = verdict.best.chunk_id  # the passage that holds the answer comes first
            pool = sorted(pool, key=lambda h: h.chunk.id != chosen)
            pool = [replace(h, rank=i + 1) for i, h in enumerate(pool)]
        limit = next(
            x
            for x in (min_confidence, self.settings.abstain_threshold, verdict.threshold)
            if x is not None
        )
        answer = (
            make_answer(self.index, verdict.best, verdict.confidence, cfg)
            if verdict.best is not None and verdict.confidence >= limit
            else None
        )
        notices: tuple[str, ...] = (
            (f"The question was cut to its first {len(q.text)} characters.",) if q.cut else ()
        )
        if verdict.lacks is not None and answer is None:
            what = "a number" if verdict.lacks == "number" else "a date"
            notices += (f"The question asks for {what}; the sentence that fits it best "
                        f"holds none, so vraagbaak does not answer.",)
        if not q.has_words:
            notices += ("The question holds no words, only figures or signs: vraagbaak "
                        "does not answer it. The nearest passages are shown.",)
        return Result(
            question=q.text,
            hits=tuple(pool[:k]),
            answer=answer,
            abstained=answer is None,
            notices=notices,
            confidence=verdict.confidence,
        )

    def search(
        self,
        text: str,
        *,
        top_k: int | None = None,
        sources: Iterable[str] | None = None,
        method: str | None = None,
    ) -> list[Hit]:
        """Steps 1-4: the passages that best match the question."""
        k = self.top_k(top_k)
        q = self.question(text)
        scores = self.scores(q, sources)
        return rank(self.index, scores, self.retrieval(method, q), top_k=k)

    # -- the steps ------------------------------------------------------------

    def question(self, text: str) -> Question:
        """Step 1: the question, analysed once; an English question over Dutch sources
        with the Dutch translations of its words among its terms (:mod:`.translate`; the
        other way round measured no better, see the README)."""
        q = analyse(text, self.index, self.encoder, max_chars=self.settings.max_question_chars)
        rs = self.settings.retrieval
        if rs.translate and rs.translations_per_word and not q.dutch and self.dutch_collection():
            dictionary = translate.installed()
            if dictionary is not None:
                words = dictionary.dutch_words(q.text, rs.translations_per_word)
                terms = [t for w in words for t in self.index.analyzer.terms(w)]
                q = q.with_terms(terms, self.index)
        return q

    def scores(self, q: Question, sources: Iterable[str] | None = None) -> Scores:
        """Steps 2 and 3: the candidate passages and their scores."""
        wanted = check_sources(self.index, sources)
        retriever = self.retriever or LocalRetriever(self.settings.retrieval)
        proposal = retriever.propose(self.index, q, wanted)
        return score_candidates(self.index, q.vector, proposal.ids, proposal.lexical)

    def retrieval(self, method: str | None = None, q: Question | None = None) -> RetrievalSettings:
        """The retrieval settings, with another method when one is asked for, and for a
        question ``q`` not in the collection's language, BM25 weighed by
        ``w_lexical_crosslingual``."""
        rs = self.settings.retrieval
        if method is not None:
            rs = rs.with_(method=method)
        if q is not None and not self.same_language(q):
            rs = rs.with_(w_lexical=rs.w_lexical_crosslingual)
        return rs

    def same_language(self, q: Question) -> bool:
        """Whether ``q`` is in its collection's language (Dutch and Dutch, or English and
        English): its words shared with the text are evidence, and it needs no
        translation."""
        return q.dutch == self.dutch_collection()

    def dutch_collection(self) -> bool:
        """Whether most of the index's text reads as Dutch (:func:`.question.looks_dutch`
        on up to 64 passages spread over the index; computed once)."""
        if self._dutch_collection is None:
            n = len(self.index)
            picks = sorted({i * n // 64 for i in range(64)}) if n else []
            votes = [looks_dutch(self.index.chunks[i].text) for i in picks]
            self._dutch_collection = not votes or 2 * sum(votes) >= len(votes)
        return self._dutch_collection

    def top_k(self, top_k: int | None) -> int:
        """How many passages to return: ``top_k``, or the settings' when None.

        Raises:
            InputError: ``top_k`` is not a whole number greater than 0.
        """
        if top_k is None:
            return self.settings.top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
            raise InputError(f"top_k must be a whole number greater than 0. Currently {top_k!r}.")
        return top_k

    def judge(
        self, q: Question, scores: Scores, cands: list[Candidate], reader: Reader | None
    ) -> Judgement:
        """Steps 6 and 7: choose the answer candidate (by the reader, when there is one)
        and say how sure that it answers."""
        gate = self.settings.answering.kind_gate
        if reader is not None and cands:
            n = self.settings.answering.read
            if self.index.sentences_from_passages:  # their error exceeds the margins
                cands = exact_dense(
                    self.index, self.encoder, q, cands, n, self.settings.answering.w_dense
                )
            cal = reader.card.calibration
            weight = float(cal.get("cheap_weight", 0.0))
            passage_weight = float(cal.get("passage_weight", 0.0))
            readings = read(reader, self.index, q, cands, n, weight, passage_weight)
            best = readings[0]
            if gate == "rechoose" and explicit_kind(q.text) is not None:
                best = next((r for r in readings if not r.candidate.kind_miss), best)
            ev = abstain.evidence(self.index, q, scores, best.candidate)
            same = self.same_language(q)
            return Judgement(
                best=best.candidate,
                # both must say the sources answer: the reader's verdict (with the
                # meaning evidence) and the retrieval evidence's own model
                confidence=min(
                    abstain.reader_confidence(ev, best.logit, cal, same_language=same),
                    abstain.confidence(ev, lexical=same),
                ),
                threshold=float(cal.get("threshold", abstain.DEFAULT_THRESHOLD)),
                evidence=ev,
                reader_logit=best.logit,
            ).kind_gated(q.text, gate)
        top = cands[0] if cands else None
        if gate == "rechoose" and top is not None and explicit_kind(q.text) is not None:
            top = next((c for c in cands if not c.kind_miss), top)
        ev = abstain.evidence(self.index, q, scores, top)
        return Judgement(
            best=top,
            confidence=abstain.confidence(ev, lexical=self.same_language(q)),
            threshold=abstain.threshold(),
            evidence=ev,
        ).kind_gated(q.text, gate)
