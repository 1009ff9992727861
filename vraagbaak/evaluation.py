"""Evaluation: question files, scoring as defined in the eval README, and evaluation runs.

Scoring (``../shared/eval/README.md``; pure functions below):

- A returned passage **hits** when it overlaps one evidence span by at least half of that
  evidence's length. SQuAD files: a question's gold passage is its paragraph, which is a
  document of its own; a passage hits when it lies in that paragraph (any overlap), so a
  paragraph the chunker split in two still counts as found.
- recall@k: share of answerable questions with a hit among the first k passages;
  MRR@10: mean of 1/rank of the first hit within 10 (0 when there is none).
- The **answer** hits when it is at most 400 characters long and overlaps an evidence span
  by at least half of the shorter of the two (and by at least one character). SQuAD files:
  an answer of at most 400 characters that contains a gold answer text, compared case-
  and punctuation-insensitively on word boundaries. An abstention never hits.
- Abstention accuracy (only for files with unanswerable questions): share of all questions
  where the system abstained exactly when it should (unanswerable: abstain; answerable: not).

:func:`run_eval` asks every question once per retrieval method of one index and scores
the results; :func:`prepare_squad_index` turns a SQuAD-style file into an index of its
paragraphs under the cache folder (keyed by the file's sha256, so repeat runs reuse it).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    from .api import Vraagbaak
    from .index.store import BuildReport, Progress
    from .settings import Settings

Span = tuple[str, int, int]  # (source, start, end)

MAX_ANSWER_CHARS = 400
KS = (1, 5, 10)
ALL_METHODS = ("hybrid", "hybrid+reader", "rrf", "bm25", "dense")
"""``hybrid`` is vraagbaak's fusion answered by the cheap sentence scorer and its abstention
model (``ask --no-reader``); ``hybrid+reader`` the same retrieval answered by the reading
model, vraagbaak's default since 2026-12-07;
the baselines ``rrf``, ``bm25`` and ``dense`` are retrieval methods a user might otherwise
pick, answered by the cheap sentence scorer (no reader)."""


def method_parts(method: str) -> tuple[str, bool]:
    """The retrieval method of an evaluation method and whether the reader reads."""
    if method == "hybrid+reader":
        return "hybrid", True
    return method, False



# -- question files -------------------------------------------------------------


@dataclass(frozen=True)
class EvalQuestion:
    """One question with its gold evidence.

    Attributes:
        id: the question id.
        question: the text.
        answerable: whether the sources answer it.
        evidence: gold spans ``(source, start, end)`` (jsonl files: every occurrence of every
            evidence string; SQuAD files: the paragraph).
        answers: gold answer texts (SQuAD files only).
        lang: the question's language.
        whole_passage: the gold span is a whole paragraph (SQuAD): any overlap hits.
        unlocated: evidence strings that occur in no indexed source (jsonl files).
    """

    id: str
    question: str
    answerable: bool
    evidence: tuple[Span, ...]
    answers: tuple[str, ...] = ()
    lang: str = "nl"
    whole_passage: bool = False
    unlocated: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalSet:
    """Questions plus, for SQuAD files, the documents they are asked of.

    Attributes:
        questions: the questions, in file order.
        documents: SQuAD files: file name -> text of each paragraph document.
        kind: ``jsonl`` or ``squad``.
        path: the file it was read from.
        sha256: checksum of that file's bytes.
    """

    questions: tuple[EvalQuestion, ...]
    documents: dict[str, str] = field(default_factory=dict)
    kind: str = "jsonl"
    path: str = ""
    sha256: str = ""

    @property
    def has_unanswerable(self) -> bool:
        return any(not q.answerable for q in self.questions)


def locate(evidence: str, source_texts: dict[str, str]) -> list[Span]:
    """Every occurrence of an exact evidence string in the sources (none for "")."""
    spans: list[Span] = []
    if not evidence:
        return spans
    for src, text in source_texts.items():
        start = text.find(evidence)
        while start >= 0:
            spans.append((src, start, start + len(evidence)))
            start = text.find(evidence, start + 1)
    return spans


def question_problem(d: object) -> str | None:
    """What is wrong with one parsed line of a question file (None: nothing)."""
    if not isinstance(d, dict):
        return f"a question must be a JSON object, not {type(d).__name__}"
    q = d.get("question")
    if not isinstance(q, str) or not q.strip():
        return '"question" must be a non-empty text'
    ev = d.get("evidence", [])
    if not isinstance(ev, list) or not all(isinstance(e, str) and e for e in ev):
        return '"evidence" must be a list of non-empty texts (exact quotes from a source)'
    if not isinstance(d.get("answerable", True), bool):
        return '"answerable" must be true or false'
    return None


def parse_jsonl(
    raw: str, source_texts: dict[str, str], *, name: str = "questions"
) -> list[EvalQuestion]:
    """Questions in the eval README's format; evidence strings are located in ``source_texts``.

    Raises:
        InputError: a line is not a question object.
    """
    qs: list[EvalQuestion] = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError as e:
            raise InputError(f"{name}, line {n}: not JSON ({e}).") from None
        problem = question_problem(d)
        if problem:
            raise InputError(f"{name}, line {n}: {problem}.")
        question = d["question"]
        spans: list[Span] = []
        unlocated = []
        for ev in d.get("evidence", []):
            found = locate(ev, source_texts)
            spans.extend(found)
            if not found:
                unlocated.append(ev)
        qs.append(
            EvalQuestion(
                id=str(d.get("id", n)), question=question,
                answerable=bool(d.get("answerable", True)), evidence=tuple(spans),
                lang=str(d.get("lang", "nl")), unlocated=tuple(unlocated),
            )
        )
    if not qs:
        raise InputError(f"{name}: holds no questions.")
    return qs


def squad_source(article: int, title: str, paragraph: int) -> str:
    """The file name of one SQuAD paragraph (article index keeps equal titles apart)."""
    safe = re.sub(r"[^\w\-]+", "_", title).strip("_")[:60] or "doc"
    return f"{article:03d}_{safe}_{paragraph:02d}.txt"


def parse_squad(data: Any, *, name: str = "squad") -> tuple[list[EvalQuestion], dict[str, str]]:
    """A SQuAD-style object: each paragraph becomes a document (its title as first line).

    Returns:
        The questions (evidence spans name the file names, not yet the indexed sources)
        and the documents by file name.

    Raises:
        InputError: it is not SQuAD-shaped.
    """
    docs: dict[str, str] = {}
    qs: list[EvalQuestion] = []
    try:
        for a, art in enumerate(data["data"]):
            title = str(art.get("title", "")).strip() or f"Artikel {a + 1}"
            for i, para in enumerate(art.get("paragraphs", [])):
                src = squad_source(a, title, i)
                head = f"{title}\n\n"
                text = head + str(para["context"])
                docs[src] = text
                for qa in para.get("qas", []):
                    golds = tuple(str(x["text"]) for x in qa.get("answers", []) if x.get("text"))
                    qs.append(
                        EvalQuestion(
                            id=str(qa["id"]), question=str(qa["question"]),
                            answerable=not qa.get("is_impossible", False) and bool(golds),
                            evidence=((src, len(head), len(text)),), answers=golds,
                            whole_passage=True,
                        )
                    )
    except (KeyError, TypeError, AttributeError) as e:
        raise InputError(f"{name}: not a SQuAD-style JSON file (missing or wrong {e}).") from None
    if not qs:
        raise InputError(f"{name}: holds no questions.")
    return qs, docs


def load_eval(path: str | Path, source_texts: dict[str, str] | None = None) -> EvalSet:
    """Read a question file: the eval README's jsonl, or a SQuAD-style JSON (``{"data": …}``).

    Args:
        path: the file.
        source_texts: for jsonl files, the indexed sources' texts (source -> text) in which
            evidence strings are located.

    Raises:
        InputError: the file is missing, unreadable or in neither format.
    """
    p = Path(path)
    try:
        blob = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e.strerror or e}).") from None
    try:
        raw = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text.") from None
    sha = hashlib.sha256(blob).hexdigest()
    whole: Any = None
    if raw.lstrip().startswith("{"):
        try:
            whole = json.loads(raw)
        except ValueError:
            whole = None  # several objects: jsonl
    if isinstance(whole, dict) and "data" in whole:
        qs, docs = parse_squad(whole, name=str(path))
        return EvalSet(tuple(qs), docs, kind="squad", path=str(path), sha256=sha)
    qs = parse_jsonl(raw, source_texts or {}, name=str(path))
    return EvalSet(tuple(qs), kind="jsonl", path=str(path), sha256=sha)


def with_sources(eval_set: EvalSet, names: dict[str, str]) -> EvalSet:
    """Rename the evidence sources of a SQuAD set (file name -> indexed source name)."""
    qs = tuple(
        EvalQuestion(
            id=q.id, question=q.question, answerable=q.answerable,
            evidence=tuple((names.get(s, s), a, b) for s, a, b in q.evidence),
            answers=q.answers, lang=q.lang, whole_passage=q.whole_passage, unlocated=q.unlocated,
        )
        for q in eval_set.questions
    )
    return EvalSet(qs, eval_set.documents, eval_set.kind, eval_set.path, eval_set.sha256)


# -- scoring (pure) ---------------------------------------------------------------


def overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    """Characters shared by ``[a0, a1)`` and ``[b0, b1)``."""
    return max(0, min(a1, b1) - max(a0, b0))


def passage_hits(span: Span, evidence: Iterable[Span], *, whole_passage: bool = False) -> bool:
    """Whether a returned passage hits: it overlaps an evidence span by at least half of
    that evidence's length (``whole_passage``: by at least one character)."""
    src, s, e = span
    for es, e0, e1 in evidence:
        if src != es:
            continue
        ov = overlap(s, e, e0, e1)
        if ov > 0 and (whole_passage or ov * 2 >= e1 - e0):
            return True
    return False


