"""Reliability: bad inputs, damaged indexes, concurrent and killed ingests, incremental
updates. Every bad input gets exit status 1, one message and no traceback, and the index
that was there before still answers.

Bad inputs tried (see ``BAD_FILES`` and the tests below):

* files: empty, whitespace-only, binary with a text extension (with and without NUL
  bytes), truncated PDF, garbage PDF, password-protected PDF, PDF without a text layer,
  broken .docx, HTML with no main text, only unsupported files, a missing path;
* questions: empty, only control characters, 10,000 characters, control characters
  inside a real question, a questions file that is not UTF-8;
* indexes: a changed index file, a changed stored text, a half-written manifest, a
  missing live generation, a lock held by another ingest, an ingest killed with SIGKILL
  (at a known moment and at several arbitrary moments), a 50 MB text file.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.cli import main
from vraagbaak.index.encoders import get_encoder
from vraagbaak.index.store import BuildReport, live_generation, write_lock
from vraagbaak.ingest.chunker import chunk_document
from vraagbaak.ingest.readers import read_document

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SMALL = [
    "gemeentenu-hoera-stemming-integraal-werken.txt",
    "movisie-2018-integraal-werken-bestuurders.txt",
    "movisie-2017-integraal-werken-in-ontwikkeling.txt",
]
QUESTION = "Wat moeten bestuurders doen om integraal werken te stimuleren?"


# -- helpers -------------------------------------------------------------------------


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in this process (the fake encoder is registered here). Any exception
    other than the CLI's own handling would fail the test: that is the 'no traceback'."""
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def one_message(err: str) -> str:
    """The single error message on stderr (a hint may follow on the next line)."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len([ln for ln in lines if ln.startswith("vraagbaak:")]) == 1, err
    assert lines[0].startswith("vraagbaak:"), err
    assert len(lines) <= 2, err
    return err


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in SMALL:
        (folder / name).write_bytes((CORPUS / name).read_bytes())
    return folder


@pytest.fixture
def index_args(tmp_path: Path, docs: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """CLI arguments for an index of ``docs`` built with the fake encoder."""
    args = ["--index", str(tmp_path / "index"), "--encoder", "fake:64"]
    code, _, err = run([*args, "ingest", str(docs)], capsys)
    assert code == 0, err
    return args


def answers(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The index answers: the JSON reply to a question that the small docs answer."""
    code, out, err = run([*args, "ask", "--json", QUESTION], capsys)
    assert code == 0, err
    assert '"passages": [{' in out
    return out


def _pdf_bytes(text: str, encrypt: bool = False) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    if text:
        c.drawString(72, 700, text)
    else:
        c.rect(100, 100, 200, 200, fill=1)
    c.save()
    if not encrypt:
        return buf.getvalue()
    from pypdf import PdfWriter

    w = PdfWriter(clone_from=io.BytesIO(buf.getvalue()))
    w.encrypt(user_password="geheim", owner_password="x", algorithm="RC4-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _bad_html() -> bytes:
    return (
        b"<html><head><title>Leeg</title><script>var x = 1;</script></head><body>"
        b"<nav><a href='/'>Home</a></nav><footer>Copyright</footer></body></html>"
    )


BAD_FILES: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "empty": ("leeg.txt", lambda: b"", "empty"),
    "whitespace": ("spaties.md", lambda: b"  \n\t\n   \r\n", "whitespace"),
    "binary with NUL": ("foto.txt", lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "binary"),
    "binary without NUL": ("data.txt", lambda: bytes(range(1, 256)) * 40, "binary"),
    "truncated pdf": ("kapot.pdf", lambda: _pdf_bytes("Tekst over de gemeente.")[:400], "damaged"),
    "garbage pdf": ("rommel.pdf", lambda: b"%PDF-1.7\n" + os.urandom(4000), "damaged|no text"),
    "encrypted pdf": ("slot.pdf", lambda: _pdf_bytes("Geheim.", encrypt=True), "password"),
    "pdf without text": ("scan.pdf", lambda: _pdf_bytes(""), "OCR"),
    "broken docx": ("kapot.docx", lambda: b"PK\x03\x04" + os.urandom(500), "Word"),
    "html without text": ("leeg.html", _bad_html, "no main text"),
    "only unsupported": ("foto.jpg", lambda: b"\xff\xd8\xff\xe0" + os.urandom(100), "unsupported"),
}


