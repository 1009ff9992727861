"""``vraagbaak eval``: its figures must agree with an independent scoring of what
``vraagbaak ask --json`` returns for the same questions.

The scorer below is written from the eval README's rules and does not use
:mod:`vraagbaak.evaluation`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MINI_SQUAD
from vraagbaak import cli


def main(argv: list[str]) -> int:
    """``cli.main``; clears the optional commands first, as ``cli._register_optional``
    appends them again on every call (a second call in one process would clash)."""
    cli._EXTRA_COMMANDS.clear()
    return cli.main(argv)

METHODS = ("hybrid", "hybrid+reader", "rrf", "bm25", "dense")

DOCS = {
    "fietsen.txt": (
        "Fietsen in Utrecht\n\n"
        "Bij het station van Utrecht staat de grootste fietsenstalling ter wereld. Er is plaats "
        "voor ruim twaalfduizend fietsen. De stalling is gratis voor de eerste 24 uur.\n\n"
        "De gemeente wil het aantal fietsplekken in de binnenstad de komende jaren verder "
        "uitbreiden, omdat het fietsgebruik blijft groeien.\n"
    ),
    "kaas.txt": (
        "Kaas uit Gouda\n\n"
        "Goudse kaas wordt gemaakt van koemelk. Jonge kaas rijpt ongeveer vier weken, oude kaas "
        "minstens een jaar. Op de kaasmarkt in Gouda wordt in de zomer elke donderdag "
        "gehandeld.\n\n"
        "Boeren brengen de kazen met paard en wagen naar de markt, waar ze met handjeklap "
        "worden verkocht.\n"
    ),
    "dijken.txt": (
        "Dijken en water\n\n"
        "Na de watersnoodramp van 1953 begon Nederland met de Deltawerken. De Oosterscheldekering "
        "werd in 1986 geopend en sluit alleen bij storm.\n\n"
        "Waterschappen onderhouden de dijken. Zij heffen daarvoor een eigen belasting.\n"
    ),
}

QUESTIONS = [
    {"id": "f1", "question": "Hoeveel fietsen passen in de stalling bij het station?",
     "answerable": True, "evidence": ["Er is plaats voor ruim twaalfduizend fietsen."]},
    {"id": "k1", "question": "Waarvan wordt Goudse kaas gemaakt?", "answerable": True,
     "evidence": ["Goudse kaas wordt gemaakt van koemelk."]},
    {"id": "k2", "question": "Wanneer is de kaasmarkt in Gouda?", "answerable": True,
     "evidence": ["Op de kaasmarkt in Gouda wordt in de zomer elke donderdag gehandeld."]},
    {"id": "d1", "question": "Wanneer werd de Oosterscheldekering geopend?", "answerable": True,
     "evidence": ["De Oosterscheldekering werd in 1986 geopend"]},
    {"id": "d2", "question": "Wie onderhoudt de dijken?", "answerable": True,
     "evidence": ["Waterschappen onderhouden de dijken.", "onderhouden de dijken"]},
    {"id": "n1", "question": "Wat kost een treinkaartje naar Parijs?", "answerable": False,
     "evidence": []},
]

# -- an independent scorer, from the eval README ----------------------------------------


def _ov(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", s.lower()).split())


def independent_scores(
    results: list[dict[str, Any]], gold: list[dict[str, Any]], *, squad: bool
) -> dict[str, float | None]:
    """``gold[i]``: ``{"answerable", "spans": [(source, start, end)], "answers": [...]}``."""
    n = hit1 = hit5 = hit10 = ans = right = 0
    rr = 0.0
    has_unanswerable = False
    for res, g in zip(results, gold, strict=True):
        if not g["answerable"]:
            has_unanswerable = True
            right += bool(res["abstained"])
            continue
        n += 1
        right += not res["abstained"]
        rank = None
        for p in res["passages"][:10]:
            for src, s, e in g["spans"]:
                if p["source"] != src:
                    continue
                o = _ov((p["start"], p["end"]), (s, e))
                if (o > 0 if squad else 2 * o >= e - s):
                    rank = p["rank"]
                    break
            if rank is not None:
                break
        if rank is not None:
            hit1 += rank <= 1
            hit5 += rank <= 5
            hit10 += rank <= 10
            rr += 1 / rank
        a = res["answer"]
        if res["abstained"] or a is None or len(a["text"]) > 400:
            continue
        if squad:
            ans += any(f" {_norm(t)} " in f" {_norm(a['text'])} " for t in g["answers"])
        else:
            length = a["end"] - a["start"]
            ans += any(
                a["source"] == src and _ov((a["start"], a["end"]), (s, e)) > 0
                and 2 * _ov((a["start"], a["end"]), (s, e)) >= min(length, e - s)
                for src, s, e in g["spans"]
            )
    return {
        "recall@1": hit1 / n, "recall@5": hit5 / n, "recall@10": hit10 / n, "mrr@10": rr / n,
        "answer_hit@1": ans / n,
        "abstention_accuracy": right / len(gold) if has_unanswerable else None,
    }


def _ask_json(capsys: pytest.CaptureFixture[str], index: Path, questions: list[str], method: str,
              tmp_path: Path) -> list[dict[str, Any]]:
    qfile = tmp_path / f"ask-{method}.txt"
    qfile.write_text("\n".join(questions) + "\n", encoding="utf-8")
    capsys.readouterr()
    # eval's retrieval methods are answered by the cheap sentence score; "hybrid+reader"
    # is vraagbaak's default, the reading model on
    retrieval, reader = method.split("+")[0], method.endswith("+reader")
    rc = main(["--index", str(index), "--encoder", "fake:64", "ask", "--json", "-k", "10",
               "--method", retrieval, "--reader" if reader else "--no-reader",
               "--questions", str(qfile)])
    assert rc == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _eval_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _assert_agree(report: dict[str, Any], method: str, expected: dict[str, float | None]) -> None:
    got = next(m for m in report["methods"] if m["method"] == method)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), (method, key)


# -- tests ---------------------------------------------------------------------------------------


@pytest.fixture
def small_index(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    index = tmp_path / "index"
    assert main(["--index", str(index), "--encoder", "fake:64", "ingest", str(docs)]) == 0
    return index


def test_jsonl_figures_agree_with_ask_json(
    small_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qfile = tmp_path / "questions.jsonl"
    qfile.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n", encoding="utf-8")
    report = _eval_json(capsys, ["--index", str(small_index), "--encoder", "fake:64", "eval",
                                 str(qfile), "--json", "--methods", ",".join(METHODS)])
    assert [m["method"] for m in report["methods"]] == list(METHODS)
    assert report["unlocated_evidence"] == []
    gold = []
    for q in QUESTIONS:
        spans = []
        for ev in q["evidence"]:
            for name, text in DOCS.items():
                at = text.find(ev)
                while at >= 0:
                    spans.append((f"docs/{name}", at, at + len(ev)))
                    at = text.find(ev, at + 1)
        gold.append({"answerable": q["answerable"], "spans": spans, "answers": []})
    some_hit = False
    for method in METHODS:
        results = _ask_json(capsys, small_index, [q["question"] for q in QUESTIONS], method,
                            tmp_path)
        expected = independent_scores(results, gold, squad=False)
        _assert_agree(report, method, expected)
        some_hit |= bool(expected["recall@10"])
    assert some_hit  # the comparison is not between two rows of zeros


def test_squad_figures_agree_with_ask_json_and_index_is_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    squad = tmp_path / "mini-squad.json"
    squad.write_text(json.dumps(MINI_SQUAD, ensure_ascii=False), encoding="utf-8")
    argv = ["--encoder", "fake:64", "eval", str(squad), "--json"]
    report = _eval_json(capsys, argv)
    assert report["kind"] == "squad" and report["build"]["documents"] == 3
    index = Path(report["index"])
    paragraphs = [(a["title"], p) for a in MINI_SQUAD["data"] for p in a["paragraphs"]]
    questions, gold = [], []
    for title, p in paragraphs:
        ask_source = next(  # the paragraph's document: the indexed source whose text holds it
            s for s in (json.loads(line) for line in _sources(capsys, index))
            if (Path(s["path"]).read_text(encoding="utf-8") == f"{title}\n\n{p['context']}")
        )["source"]
        start = len(title) + 2
        for qa in p["qas"]:
            questions.append(qa["question"])
            span = (ask_source, start, start + len(p["context"]))
            gold.append({"answerable": True, "spans": [span],
                         "answers": [a["text"] for a in qa["answers"]]})
    for method in METHODS:
        results = _ask_json(capsys, index, questions, method, tmp_path)
        _assert_agree(report, method, independent_scores(results, gold, squad=True))
    assert next(m for m in report["methods"] if m["method"] == "bm25")["recall@1"] > 0

    again = _eval_json(capsys, argv)  # a repeat run reuses the paragraph index
    assert again["build"]["up_to_date"] and again["index"] == report["index"]
    assert again["methods"] == report["methods"]


def _sources(capsys: pytest.CaptureFixture[str], index: Path) -> list[str]:
    capsys.readouterr()
    assert main(["--index", str(index), "--encoder", "fake:64", "sources", "--json"]) == 0
    return capsys.readouterr().out.splitlines()


def test_text_output_has_the_table_and_failures(
    small_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qfile = tmp_path / "questions.jsonl"
    qfile.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n", encoding="utf-8")
    capsys.readouterr()
    rc = main(["--index", str(small_index), "--encoder", "fake:64", "eval", str(qfile),
               "--methods", "bm25,dense", "--failures", "-1"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert "R@1" in header and "MRR@10" in header and "abstain-acc" in header
    assert any(line.startswith("bm25 ") for line in lines)
    assert any(line.startswith("dense ") for line in lines)
    assert not any(line.startswith("hybrid ") for line in lines)
    if "Failed questions (bm25)" in out:
        assert "  n1 " in out or "gold passage" in out


def test_the_table_stays_aligned_with_a_long_method_name() -> None:
    from vraagbaak.eval_cli import format_table
    from vraagbaak.evaluation import EvalReport, MethodScore

    def score(name: str, r1: float) -> MethodScore:
        return MethodScore(name, 2, 2, {1: r1, 5: 1.0, 10: 1.0}, 0.75, 0.5, None, 0, 0)

    report = EvalReport(file="q.jsonl", kind="jsonl", index_dir="ix",
                        methods=(score("hybrid+reader", 0.5), score("bm25", 1.0)), seconds=1.0)
    header, long, short = format_table(report)
    assert len(header) == len(long) == len(short)
    assert long.index("0.500") == short.index("1.000")  # R@1 in one column


@pytest.mark.parametrize("argv, message", [
    (["eval", "{missing}"], "no such file"),
    (["eval", "{questions}", "--methods", "hybrid,colbert"], "methods must be among"),
    (["eval", "{questions}", "--limit", "0"], "--limit must be greater than 0"),
    (["eval", "{bad}"], '"question" must be a non-empty text'),
])
def test_user_errors_are_one_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = {"missing": tmp_path / "none.jsonl", "questions": tmp_path / "q.jsonl",
             "bad": tmp_path / "bad.jsonl"}
    paths["questions"].write_text(json.dumps(QUESTIONS[0]) + "\n", encoding="utf-8")
    paths["bad"].write_text('{"id": "x"}\n', encoding="utf-8")
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    rc = main(["--index", str(tmp_path / "no-index"), "--encoder", "fake:64", *argv])
    err = capsys.readouterr().err
    assert rc == 1
    assert message in err and "Traceback" not in err


@pytest.mark.slow
def test_real_encoder_figures_agree_on_the_bundled_corpus(
    corpus_index: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same agreement with the real e5 index of the bundled corpus (hybrid only)."""
    from tests.conftest import CORPUS

    texts = {f"corpus/{p.name}": p.read_text(encoding="utf-8")
             for p in sorted(CORPUS.glob("*.txt"))}
    picks = []
    for name, text in texts.items():  # one question per source, evidence = a real sentence
        sentence = next(s.strip() for s in text.split(". ")
                        if 80 < len(s.strip()) < 200 and "\n" not in s.strip())
        picks.append({"id": name, "question": f"Wat staat er over: {sentence[:60]}?",
                      "answerable": True, "evidence": [sentence]})
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in picks), encoding="utf-8")
    index = corpus_index.index_dir
    capsys.readouterr()
    assert main(["--index", str(index), "eval", str(qfile), "--json", "--methods", "hybrid"]) == 0
    report = json.loads(capsys.readouterr().out)
    qtxt = tmp_path / "q.txt"
    qtxt.write_text("\n".join(q["question"] for q in picks), encoding="utf-8")
    assert main(["--index", str(index), "ask", "--json", "-k", "10", "--method", "hybrid",
                 "--questions", str(qtxt)]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    gold = []
    for q in picks:
        spans = [(n, t.find(q["evidence"][0]), t.find(q["evidence"][0]) + len(q["evidence"][0]))
                 for n, t in texts.items() if q["evidence"][0] in t]
        gold.append({"answerable": True, "spans": spans, "answers": []})
    _assert_agree(report, "hybrid", independent_scores(results, gold, squad=False))