def answer_hits_span(
    span: Span, evidence: Iterable[Span], *, max_len: int = MAX_ANSWER_CHARS
) -> bool:
    """Whether an answer hits: at most ``max_len`` characters long and overlapping an
    evidence span by at least half of the shorter of the two (and at least one character)."""
    src, s, e = span
    if e - s > max_len or e <= s:
        return False
    for es, e0, e1 in evidence:
        ov = overlap(s, e, e0, e1) if src == es else 0
        if ov > 0 and ov * 2 >= min(e - s, e1 - e0):
            return True
    return False


def normalise_answer(text: str) -> str:
    """Lower case, punctuation to spaces, whitespace collapsed (NFKC first)."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = re.sub(r"[^\w\s]|_", " ", t)
    return " ".join(t.split())


def answer_contains(
    answer_text: str, golds: Iterable[str], *, max_len: int = MAX_ANSWER_CHARS
) -> bool:
    """SQuAD rule: the answer (at most ``max_len`` characters) contains a gold answer text,
    compared normalised and on word boundaries."""
    if not answer_text or len(answer_text) > max_len:
        return False
    a = f" {normalise_answer(answer_text)} "
    for g in golds:
        ng = normalise_answer(g)
        if ng and f" {ng} " in a:
            return True
    return False


def first_hit_rank(
    spans: Sequence[Span], evidence: Iterable[Span], k: int = 10, *, whole_passage: bool = False
) -> int | None:
    """The 1-based rank of the first hitting passage among the first ``k``, or None."""
    ev = list(evidence)
    for r, sp in enumerate(spans[:k], 1):
        if passage_hits(sp, ev, whole_passage=whole_passage):
            return r
    return None


@dataclass(frozen=True)
class Returned:
    """What a method returned for one question.

    Attributes:
        passages: the passage spans in rank order (at least 10 where the index has them).
        answer: the answer's span, or None when it abstained.
        answer_text: the answer's text, or None when it abstained.
        abstained: whether it said the sources do not answer.
        top_text: the start of the first passage (to show what came back instead).
    """

    passages: tuple[Span, ...]
    answer: Span | None = None
    answer_text: str | None = None
    abstained: bool = False
    top_text: str = ""


@dataclass(frozen=True)
class Outcome:
    """One question's result under one method."""

    id: str
    question: str
    answerable: bool
    first_hit_rank: int | None
    answer_hit: bool
    abstained: bool
    answer: str | None
    top_passage: Span | None
    top_text: str

    @property
    def failed(self) -> bool:
        """Answerable: the answer missed or the first passage did not hit.
        Unanswerable: it answered."""
        if not self.answerable:
            return not self.abstained
        return not self.answer_hit or self.first_hit_rank != 1


