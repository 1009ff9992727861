"""Scoring of retrieval and answers, as defined in the eval README.

- A passage **hits** when it overlaps one evidence span by at least half of that
  evidence's length.
- recall@k: share of answerable questions with a hit among the first k passages;
  MRR@10: mean of 1/rank of the first hit within 10.
- The **answer** hits when it is at most 400 characters long and overlaps an evidence span
  by at least half of the shorter of the two (SQuAD files: the gold answer text lies inside
  the returned answer, compared case- and punctuation-insensitively).
- Abstention: on unanswerable questions the system should abstain; on answerable ones not.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

Span = tuple[str, int, int]  # (source, start, end)


@dataclass(frozen=True)
class EvalQuestion:
    """One question with its gold evidence.

    Attributes:
        id: the question id.
        question: the text.
        answerable: whether the sources answer it.
        evidence: gold spans ``(source, start, end)`` (jsonl files: every occurrence of every
            evidence string; SQuAD files: the whole paragraph).
        answers: gold answer texts (SQuAD files only).
    """

    id: str
    question: str
    answerable: bool
    evidence: tuple[Span, ...]
    answers: tuple[str, ...] = ()
    lang: str = "nl"


@dataclass
class EvalSet:
    """Questions plus, for SQuAD files, the documents they are asked of."""

    questions: list[EvalQuestion]
    documents: dict[str, str] = field(default_factory=dict)  # source -> text (SQuAD)
    kind: str = "jsonl"


def overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def passage_hits(span: Span, evidence: Iterable[Span]) -> bool:
    """A passage hits when it overlaps an evidence span by at least half its length."""
    src, s, e = span
    return any(src == es and overlap(s, e, e0, e1) * 2 >= (e1 - e0) for es, e0, e1 in evidence)


def answer_hits_span(span: Span, evidence: Iterable[Span], *, max_len: int = 400) -> bool:
    """An answer hits when ≤ 400 chars and overlapping an evidence span by half the shorter."""
    src, s, e = span
    if e - s > max_len:
        return False
    return any(
        src == es and overlap(s, e, e0, e1) * 2 >= min(e - s, e1 - e0) for es, e0, e1 in evidence
    )


def normalise_answer(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    t = re.sub(r"[^\w\s]", " ", t)
    return " ".join(t.split())


def answer_contains(answer_text: str, golds: Iterable[str]) -> bool:
    """SQuAD rule: a gold answer text lies inside the returned answer (normalised)."""
    a = f" {normalise_answer(answer_text)} "
    return any(normalise_answer(g) and f" {normalise_answer(g)} " in a for g in golds)


def first_hit_rank(spans: Sequence[Span], evidence: Iterable[Span], k: int = 10) -> int | None:
    ev = list(evidence)
    for r, sp in enumerate(spans[:k], 1):
        if passage_hits(sp, ev):
            return r
    return None


def load_jsonl(path: Path, source_texts: dict[str, str]) -> EvalSet:
    """Questions in the eval README's format; evidence strings are located in the sources."""
    qs = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e.strerror or e}).") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            spans = []
            for ev in d.get("evidence", []):
                for src, text in source_texts.items():
                    start = text.find(ev)
                    while start >= 0:
                        spans.append((src, start, start + len(ev)))
                        start = text.find(ev, start + 1)
            qs.append(
                EvalQuestion(
                    id=str(d.get("id", n)), question=d["question"],
                    answerable=bool(d.get("answerable", True)), evidence=tuple(spans),
                    lang=d.get("lang", "nl"),
                )
            )
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}, line {n}: not a question object ({e}).") from None
    return EvalSet(qs, kind="jsonl")


def squad_source(title: str, i: int) -> str:
    safe = re.sub(r"[^\w\-]+", "_", title).strip("_") or "doc"
    return f"{safe}_{i:02d}.txt"