# -- bad files -----------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file(case: str, tmp_path: Path, index_args: list[str],
                  capsys: pytest.CaptureFixture[str]) -> None:
    name, make, expected = BAD_FILES[case]
    before = answers(index_args, capsys)
    live = live_generation(Path(index_args[1]))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / name).write_bytes(make())
    for extra in ([], ["--add"]):
        code, out, err = run([*index_args, "ingest", *extra, str(bad / name)], capsys)
        assert code == 1, (case, out, err)
        msg = one_message(err)
        assert name in msg and re.search(expected, msg, re.IGNORECASE), msg
        assert "index was not changed" in msg
    assert live_generation(Path(index_args[1])) == live
    assert answers(index_args, capsys) == before


def test_bad_files_in_a_folder_are_skipped(docs: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with good and bad files: the good ones are indexed, each bad one gets a
    one-line notice, and a summary ends the run."""
    (docs / "sub").mkdir()
    for name, make, _ in BAD_FILES.values():
        (docs / "sub" / name).write_bytes(make())
    (docs / "sub" / "cp1252.txt").write_bytes(
        "Één café in Zuid-Holland: de wethouder sprak over ‘integraal werken’.".encode("cp1252")
    )
    args = ["--index", str(tmp_path / "index"), "--encoder", "fake:64"]
    code, out, err = run([*args, "ingest", str(docs)], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    skipped = [ln for ln in err.splitlines() if ln.startswith("skipped ")]
    assert sorted(Path(ln.split()[1].rstrip(":")).name for ln in skipped) == sorted(
        name for name, _, _ in BAD_FILES.values()
    )
    assert "note: docs/sub/cp1252.txt: not valid UTF-8; read as cp1252." in err
    assert re.search(r"Indexed 4 sources, \d+ passages in [\d.]+ s \(4 added, .*"
                     rf"{len(BAD_FILES)} skipped", out), out
    vb = Vraagbaak(Settings(index_dir=tmp_path / "index", encoder="fake:64"))
    text = vb.index.source_text("docs/sub/cp1252.txt")
    assert text.startswith("Één café") and "‘integraal werken’" in text


def test_missing_path(index_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*index_args, "ingest", "/nonexistent/map"], capsys)
    assert code == 1 and "no such file or folder" in one_message(err)


# -- bad questions -------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01\x1b\t\n"])
def test_empty_question(question: str, index_args: list[str],
                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*index_args, "ask", question], capsys)
    assert code == 1 and out == ""
    assert "question is empty" in one_message(err)


def test_long_and_dirty_questions(
    index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    long_q = (QUESTION + " ") * (10_000 // len(QUESTION) + 1)
    assert len(long_q) >= 10_000
    for q in (long_q[:10_000], "Wat\x00 moeten\x1b[31m bestuurders\x7f doen\u200b?\r\n"):
        code, out, err = run([*index_args, "ask", "--json", q], capsys)
        assert code == 0, err
        assert "Traceback" not in err and '"passages": [{' in out
        assert "\x00" not in out and "\x1b" not in out


def test_questions_file_not_utf8(tmp_path: Path, index_args: list[str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    qf = tmp_path / "vragen.txt"
    qf.write_bytes(b"Wat is \xff\xfe een vraag?\n")
    code, _, err = run([*index_args, "ask", "--questions", str(qf)], capsys)
    assert code == 1 and "vragen.txt" in one_message(err)


# -- damaged indexes -----------------------------------------------------------------


def _damage_file(gen: Path, name: str) -> None:
    p = gen / name
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def _drop_file(gen: Path, name: str) -> None:
    """Remove a file and its checksum: what an index made before the file existed looks like."""
    (gen / name).unlink()
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    del manifest["checksums"][name]
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "changed chunks": lambda g: _damage_file(g, "chunks.jsonl"),
    "changed vectors": lambda g: _damage_file(g, "sentences.npy"),
    "changed stored text": lambda g: _damage_file(g, f"texts/{next((g / 'texts').iterdir()).name}"),
    "half-written manifest": lambda g: (g / "manifest.json").write_bytes(
        (g / "manifest.json").read_bytes()[:200]
    ),
    "missing generation": lambda g: __import__("shutil").rmtree(g),
    "file missing, as from an older version": lambda g: _drop_file(g, "passages.npy"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_index_is_reported_with_rebuild_command(
    case: str, docs: Path, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    index = Path(index_args[1])
    gen = live_generation(index)
    assert gen is not None
    DAMAGE[case](gen)
    code, out, err = run([*index_args, "ask", QUESTION], capsys)
    assert code == 1 and out == ""
    msg = one_message(err)
    assert "damaged" in msg
    hint = err.strip().splitlines()[-1]
    assert hint.startswith("Rebuild it with: vraagbaak --index ")
    # the hint is a command that works (the folder is named when the manifest tells it)
    cmd = shlex.split(hint.removeprefix("Rebuild it with: "))[1:]
    if "[PATH" in hint:
        cmd = [*cmd[:-2], str(docs)]
    else:
        assert cmd[-1] == str(docs.resolve())
    code, _, err = run(["--encoder", "fake:64", *cmd], capsys)
    assert code == 0, err
    answers(index_args, capsys)


# -- incremental updates, sources, remove --------------------------------------------


def test_incremental_updates_embed_only_what_changed(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "cache", encoder="fake:64")
    vb = Vraagbaak(settings)
    enc = get_encoder("fake:64")

    def ingest() -> tuple[BuildReport, int]:
        """Ingest ``docs``; the report and how many texts the encoder was given."""
        before = enc.texts  # type: ignore[attr-defined]
        report = vb.ingest([docs])
        return report, int(enc.texts - before)  # type: ignore[attr-defined]

    first, n_all = ingest()
    assert n_all == first.encoded > 50
    assert sorted(first.added) == sorted(f"docs/{n}" for n in SMALL)

    # nothing changed: nothing embedded
    rep, n = ingest()
    assert rep.up_to_date and n == 0

    # one file changed: only its new passages and sentences are embedded
    changed = docs / SMALL[0]
    changed.write_text(
        changed.read_text(encoding="utf-8")
        + "\n\nNieuwe alinea: de raad besprak het integraal werken opnieuw.\n",
        encoding="utf-8",
    )
    rep, n = ingest()
    assert rep.changed == [f"docs/{SMALL[0]}"]
    assert sorted(rep.unchanged) == sorted(f"docs/{x}" for x in SMALL[1:])
    assert 0 < n == rep.encoded < n_all / 4

    # a file added: only its texts are embedded; the date of the others is kept
    before = {s.source: s.indexed_at for s in vb.sources()}
    time.sleep(1.1)  # indexed_at has one-second resolution
    (docs / "nieuw.md").write_text("# Nieuw\n\nDe gemeente Houten werkt integraal.\n", "utf-8")
    rep, n = ingest()
    assert rep.added == ["docs/nieuw.md"] and 0 < n == rep.encoded <= 4
    after = {s.source: s.indexed_at for s in vb.sources()}
    assert all(after[s] == before[s] for s in before)
    assert after["docs/nieuw.md"] > max(before.values())

    # a file removed: nothing embedded
    (docs / SMALL[1]).unlink()
    rep, n = ingest()
    assert rep.removed == [f"docs/{SMALL[1]}"] and n == 0
    assert sorted(s.source for s in vb.sources()) == sorted(
        ["docs/nieuw.md", f"docs/{SMALL[0]}", f"docs/{SMALL[2]}"]
    )


def test_sources_and_remove(docs: Path, index_args: list[str],
                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*index_args, "sources"], capsys)
    assert code == 0
    for name in SMALL:
        assert f"docs/{name}\n" in out and f"file: {docs.resolve() / name}" in out
    assert re.search(r"— \d+ passages, txt, indexed \d{4}-\d\d-\d\dT", out)
    assert out.strip().endswith("encoder fake:64")

    code, out, _ = run([*index_args, "remove", str(docs / SMALL[0])], capsys)
    assert code == 0 and f"Removed docs/{SMALL[0]}; 2 sources" in out
    code, out, _ = run([*index_args, "sources", "--json"], capsys)
    assert len(out.strip().splitlines()) == 2 and SMALL[0] not in out

    code, _, err = run([*index_args, "remove", "docs/bestaat-niet.txt"], capsys)
    assert code == 1 and "not in the index" in one_message(err)
    # removing everything is refused; nothing is lost
    code, _, err = run([*index_args, "remove", "docs"], capsys)
    assert code == 1 and "empty" in one_message(err)
    answers(index_args, capsys)


def test_pdf_pages_survive_resplitting(tmp_path: Path) -> None:
    """A source carried over from the previous index keeps its pages when the passage
    sizes change (the text is split again from the stored text, not the file)."""
    from reportlab.pdfgen import canvas

    from vraagbaak.settings import ChunkSettings

    pdf = tmp_path / "src" / "twee.pdf"
    pdf.parent.mkdir()
    c = canvas.Canvas(str(pdf))
    for page in range(3):
        for k in range(12):
            c.drawString(72, 760 - 40 * k, f"Pagina {page + 1}, alinea {k + 1}: de gemeente werkt.")
        c.showPage()
    c.save()
    (tmp_path / "src" / "extra.txt").write_text("Een tekst over de raad.\n", "utf-8")
    s1 = Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c", encoder="fake:64")
    Vraagbaak(s1).ingest([pdf])
    s2 = s1.with_(chunking=ChunkSettings(target_chars=300, max_chars=400, min_chars=100))
    rep = Vraagbaak(s2).ingest([tmp_path / "src" / "extra.txt"], add=True)
    assert rep.changed == ["twee.pdf"]
    ix = Vraagbaak(s2).index
    pages = {c.page for c in ix.chunks if c.source == "twee.pdf"}
    assert pages == {1, 2, 3}
    for ch in ix.chunks:
        if ch.source == "twee.pdf":
            assert f"Pagina {ch.page}," in ch.text


# -- concurrency and killed ingests --------------------------------------------------


def test_second_ingest_is_refused_while_one_runs(
    docs: Path, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = answers(index_args, capsys)
    with write_lock(Path(index_args[1])):
        code, _, err = run([*index_args, "ingest", str(docs)], capsys)
        assert code == 1
        assert "Another vraagbaak process is updating the index" in one_message(err)
        # reading goes on while an ingest runs
        assert answers(index_args, capsys) == before


PRELUDE = r"""
import os, sys, time, hashlib
import numpy as np
from vraagbaak.index.encoders import register_encoder

class Slow:
    def __init__(self, arg):
        self.dim = 32
        self.id = "fake:32"
    def encode(self, texts, *, is_query=False):
        mark = os.environ.get("VB_MARK")
        if mark and not is_query:
            open(mark, "a").close()
        time.sleep(float(os.environ.get("VB_DELAY", "0")))
        out = np.zeros((len(texts), 32), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % 32] += 1
        n = np.linalg.norm(out, axis=1, keepdims=True)
        n[n == 0] = 1
        return out / n

register_encoder("slow", Slow)
from vraagbaak.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PRELUDE, *args], env={**os.environ, **env}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], limit: float = 120) -> None:
    end = time.monotonic() + limit
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"ingest ended early: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("ingest never started embedding")
        time.sleep(0.05)