def judge(q: EvalQuestion, got: Returned) -> Outcome:
    """Score one question's result."""
    rank = None
    hit = False
    if q.answerable:
        rank = first_hit_rank(got.passages, q.evidence, max(KS), whole_passage=q.whole_passage)
        if not got.abstained and got.answer is not None:
            hit = (
                answer_contains(got.answer_text or "", q.answers)
                if q.answers
                else answer_hits_span(got.answer, q.evidence)
            )
    return Outcome(
        id=q.id, question=q.question, answerable=q.answerable, first_hit_rank=rank,
        answer_hit=hit, abstained=got.abstained, answer=got.answer_text,
        top_passage=got.passages[0] if got.passages else None, top_text=got.top_text,
    )


@dataclass(frozen=True)
class MethodScore:
    """The figures of one method on one question set.

    Attributes:
        method: the retrieval method.
        n_questions: questions scored.
        n_answerable: answerable ones among them (the denominator of recall, MRR, answers).
        recall: k -> recall@k.
        mrr10: MRR@10.
        answer_hit1: share of answerable questions whose answer hits.
        abstention_accuracy: share of all questions handled right as to abstaining; None
            when the set has no unanswerable questions.
        wrongly_abstained: answerable questions it abstained on.
        unanswerable_answered: unanswerable questions it answered.
        outcomes: every question's outcome, in order.
    """

    method: str
    n_questions: int
    n_answerable: int
    recall: dict[int, float]
    mrr10: float
    answer_hit1: float
    abstention_accuracy: float | None
    wrongly_abstained: int
    unanswerable_answered: int
    outcomes: tuple[Outcome, ...] = ()

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    def figures(self) -> dict[str, Any]:
        """The headline figures as a flat dict (JSON-ready)."""
        d: dict[str, Any] = {"method": self.method, "questions": self.n_questions,
                             "answerable": self.n_answerable}
        d.update({f"recall@{k}": v for k, v in self.recall.items()})
        d.update({"mrr@10": self.mrr10, "answer_hit@1": self.answer_hit1,
                  "abstention_accuracy": self.abstention_accuracy,
                  "wrongly_abstained": self.wrongly_abstained,
                  "unanswerable_answered": self.unanswerable_answered})
        return d