def load_squad(path: Path) -> EvalSet:
    """A SQuAD-style JSON: each paragraph becomes a document (its title as first line)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        articles = data["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not a SQuAD-style JSON file ({e}).") from None
    docs: dict[str, str] = {}
    qs: list[EvalQuestion] = []
    for art in articles:
        title = art.get("title", "")
        for i, para in enumerate(art.get("paragraphs", [])):
            src = squad_source(title, i)
            head = f"{title}\n\n"
            text = head + para["context"]
            docs[src] = text
            for qa in para.get("qas", []):
                golds = tuple(a["text"] for a in qa.get("answers", []) if a.get("text"))
                qs.append(
                    EvalQuestion(
                        id=str(qa["id"]), question=qa["question"],
                        answerable=not qa.get("is_impossible", False) and bool(golds),
                        evidence=((src, len(head), len(text)),), answers=golds,
                    )
                )
    return EvalSet(qs, docs, kind="squad")


def load_eval(path: str | Path, source_texts: dict[str, str] | None = None) -> EvalSet:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file.")
    if p.suffix.lower() == ".json":
        return load_squad(p)
    return load_jsonl(p, source_texts or {})


@dataclass
class MethodScore:
    """The figures of one method on one question set."""

    method: str
    n_answerable: int = 0
    recall: dict[int, float] = field(default_factory=dict)
    mrr10: float = 0.0
    answer_hit1: float | None = None
    abstention_accuracy: float | None = None
    wrongly_abstained: int = 0
    unanswerable_answered: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def score_method(
    method: str,
    questions: Sequence[EvalQuestion],
    ranked: Sequence[Sequence[Span]],
    answers: Sequence[tuple[Span | None, str | None, bool] | None] | None = None,
    *,
    ks: Sequence[int] = (1, 5, 10),
) -> MethodScore:
    """Score one method.

    Args:
        ranked: for every question, its returned passage spans in rank order.
        answers: for every question ``(answer_span, answer_text, abstained)``, or None
            when the method does not answer.
    """
    ms = MethodScore(method)
    answerable = [i for i, q in enumerate(questions) if q.answerable]
    ms.n_answerable = len(answerable)
    if not answerable:
        return ms
    rr = 0.0
    hits_at = {k: 0 for k in ks}
    ans_hits = 0
    for i in answerable:
        q = questions[i]
        r = first_hit_rank(ranked[i], q.evidence, max(max(ks), 10))
        for k in ks:
            if r is not None and r <= k:
                hits_at[k] += 1
        if r is not None and r <= 10:
            rr += 1.0 / r
        if answers is not None and answers[i] is not None:
            span, text, abstained = answers[i]  # type: ignore[misc]
            ok = False
            if not abstained and span is not None:
                ok = answer_contains(text or "", q.answers) if q.answers else answer_hits_span(span, q.evidence)
            ans_hits += ok
            if abstained:
                ms.wrongly_abstained += 1
            if not ok or r != 1:
                ms.failures.append({"id": q.id, "question": q.question, "first_hit_rank": r,
                                    "answer": None if abstained else text, "answer_hit": ok})
        elif r != 1:
            ms.failures.append({"id": q.id, "question": q.question, "first_hit_rank": r})
    n = len(answerable)
    ms.recall = {k: hits_at[k] / n for k in ks}
    ms.mrr10 = rr / n
    if answers is not None:
        ms.answer_hit1 = ans_hits / n
        unans = [i for i, q in enumerate(questions) if not q.answerable]
        correct = sum(1 for i in answerable if answers[i] is not None and not answers[i][2])  # type: ignore[index]
        for i in unans:
            if answers[i] is not None and answers[i][2]:  # type: ignore[index]
                correct += 1
            else:
                ms.unanswerable_answered += 1
                ms.failures.append({"id": questions[i].id, "question": questions[i].question,
                                    "answer": answers[i][1] if answers[i] else None,  # type: ignore[index]
                                    "should_abstain": True})
        if unans:
            ms.abstention_accuracy = correct / len(questions)
    return ms