def _sorted_sources(index: Path) -> list[str]:
    vb = Vraagbaak(Settings(index_dir=index, encoder="slow:"))
    return sorted(s.source for s in vb.sources())


@pytest.fixture
def slow_index(tmp_path: Path, docs: Path) -> tuple[list[str], dict[str, str], str]:
    """An index of two small docs built in a subprocess with the 'slow' encoder."""
    from vraagbaak.index.encoders import register_encoder

    register_encoder("slow", lambda arg: _slow_in_process())
    index = tmp_path / "index"
    env = {"VRAAGBAAK_CACHE": str(tmp_path / "cache"), "VB_DELAY": "0"}
    args = ["--index", str(index), "--encoder", "slow:"]
    first = tmp_path / "first"
    first.mkdir()
    for name in SMALL[:2]:
        (first / name).write_bytes((docs / name).read_bytes())
    p = _spawn([*args, "ingest", str(first)], env)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    before = _ask_json(args, env)
    return args, env, before


def _slow_in_process() -> object:
    """The subprocess's encoder, for querying in this process (same vectors)."""
    ns: dict[str, object] = {}
    exec(PRELUDE.split("register_encoder(\"slow\"")[0], ns)
    cls = ns["Slow"]
    return cls("")  # type: ignore[operator]


def _ask_json(args: list[str], env: dict[str, str]) -> str:
    p = _spawn([*args, "ask", "--json", QUESTION], env)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and "Traceback" not in err, err
    return out


