"""The CLI: readable output, the JSON contract of `ask --json`, and clear errors."""

import json
from pathlib import Path

import pytest

from vraagbaak import Settings
from vraagbaak.cli import main

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_contract(
    corpus_index: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    qfile = tmp_path / "vragen.txt"
    qfile.write_text(
        "Wat is de Teylingse Ton?\n\nHoeveel raadsleden hebben de enquête ingevuld?\n", "utf-8"
    )
    code, out, err = run(
        capsys, "--index", str(corpus_index.index_dir), "ask", "--questions", str(qfile), "--json"
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["question"] for d in lines] == [
        "Wat is de Teylingse Ton?",
        "Hoeveel raadsleden hebben de enquête ingevuld?",
    ]
    for d in lines:
        assert set(d) >= {"question", "passages", "answer", "abstained"}
        assert len(d["passages"]) == 5
        for p in d["passages"]:
            assert set(p) >= {
                "rank",
                "source",
                "title",
                "section",
                "start",
                "end",
                "line",
                "text",
                "score",
            }
            assert p["source"].startswith("corpus/")
            text = (CORPUS / p["source"].split("/", 1)[1]).read_bytes().decode("utf-8")
            assert text[p["start"] : p["end"]] == p["text"]
            assert text.count("\n", 0, p["start"]) + 1 == p["line"]
        a = d["answer"]
        assert a is not None and d["abstained"] is False
        text = (CORPUS / a["source"].split("/", 1)[1]).read_bytes().decode("utf-8")
        assert text[a["start"] : a["end"]] == a["text"]
        assert len(a["text"]) <= 400
    assert "Teylingse Ton" in lines[0]["answer"]["text"]
    assert "51 gemeenteraadsleden" in lines[1]["answer"]["text"]


def test_ask_readable_output(corpus_index: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--index", str(corpus_index.index_dir), "ask", "-k", "2", "Wat is de Teylingse Ton?"
    )
    assert code == 0
    assert out.startswith("Vraag: Wat is de Teylingse Ton?")
    assert "Antwoord:" in out and "Teylingse Ton" in out
    assert "[1]" in out and "[2]" in out and "[3]" not in out
    assert "regel" in out


def test_ingest_fake_encoder_and_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ix = str(tmp_path / "ix")
    code, out, err = run(capsys, "--index", ix, "--encoder", "fake:64", "ingest", str(CORPUS))
    assert code == 0, err
    assert "Indexed 5 sources" in out
    code, out, _ = run(capsys, "--index", ix, "--encoder", "fake:64", "ingest", str(CORPUS))
    assert code == 0 and "up to date" in out
    code, out, _ = run(capsys, "--index", ix, "--encoder", "fake:64", "sources")
    assert code == 0 and "5 sources" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "The question is empty"),
        (["ask", "   \x00\x07  "], "The question is empty"),
        (["ask"], "Give a question"),
        (["ask", "--questions", "/nonexistent/vragen.txt"], "no such file"),
        (["ingest", "/nonexistent/map"], "no such file or folder"),
        (["--encoder", "word2vec", "ingest", "/tmp"], "Unknown encoder"),
    ],
)
def test_errors_are_one_message_and_exit_1(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "--index", str(tmp_path / "ix"), *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_missing_index_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--index", str(tmp_path / "none"), "sources")
    assert code == 1 and "No index at" in err and "vraagbaak ingest" in err


@pytest.mark.parametrize("args", [
    ["ask", "Wat is maatwerk?"],
    ["ingest", "{docs}"],
    ["eval", "{questions}"],
])
def test_a_folder_of_other_files_is_not_made_an_index(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mijn-documenten"
    folder.mkdir()
    (folder / "notitie.txt").write_text("Mijn eigen notitie.\n", "utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Titel\n\nEen document over maatwerk.\n", "utf-8")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "Wat is maatwerk?"}\n', "utf-8")
    argv = [a.format(docs=docs, questions=questions) for a in args]
    code, _out, err = run(capsys, "--index", str(folder), "--encoder", "fake:64", *argv)
    assert code == 1
    assert "is not a vraagbaak index and is not empty" in err and "Traceback" not in err
    assert "No index yet" not in err
    assert sorted(p.name for p in folder.iterdir()) == ["notitie.txt"]


def test_a_file_named_current_is_no_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "map"
    folder.mkdir()
    (folder / "current").write_text("mijn aantekeningen\n", "utf-8")
    for args in (["ask", "Wat is maatwerk?"], ["ingest", str(tmp_path / "map")]):
        code, _out, err = run(capsys, "--index", str(folder), "--encoder", "fake:64", *args)
        assert code == 1 and "is not a vraagbaak index" in err and "mv " not in err
    assert (folder / "current").read_text("utf-8") == "mijn aantekeningen\n"
    assert sorted(p.name for p in folder.iterdir()) == ["current"]


def test_index_built_with_other_encoder(
    corpus_index: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "--index",
        str(corpus_index.index_dir),
        "--encoder",
        "fake:64",
        "ask",
        "Wat is de Teylingse Ton?",
    )
    assert code == 1
    assert "was built with encoder 'e5'" in err
    assert "Traceback" not in err


def test_long_question_is_cut_with_a_notice(
    corpus_index: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    long_q = "Wat is de Teylingse Ton? " + "blabla " * 1500
    code, out, err = run(capsys, "--index", str(corpus_index.index_dir), "ask", "--json", long_q)
    assert code == 0
    d = json.loads(out)
    assert len(d["question"]) == 2000
    assert d["notices"] and "cut" in d["notices"][0]
    assert "note: The question was cut" in err