def score_method(
    method: str,
    questions: Sequence[EvalQuestion],
    returned: Sequence[Returned],
    *,
    ks: Sequence[int] = KS,
) -> MethodScore:
    """Score one method's results (``returned[i]`` answers ``questions[i]``)."""
    if len(questions) != len(returned):
        raise ValueError(f"{len(questions)} questions but {len(returned)} results")
    outcomes = tuple(judge(q, r) for q, r in zip(questions, returned, strict=True))
    ans = [o for o in outcomes if o.answerable]
    n = len(ans)
    recall = {k: (sum(o.first_hit_rank is not None and o.first_hit_rank <= k for o in ans) / n
                  if n else 0.0) for k in ks}
    mrr = sum(1.0 / o.first_hit_rank for o in ans if o.first_hit_rank and o.first_hit_rank <= 10)
    unans = [o for o in outcomes if not o.answerable]
    abst = None
    if unans:
        right = sum(not o.abstained for o in ans) + sum(o.abstained for o in unans)
        abst = right / len(outcomes)
    return MethodScore(
        method=method, n_questions=len(outcomes), n_answerable=n, recall=recall,
        mrr10=mrr / n if n else 0.0, answer_hit1=sum(o.answer_hit for o in ans) / n if n else 0.0,
        abstention_accuracy=abst, wrongly_abstained=sum(o.abstained for o in ans),
        unanswerable_answered=sum(not o.abstained for o in unans), outcomes=outcomes,
    )