@pytest.mark.slow
def test_ingest_killed_midway_leaves_old_index(
    tmp_path: Path, docs: Path, slow_index: tuple[list[str], dict[str, str], str]
) -> None:
    args, env, before = slow_index
    index = Path(args[1])
    live = live_generation(index)
    mark = tmp_path / "embedding-started"
    p = _spawn([*args, "ingest", str(docs)], {**env, "VB_DELAY": "0.3", "VB_MARK": str(mark)})
    _wait_for(mark, p)
    assert any(index.glob("gen-*")) and len(list(index.glob("gen-*"))) == 2  # half-built
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    # the old index is intact, verified and answers as before
    assert live_generation(index) == live
    assert _ask_json(args, env) == before
    assert _sorted_sources(index) == sorted(f"first/{n}" for n in SMALL[:2])
    # the next ingest works and clears the half-built generation
    p = _spawn([*args, "ingest", str(docs)], env)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert [g.name for g in index.glob("gen-*")] == [live_generation(index).name]  # type: ignore[union-attr]
    assert _sorted_sources(index) == sorted(f"docs/{n}" for n in SMALL)


@pytest.mark.slow
def test_ingest_killed_at_any_moment_leaves_a_usable_index(
    tmp_path: Path, docs: Path, slow_index: tuple[list[str], dict[str, str], str]
) -> None:
    """Kill ingests at several moments (start-up, reading, embedding, writing, swapping):
    afterwards the index is always either the old one or the complete new one."""
    args, env, _ = slow_index
    index = Path(args[1])
    old = sorted(f"first/{n}" for n in SMALL[:2])
    new = sorted(f"docs/{n}" for n in SMALL)
    for delay in (0.3, 0.8, 1.5, 2.5, 4.0):
        p = _spawn([*args, "ingest", str(docs)], env)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        srcs = _sorted_sources(index)
        assert srcs in (old, new)
        _ask_json(args, env)


