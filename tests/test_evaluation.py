"""Scoring rules (eval README), question-file parsing and evaluation runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MINI_SQUAD
from vraagbaak import InputError, Settings, Vraagbaak
from vraagbaak.evaluation import (
    EvalQuestion,
    Returned,
    answer_contains,
    answer_hits_span,
    check_methods,
    first_hit_rank,
    judge,
    load_eval,
    load_for_index,
    locate,
    passage_hits,
    prepare_squad_index,
    run_eval,
    score_method,
)

# -- passage and answer rules -------------------------------------------------------


def test_passage_hits_needs_half_of_the_evidence() -> None:
    ev = [("a.txt", 100, 200)]
    assert passage_hits(("a.txt", 150, 400), ev)  # 50 of 100: exactly half
    assert not passage_hits(("a.txt", 151, 400), ev)  # 49 of 100
    assert not passage_hits(("b.txt", 100, 200), ev)  # other source
    assert passage_hits(("a.txt", 0, 1000), ev)  # contains it


def test_passage_hits_whole_passage_needs_any_overlap() -> None:
    ev = [("p.txt", 10, 900)]
    assert passage_hits(("p.txt", 800, 901), ev, whole_passage=True)
    assert not passage_hits(("p.txt", 800, 901), ev)
    assert not passage_hits(("p.txt", 0, 10), ev, whole_passage=True)  # touches, no overlap


def test_answer_hits_half_of_the_shorter_and_at_most_400() -> None:
    ev = [("a.txt", 100, 1000)]
    assert answer_hits_span(("a.txt", 90, 110), ev)  # 10 of a 20-char answer
    assert not answer_hits_span(("a.txt", 89, 109), ev)  # 9 of 20
    assert answer_hits_span(("a.txt", 100, 500), ev)  # 400 chars
    assert not answer_hits_span(("a.txt", 100, 501), ev)  # 401 chars: too long
    assert not answer_hits_span(("a.txt", 150, 150), ev)  # empty answer never hits
    short = [("a.txt", 100, 110)]
    assert answer_hits_span(("a.txt", 95, 300), short)  # covers all of a short evidence


def test_answer_contains_normalises_case_and_punctuation() -> None:
    assert answer_contains("De stad telt 1,7 miljoen inwoners.", ["1.7 Miljoen"])
    assert answer_contains("Het was in 1918!", ["1918"])
    assert not answer_contains("Het was in 19181.", ["1918"])  # word boundary
    assert not answer_contains("", ["1918"])
    assert not answer_contains("x " * 250 + "1918", ["1918"])  # over 400 characters
    assert not answer_contains("iets", ["", "..."])  # empty golds never match


def test_first_hit_rank_looks_at_the_first_k() -> None:
    ev = [("a.txt", 0, 10)]
    spans = [("b.txt", 0, 10)] * 3 + [("a.txt", 0, 10)]
    assert first_hit_rank(spans, ev) == 4
    assert first_hit_rank(spans, ev, k=3) is None


def test_locate_finds_every_occurrence_and_ignores_empty() -> None:
    texts = {"a.txt": "aa bb aa", "b.txt": "cc"}
    assert locate("aa", texts) == [("a.txt", 0, 2), ("a.txt", 6, 8)]
    assert locate("", texts) == []
    assert locate("zz", texts) == []


# -- aggregates -----------------------------------------------------------------------


def _q(i: str, answerable: bool = True) -> EvalQuestion:
    ev = ((f"{i}.txt", 0, 100),) if answerable else ()
    return EvalQuestion(id=i, question=f"vraag {i}", answerable=answerable, evidence=ev)


def test_score_method_recall_mrr_answers_and_abstention() -> None:
    qs = [_q("a"), _q("b"), _q("c"), _q("x", answerable=False)]
    other = ("z.txt", 0, 100)
    got = [
        Returned(passages=(("a.txt", 0, 100),), answer=("a.txt", 10, 40), answer_text="…"),
        Returned(passages=(other, other, ("b.txt", 0, 90)), answer=("z.txt", 0, 20),
                 answer_text="…"),
        Returned(passages=(other,) * 10, abstained=True),
        Returned(passages=(other,), abstained=True),
    ]
    ms = score_method("hybrid", qs, got)
    assert ms.n_questions == 4 and ms.n_answerable == 3
    assert ms.recall == {1: pytest.approx(1 / 3), 5: pytest.approx(2 / 3), 10: pytest.approx(2 / 3)}
    assert ms.mrr10 == pytest.approx((1 + 1 / 3) / 3)
    assert ms.answer_hit1 == pytest.approx(1 / 3)
    # right: a, b answered (answerable), x abstained; wrong: c abstained
    assert ms.abstention_accuracy == pytest.approx(3 / 4)
    assert ms.wrongly_abstained == 1 and ms.unanswerable_answered == 0
    assert [o.id for o in ms.failures] == ["b", "c"]


def test_no_abstention_figure_without_unanswerable_questions() -> None:
    ms = score_method("bm25", [_q("a")], [Returned(passages=())])
    assert ms.abstention_accuracy is None
    assert ms.recall[10] == 0.0 and ms.mrr10 == 0.0


def test_unanswerable_answered_is_a_failure() -> None:
    q = _q("x", answerable=False)
    o = judge(q, Returned(passages=(), answer=("a.txt", 0, 5), answer_text="iets"))
    assert o.failed and not o.answer_hit


def test_squad_answers_are_judged_by_gold_text() -> None:
    q = EvalQuestion(id="s", question="?", answerable=True, evidence=(("p.txt", 7, 500),),
                     answers=("Warschau",), whole_passage=True)
    hit = judge(q, Returned(passages=(("p.txt", 400, 900),), answer=("p.txt", 600, 640),
                            answer_text="De hoofdstad is Warschau."))
    assert hit.first_hit_rank == 1 and hit.answer_hit
    miss = judge(q, Returned(passages=(("p.txt", 400, 900),), answer=("p.txt", 10, 40),
                             answer_text="De hoofdstad is Krakau."))
    assert not miss.answer_hit


def test_check_methods() -> None:
    assert check_methods(["bm25", "hybrid", "bm25"]) == ("bm25", "hybrid")
    with pytest.raises(InputError, match="methods must be among"):
        check_methods(["hybrid", "splade"])
    with pytest.raises(InputError):
        check_methods([""])


# -- files --------------------------------------------------------------------------------

def test_load_squad_paragraphs_become_documents(tmp_path: Path) -> None:
    p = tmp_path / "mini.json"
    p.write_text(json.dumps(MINI_SQUAD), encoding="utf-8")
    es = load_eval(p)
    assert es.kind == "squad" and len(es.documents) == 3 and len(es.questions) == 4
    q = es.questions[0]
    src, start, end = q.evidence[0]
    text = es.documents[src]
    assert text.startswith("Rivieren\n\n") and text[start:end].startswith("De Rijn")
    assert end == len(text) and q.answers == ("Lobith",) and q.whole_passage


def test_load_jsonl_locates_evidence(tmp_path: Path) -> None:
    p = tmp_path / "q.jsonl"
    p.write_text(
        '{"id": "1", "question": "Wie?", "answerable": true, "evidence": ["Jan", "nergens"]}\n\n'
        '{"id": "2", "question": "Wat?", "answerable": false, "evidence": []}\n',
        encoding="utf-8",
    )
    es = load_eval(p, {"a.txt": "Dit is Jan. En Jan."})
    assert es.kind == "jsonl"
    assert es.questions[0].evidence == (("a.txt", 7, 10), ("a.txt", 15, 18))
    assert es.questions[0].unlocated == ("nergens",)
    assert not es.questions[1].answerable and es.has_unanswerable


@pytest.mark.parametrize("content, match", [
    ('{"id": 1}\n', 'line 1: "question" must be a non-empty text'),
    ('{"question": "  "}\n', 'line 1: "question" must be'),
    ('[1, 2, 3]\n', "line 1: a question must be a JSON object, not list"),
    ('{"question": "Wat?", "evidence": "een quote"}\n', 'line 1: "evidence" must be a list'),
    ('{"question": "Wat?", "evidence": [123]}\n', '"evidence" must be a list'),
    ('{"question": "Wat?", "evidence": [""]}\n', '"evidence" must be a list'),
    ('{"question": "Wat?", "answerable": "yes"}\n', '"answerable" must be true or false'),
    ("niet json\n", "line 1"),
    ('{"data": [{"paragraphs": [{"qas": []}]}]}', "not a SQuAD-style"),
    ("\n\n", "holds no questions"),
])
def test_bad_files_raise_input_errors(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        load_eval(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_eval(tmp_path / "nope.jsonl")


# -- runs (fake encoder) ----------------------------------------------------------------------


def test_squad_run_builds_once_and_scores(tmp_path: Path, fake_settings: Settings) -> None:
    p = tmp_path / "mini.json"
    p.write_text(json.dumps(MINI_SQUAD), encoding="utf-8")
    es = load_eval(p)
    sub, named, first = prepare_squad_index(es, fake_settings)
    assert str(sub.index_dir).startswith(str(fake_settings.cache_dir))
    assert first.documents == 3 and not first.up_to_date
    _, _, again = prepare_squad_index(load_eval(p), fake_settings)
    assert again.up_to_date
    # the evaluation's own index measures what a new index gets, whatever built it before
    assert fake_settings.sentence_vectors == "auto" and sub.sentence_vectors == "upper"
    report = run_eval(Vraagbaak(sub), named, methods=["bm25", "hybrid"])
    bm25 = report.method("bm25")
    assert [m.method for m in report.methods] == ["bm25", "hybrid"]
    assert bm25.n_answerable == 4
    # BM25 finds each paragraph: the questions share rare words with it
    assert bm25.recall[1] == 1.0 and bm25.mrr10 == 1.0


def test_jsonl_run_over_an_index(tmp_path: Path, fake_settings: Settings) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(
        "Fietsen\n\nIn Utrecht staan bij het station twaalfduizend fietsen in de stalling.\n",
        encoding="utf-8",
    )
    (docs / "b.txt").write_text(
        "Kaas\n\nGoudse kaas wordt gemaakt van koemelk en rijpt maanden.\n", encoding="utf-8"
    )
    vb = Vraagbaak(fake_settings)
    vb.ingest([docs])
    q = tmp_path / "q.jsonl"
    q.write_text(
        json.dumps({"id": "k", "question": "Waarvan wordt Goudse kaas gemaakt?",
                    "answerable": True, "evidence": ["Goudse kaas wordt gemaakt van koemelk"]})
        + "\n", encoding="utf-8",
    )
    report = run_eval(vb, load_for_index(q, vb), methods=["bm25"], limit=1)
    assert report.method("bm25").recall[1] == 1.0
    assert report.unlocated == ()
    with pytest.raises(InputError, match="limit"):
        run_eval(vb, load_for_index(q, vb), limit=0)