# -- running an evaluation ----------------------------------------------------------


class _QueryMemo:
    """Wraps an encoder so that asking one question with several methods encodes it once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.id = inner.id
        self._key: tuple[str, bool] | None = None
        self._vec: np.ndarray | None = None
        self.encoded = 0

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        if len(texts) == 1 and is_query:
            key = (texts[0], is_query)
            if key != self._key or self._vec is None:
                self._vec = self.inner.encode(texts, is_query=True)
                self._key = key
                self.encoded += 1
            return self._vec
        return np.asarray(self.inner.encode(texts, is_query=is_query))


@dataclass(frozen=True)
class EvalReport:
    """The result of an evaluation run.

    Attributes:
        file: the question file.
        kind: ``jsonl`` or ``squad``.
        index_dir: the index the questions were asked of.
        methods: one score per method, in the order asked.
        seconds: wall time of asking and scoring (index building excluded).
        unlocated: ids of answerable jsonl questions with evidence found in no source.
        build: the ingest report when the run built or checked an index.
    """

    file: str
    kind: str
    index_dir: str
    methods: tuple[MethodScore, ...]
    seconds: float
    unlocated: tuple[str, ...] = ()
    build: BuildReport | None = None

    def method(self, name: str) -> MethodScore:
        return next(m for m in self.methods if m.method == name)

    def to_dict(self, *, outcomes: bool = True) -> dict[str, Any]:
        """JSON-ready: figures per method and, optionally, every failed question."""
        out: dict[str, Any] = {
            "file": self.file, "kind": self.kind, "index": self.index_dir,
            "seconds": round(self.seconds, 3), "unlocated_evidence": list(self.unlocated),
            "methods": [m.figures() for m in self.methods],
        }
        if self.build is not None:
            b = self.build
            out["build"] = {"documents": b.documents, "passages": b.chunks, "encoded": b.encoded,
                            "reused": b.reused, "up_to_date": b.up_to_date,
                            "seconds": round(b.seconds, 3)}
        if outcomes:
            out["failures"] = {
                m.method: [
                    {"id": o.id, "question": o.question, "answerable": o.answerable,
                     "first_hit_rank": o.first_hit_rank, "answer_hit": o.answer_hit,
                     "abstained": o.abstained, "answer": o.answer,
                     "top_passage": list(o.top_passage) if o.top_passage else None,
                     "top_text": o.top_text}
                    for o in m.failures
                ]
                for m in self.methods
            }
        return out


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """Validate method names (duplicates dropped, order kept).

    Raises:
        InputError: an unknown method or none at all.
    """
    out = tuple(dict.fromkeys(m.strip() for m in methods if m.strip()))
    bad = [m for m in out if m not in ALL_METHODS]
    if bad or not out:
        raise InputError(
            f"methods must be among {', '.join(ALL_METHODS)}. "
            f"Currently {', '.join(methods) or 'none'}."
        )
    return out


def ask_all(
    vb: Vraagbaak,
    questions: Sequence[EvalQuestion],
    methods: Sequence[str],
    *,
    top_k: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[Returned]]:
    """Ask every question with every method through :meth:`Vraagbaak.ask` (answer
    extraction and abstention included), encoding each question only once."""
    from .api import Vraagbaak

    # the same settings, with an encoder that embeds each question once for all methods
    evb = Vraagbaak(vb.settings, encoder=_QueryMemo(vb.encoder), retriever=vb.retriever)
    out: dict[str, list[Returned]] = {m: [] for m in methods}
    for i, q in enumerate(questions):
        for m in methods:
            try:
                retrieval, reader_on = method_parts(m)
                res = evb.ask(q.question, top_k=top_k, method=retrieval, reader_on=reader_on)
            except InputError:  # e.g. an empty question: nothing returned
                out[m].append(Returned(passages=(), abstained=True))
                continue
            hits = tuple((h.chunk.source, h.chunk.start, h.chunk.end) for h in res.hits)
            a = res.answer
            out[m].append(
                Returned(
                    passages=hits,
                    answer=None if a is None else (a.source, a.start, a.end),
                    answer_text=None if a is None else a.text,
                    abstained=res.abstained,
                    top_text=" ".join(res.hits[0].chunk.text.split())[:200] if res.hits else "",
                )
            )
        if progress:
            progress(i + 1, len(questions))
    return out


def run_eval(
    vb: Vraagbaak,
    eval_set: EvalSet,
    *,
    methods: Sequence[str] = ALL_METHODS,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    build: BuildReport | None = None,
) -> EvalReport:
    """Ask the questions of ``eval_set`` of ``vb``'s index with each method and score them.

    Args:
        vb: the Vraagbaak whose index holds the sources (see :func:`prepare_squad_index`
            for SQuAD files).
        eval_set: the questions (jsonl evidence already located in the index's sources).
        methods: retrieval methods to compare.
        limit: only the first ``limit`` questions.
        progress: called as ``progress(done, total)`` after each question.
        build: the ingest report to carry along in the result.
    """
    import time

    methods = check_methods(methods)
    if limit is not None and limit <= 0:
        raise InputError(f"limit must be greater than 0. Currently limit is {limit}.")
    qs = list(eval_set.questions[:limit] if limit else eval_set.questions)
    t0 = time.perf_counter()
    got = ask_all(vb, qs, methods, top_k=max(KS), progress=progress)
    scores = tuple(score_method(m, qs, got[m]) for m in methods)
    return EvalReport(
        file=eval_set.path, kind=eval_set.kind, index_dir=str(vb.settings.index_dir),
        methods=scores, seconds=time.perf_counter() - t0,
        unlocated=tuple(q.id for q in qs if q.answerable and q.unlocated), build=build,
    )


def load_for_index(path: str | Path, vb: Vraagbaak) -> EvalSet:
    """Read a jsonl question file, locating its evidence in ``vb``'s indexed sources."""
    ix = vb.index
    texts = {s.source: ix.source_text(s.source) for s in ix.sources}
    return load_eval(path, texts)


def squad_dirs(eval_set: EvalSet, cache_dir: Path) -> tuple[Path, Path]:
    """The documents folder and the index folder of a SQuAD file, under the cache folder."""
    base = cache_dir / "eval" / eval_set.sha256[:16]
    return base / "docs", base / "index"


def prepare_squad_index(
    eval_set: EvalSet, settings: Settings, *, progress: Progress | None = None
) -> tuple[Settings, EvalSet, BuildReport]:
    """Write a SQuAD set's paragraphs as .txt files and index them (reused when unchanged).

    Returns:
        The settings of the paragraph index, the set with its evidence renamed to the
        indexed source names, and the ingest report.
    """
    from .index.builder import ingest
    from .settings import DEFAULT_SENTENCE_VECTORS

    docs_dir, index_dir = squad_dirs(eval_set, settings.cache_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    for stale in docs_dir.glob("*.txt"):
        if stale.name not in eval_set.documents:
            stale.unlink()
    for name, text in eval_set.documents.items():
        p = docs_dir / name
        data = text.encode("utf-8")
        if not p.is_file() or p.read_bytes() != data:
            tmp = p.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(p)
    sub = settings.with_(index_dir=index_dir)
    if sub.sentence_vectors == "auto":  # a cache of the evaluation: what a new index gets
        sub = sub.with_(sentence_vectors=DEFAULT_SENTENCE_VECTORS)
    report = ingest([docs_dir], sub, progress=progress)
    names = {name: f"{docs_dir.name}/{name}" for name in eval_set.documents}
    return sub, with_sources(eval_set, names), report