@pytest.mark.slow
def test_two_ingests_at_once(tmp_path: Path, docs: Path,
                             slow_index: tuple[list[str], dict[str, str], str]) -> None:
    args, env, _ = slow_index
    mark = tmp_path / "first-is-embedding"
    first = _spawn([*args, "ingest", str(docs)], {**env, "VB_DELAY": "0.2", "VB_MARK": str(mark)})
    _wait_for(mark, first)
    second = _spawn([*args, "ingest", str(docs)], env)
    _, err2 = second.communicate(timeout=300)
    assert second.returncode == 1
    assert "Traceback" not in err2
    assert err2.startswith("vraagbaak: Another vraagbaak process is updating the index")
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert _sorted_sources(Path(args[1])) == sorted(f"docs/{n}" for n in SMALL)


# -- big input -----------------------------------------------------------------------


def _big_text(size: int) -> str:
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt")))
    reps = size // len(text.encode("utf-8")) + 1
    return (text + "\n\n") * reps


@pytest.mark.slow
def test_50_mb_text_reads_and_splits(tmp_path: Path) -> None:
    """The reading and splitting path at 50 MB (embedding that much with the real model
    takes hours; the embedding path is tested smaller below)."""
    big = tmp_path / "groot.txt"
    big.write_text(_big_text(50_000_000), encoding="utf-8")
    assert big.stat().st_size >= 50_000_000
    doc = read_document(big)
    chunks = chunk_document(doc)
    assert len(chunks) > 50_000
    for c in chunks[:: len(chunks) // 500]:
        assert doc.text[c.start : c.end] == c.text
    assert chunks[-1].end <= len(doc.text) and chunks[-1].end > len(doc.text) - 2000


def test_big_file_ingest_shows_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "groot.txt"
    big.write_text(_big_text(400_000), encoding="utf-8")
    monkeypatch.setenv("VRAAGBAAK_PROGRESS", "1")
    args = ["--index", str(tmp_path / "ix"), "--encoder", "fake:64"]
    code, out, err = run([*args, "ingest", str(big)], capsys)
    assert code == 0, err
    assert "Embedding passages" in err and "Traceback" not in err
    m = re.search(r"Indexed 1 sources, (\d+) passages", out)
    assert m and int(m.group(1)) > 500
