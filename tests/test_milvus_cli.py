"""The CLI with ``--backend milvus --uri FILE`` (Milvus Lite) against the local backend."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT
from vraagbaak import InputError, Settings, Vraagbaak
from vraagbaak.cli import main

QUESTIONS = [
    "Hoeveel gemeenten doen mee aan de Village Deals?",
    "Wat is integraal werken?",
    "Welke rol spelen wethouders bij dienend beleid?",
]
VILLAGE_DEALS = "corpus/movisie-2018-village-deals-rapport.txt"


def test_settings_name_the_backends_and_need_a_uri() -> None:
    with pytest.raises(InputError, match="local, milvus"):
        Settings(backend="elastic")
    with pytest.raises(InputError, match="URI"):
        Settings(backend="milvus")
    assert Settings(backend="milvus", milvus_uri="x.db").milvus_uri == "x.db"
    assert "secret" not in repr(Settings(milvus_uri="x.db", milvus_token="secret"))


def test_cli_needs_a_uri_for_milvus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VRAAGBAAK_MILVUS_URI", raising=False)
    rc = main(["--index", str(tmp_path / "i"), "--backend", "milvus", "ask", "Wat is dit?"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "needs a URI" in err and "--uri" in err and "Traceback" not in err


def test_uri_and_token_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from vraagbaak.cli import build_parser, settings_from_args

    monkeypatch.setenv("VRAAGBAAK_MILVUS_URI", "/data/m.db")
    monkeypatch.setenv("VRAAGBAAK_MILVUS_TOKEN", "root:Milvus")
    s = settings_from_args(build_parser().parse_args(["--backend", "milvus", "sources"]))
    assert (s.backend, s.milvus_uri, s.milvus_token) == ("milvus", "/data/m.db", "root:Milvus")


def test_importing_vraagbaak_does_not_import_pymilvus() -> None:
    code = (
        "import sys, vraagbaak, vraagbaak.cli, vraagbaak.backends; "
        "vraagbaak.cli.build_parser(); "
        "print('pymilvus' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def milvus_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The bundled corpus (fake encoder) in a local index and, via the CLI, in Milvus Lite."""
    root = tmp_path_factory.mktemp("milvus-cli")
    index, db = root / "index", root / "m.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VRAAGBAAK_CACHE", str(root / "cache"))
        argv = ["--index", str(index), "--encoder", "fake:64", "--backend", "milvus"]
        assert main([*argv, "--uri", str(db), "ingest", str(CORPUS)]) == 0
    yield index, db


def _ask_json(
    capsys: pytest.CaptureFixture[str], index: Path, backend: list[str], *extra: str
) -> list[dict]:
    rc, out, err = _run(
        capsys,
        "--index",
        str(index),
        "--encoder",
        "fake:64",
        *backend,
        "ask",
        "--json",
        "-k",
        "5",
        *extra,
    )
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_ingest_reports_the_copy_and_skips_an_unchanged_one(
    milvus_index: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, db = milvus_index
    argv = ["--index", str(index), "--encoder", "fake:64", "--backend", "milvus", "--uri"]
    rc, out, err = _run(capsys, *argv, str(db), "ingest", str(CORPUS))
    assert rc == 0, err
    assert "up to date" in out
    assert f"Milvus at {db} already holds this index" in err


def test_ask_matches_the_local_backend_with_exact_citations(
    milvus_index: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, db = milvus_index
    qfile = tmp_path / "q.txt"
    qfile.write_text("\n".join(QUESTIONS), encoding="utf-8")
    # the abstention model is fitted for e5; with the fake encoder, answer every question
    always = ("--min-confidence", "0")
    local = _ask_json(capsys, index, [], "--questions", str(qfile), *always)
    remote = _ask_json(
        capsys, index, ["--backend", "milvus", "--uri", str(db)], "--questions", str(qfile), *always
    )
    assert len(local) == len(remote) == len(QUESTIONS)
    ix = Vraagbaak(Settings(index_dir=index, encoder="fake:64")).index
    answered = 0
    for a, b in zip(local, remote, strict=True):
        spans = [[(p["source"], p["start"], p["end"]) for p in r["passages"]] for r in (a, b)]
        assert len(spans[0]) == 5
        assert spans[0] == spans[1]
        assert a["answer"] == b["answer"]
        assert a["abstained"] == b["abstained"]
        if b["answer"] is not None:
            ans = b["answer"]
            assert ix.source_text(ans["source"])[ans["start"] : ans["end"]] == ans["text"]
            answered += 1
        for p in b["passages"]:
            assert ix.source_text(p["source"])[p["start"] : p["end"]] == p["text"]
    assert answered > 0


def test_source_filter_on_milvus(
    milvus_index: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, db = milvus_index
    backend = ["--backend", "milvus", "--uri", str(db)]
    [res] = _ask_json(capsys, index, backend, "--source", VILLAGE_DEALS, QUESTIONS[1])
    assert res["passages"]
    assert {p["source"] for p in res["passages"]} == {VILLAGE_DEALS}


def test_missing_collection_is_one_clear_error(
    milvus_index: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, _ = milvus_index
    empty = tmp_path / "empty.db"
    rc, out, err = _run(
        capsys,
        *("--index", str(index), "--encoder", "fake:64"),
        *("--backend", "milvus", "--uri", str(empty)),
        *("ask", QUESTIONS[0]),
    )
    assert rc == 1
    assert out == ""
    assert f"No vraagbaak collections in Milvus at {empty}" in err
    assert f"--backend milvus --uri {empty} ingest" in err
    assert "Traceback" not in err


def test_a_copy_of_another_index_is_refused(
    milvus_index: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, db = milvus_index
    other = tmp_path / "other"
    argv = ["--index", str(other), "--encoder", "fake:64"]
    assert main([*argv, "ingest", str(CORPUS / Path(VILLAGE_DEALS).name)]) == 0
    capsys.readouterr()
    rc, _, err = _run(capsys, *argv, "--backend", "milvus", "--uri", str(db), "ask", QUESTIONS[0])
    assert rc == 1
    assert "out of date" in err and "ingest" in err and "Traceback" not in err


def test_unreachable_server_is_one_clear_error(
    milvus_index: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, _ = milvus_index
    uri = "http://127.0.0.1:1"
    rc, _, err = _run(
        capsys,
        *("--index", str(index), "--encoder", "fake:64", "--backend", "milvus", "--uri", uri),
        *("ask", QUESTIONS[0]),
    )
    assert rc == 1
    assert f"Cannot connect to Milvus at {uri}" in err and "Traceback" not in err
