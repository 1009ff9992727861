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

import contextlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vraagbaak import IndexCorruptError, Settings, Vraagbaak
from vraagbaak.cli import main
from vraagbaak.index.encoders import get_encoder
from vraagbaak.index.layout import live_generation, write_lock
from vraagbaak.index.reader import Index
from vraagbaak.index.store import BuildReport
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


def test_vraagbaaks_own_folders_are_not_read_as_documents(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index keeps a copy of each document and the cache keeps the evaluation sets'
    documents: a folder that holds them (a home folder, say) is ingested without them,
    each named once as skipped, and naming one of them is refused with one message."""
    own_index, own_cache = docs / "idx", docs / "cache"
    args = ["--index", str(own_index), "--encoder", "fake:64"]
    assert run([*args, "ingest", str(docs)], capsys)[0] == 0
    (own_cache).mkdir()
    (own_cache / "embeddings.sqlite").write_bytes(b"")
    (own_cache / "eval").mkdir()
    (own_cache / "eval" / "kopie.txt").write_text("Een kopie die geen bron is.", "utf-8")
    other = ["--index", str(tmp_path / "other"), "--encoder", "fake:64"]
    code, _, err = run([*other, "ingest", str(docs)], capsys)
    assert code == 0, err
    skipped = sorted(ln for ln in err.splitlines() if ln.startswith("skipped "))
    assert len(skipped) == 2, err
    assert "vraagbaak index" in skipped[1] and "cache folder" in skipped[0]
    vb = Vraagbaak(Settings(index_dir=tmp_path / "other", encoder="fake:64"))
    names = [s.source for s in vb.index.sources]
    assert names and not any("/idx/" in n or "/cache/" in n for n in names)
    for folder in (own_index, own_cache):
        code, _, err = run([*other, "ingest", "--add", str(folder)], capsys)
        assert code == 1 and "not a folder of documents" in one_message(err)


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


def _truncate_file(gen: Path, name: str) -> None:
    p = gen / name
    p.write_bytes(p.read_bytes()[:-100])


def _swap_in_other_vectors(gen: Path) -> None:
    """passages.npy replaced by a file of the same size and shape with other vectors."""
    p = gen / "passages.npy"
    vectors = np.load(p)
    np.save(p, vectors[::-1].copy())


DAMAGE: dict[str, Callable[[Path], None]] = {
    "changed chunks": lambda g: _damage_file(g, "chunks.jsonl"),
    "changed vectors": lambda g: _damage_file(g, "sentences.npy"),
    "changed stored text": lambda g: _damage_file(g, f"texts/{next((g / 'texts').iterdir()).name}"),
    "half-written manifest": lambda g: (g / "manifest.json").write_bytes(
        (g / "manifest.json").read_bytes()[:200]
    ),
    "missing generation": lambda g: __import__("shutil").rmtree(g),
    "file missing, as from an older version": lambda g: _drop_file(g, "passages.npy"),
    "truncated vectors": lambda g: _truncate_file(g, "sentences.npy"),
    "truncated BM25": lambda g: _truncate_file(g, "bm25/data.csc.index.npy"),
    "vectors swapped for others of the same size": _swap_in_other_vectors,
}
CAUGHT_ONLY_BY_CHECK = {"changed chunks", "changed vectors", "changed stored text"}
"""A byte changed in the middle of a file: opening checks sizes and the first and last
bytes of each file, not every byte, so ``vraagbaak check`` (which hashes every file) finds
these; a stored text is also hashed whenever it is read."""


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_index_is_reported_with_rebuild_command(
    case: str, docs: Path, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    index = Path(index_args[1])
    gen = live_generation(index)
    assert gen is not None
    DAMAGE[case](gen)
    commands = [["check"]] if case in CAUGHT_ONLY_BY_CHECK else [["ask", QUESTION], ["check"]]
    for command in commands:
        code, out, err = run([*index_args, *command], capsys)
        assert code == 1 and out == "", (command, out, err)
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
    code, out, err = run([*index_args, "check"], capsys)
    assert code == 0 and "is intact" in out, err


def test_opening_checks_sizes_and_edges_not_every_byte(
    docs: Path, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Opening reads no more than a few kilobytes of each file; a byte changed in the
    middle of the passages is still caught when that passage is read, or by ``check``."""
    gen = live_generation(Path(index_args[1]))
    assert gen is not None
    _damage_file(gen, "chunks.jsonl")
    ix = Index.open(Path(index_args[1]))  # opens: the passages are parsed when used
    with pytest.raises(IndexCorruptError, match="damaged: passage"):
        list(ix.chunks)
    ix.close()


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


# -- issue 14: the life of generations, the cache, the manifest, hostile files -------
#
# Each test below fails without the fix it names (see docs/formats.md, "Hostile inputs
# and faults tried").


def _gens(index: Path) -> list[str]:
    return sorted(p.name for p in index.glob("gen-*"))


def _rewrite_manifest(gen: Path, change: Callable[[dict], None]) -> None:
    """Edit a manifest and store it with a valid checksum of its own (a hand edit that
    only the type checks can catch)."""
    try:
        from vraagbaak.index.manifest import dumps
    except ImportError:  # the code before the manifest had a checksum of its own
        dumps = json.dumps

    m = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    change(m)
    (gen / "manifest.json").write_text(dumps(m), encoding="utf-8")


def test_index_without_current_link_is_never_rebuilt_or_cleaned(
    docs: Path, index_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 1: generations without ``current`` (copied without symlinks) are an index:
    ``ask``, ``ingest`` and ``ingest --add`` refuse with the command that recovers it."""
    index = Path(index_args[1])
    before = answers(index_args, capsys)
    # a second, older complete generation and a half-built one lie beside it too
    live = live_generation(index)
    assert live is not None
    (index / "current").unlink()
    gens = _gens(index)
    for cmd in (["ask", QUESTION], ["ingest", str(docs)], ["ingest", "--add", str(docs)],
                ["sources"]):
        code, out, err = run([*index_args, *cmd], capsys)
        assert code == 1, (cmd, out, err)
        msg = one_message(err)
        assert "no 'current' link" in msg and "Nothing was changed" in msg
        assert _gens(index) == gens and not (index / "current").exists()
    hint = err.strip().splitlines()[-1]
    assert hint.startswith("Point it at its newest complete generation with: ln -sfn ")
    assert subprocess.run(shlex.split(hint.split(": ", 1)[1]), check=False).returncode == 0
    assert answers(index_args, capsys) == before


def test_cleanup_without_a_live_generation_removes_nothing(docs: Path, tmp_path: Path) -> None:
    from vraagbaak.index.store import cleanup

    settings = Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c", encoder="fake:64")
    Vraagbaak(settings).ingest([docs])
    (settings.index_dir / "current").unlink()
    gens = _gens(settings.index_dir)
    cleanup(settings.index_dir)
    assert _gens(settings.index_dir) == gens


def test_ask_on_a_folder_with_only_a_half_built_generation_builds(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A killed first ingest leaves a generation without a manifest: that is no index,
    and ``ask`` may build one (and clear the leftover)."""
    index = tmp_path / "ix"
    (index / "gen-20200101-000000-1-1" / "texts").mkdir(parents=True)
    monkeypatch.setenv("VRAAGBAAK_CORPUS", str(docs))
    code, _, err = run(["--index", str(index), "--encoder", "fake:64", "ask", QUESTION],
                       capsys)
    assert code == 0, err
    assert len(_gens(index)) == 1 and "gen-20200101-000000-1-1" not in _gens(index)


def _flip_cache_bits(cache: Path, n: int) -> int:
    import sqlite3

    db = sqlite3.connect(cache / "embeddings.sqlite")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    table = "vec" if "vec" in tables else "emb"  # emb: the layout before checksums
    rows = db.execute(f"SELECT k, v FROM {table} ORDER BY k LIMIT ?", (n,)).fetchall()
    for i, (k, v) in enumerate(rows):
        b = bytearray(v)
        b[(7 * i) % len(b)] ^= 1 << (i % 8)
        db.execute(f"UPDATE {table} SET v = ? WHERE k = ?", (bytes(b), k))
    db.commit()
    db.close()
    return len(rows)


def test_damaged_cache_entries_are_misses(docs: Path, tmp_path: Path) -> None:
    """Case 2: one flipped bit in 60 cached vectors: those 60 texts are embedded again,
    the new index equals one built without a cache, and the entries are rewritten."""
    import numpy as np

    s1 = Settings(index_dir=tmp_path / "a", cache_dir=tmp_path / "cache", encoder="fake:64")
    Vraagbaak(s1).ingest([docs])
    assert _flip_cache_bits(tmp_path / "cache", 60) == 60
    rep = Vraagbaak(s1.with_(index_dir=tmp_path / "b")).ingest([docs])
    assert rep.encoded == 60
    fresh = Settings(index_dir=tmp_path / "c", cache_dir=tmp_path / "c2", encoder="fake:64")
    Vraagbaak(fresh).ingest([docs])
    got = Vraagbaak(s1.with_(index_dir=tmp_path / "b")).index
    want = Vraagbaak(fresh).index
    for name in ("passage_vectors", "sentence_vectors"):
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(want, name))
        assert np.isfinite(a).all() and np.array_equal(a, b)
    # rewritten: a third index embeds nothing
    assert Vraagbaak(s1.with_(index_dir=tmp_path / "d")).ingest([docs]).encoded == 0


def test_cache_rejects_non_finite_and_non_unit_vectors(tmp_path: Path) -> None:
    import numpy as np

    from vraagbaak.index.cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "e.sqlite")
    good = np.ones(4, np.float32) / 2
    cache.put_many({"good": good, "inf": np.array([np.inf, 0, 0, 0], np.float32),
                    "nan": np.full(4, np.nan, np.float32), "long": good * 3,
                    "zero": np.zeros(4, np.float32)})
    assert sorted(cache.get_many(["good", "inf", "nan", "long", "zero"], dim=4)) == [
        "good", "zero"]
    assert cache.get_many(["good"], dim=8) == {}
    # vectors of the first layout, without checksums, are not read
    cache._db.execute("CREATE TABLE emb (k TEXT PRIMARY KEY, v BLOB)")  # type: ignore[union-attr]
    cache._db.execute("INSERT INTO emb VALUES ('old', ?)", (good.tobytes(),))  # type: ignore[union-attr]
    assert cache.get_many(["old"], dim=4) == {}


@pytest.mark.parametrize("mode", ["bare", "separate"])
@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_add_without_cache_carries_vectors_over(
    damage: str, mode: str, docs: Path, tmp_path: Path
) -> None:
    """Case 5: with the cache gone or broken, ``ingest --add`` embeds only the new file;
    the unchanged sources' vectors come from the previous generation (its sentences
    looked up as they were embedded, with or without their title)."""
    import numpy as np

    cache = tmp_path / "cache"
    settings = Settings(index_dir=tmp_path / "ix", cache_dir=cache, encoder="fake:64",
                        sentence_vectors=mode)
    vb = Vraagbaak(settings)
    first = vb.ingest([docs])
    before = np.array(vb.index.passage_vectors)
    __import__("shutil").rmtree(cache)
    if damage == "garbage":
        cache.mkdir()
        (cache / "embeddings.sqlite").write_bytes(os.urandom(5000))
    extra = tmp_path / "nieuw.md"
    extra.write_text("# Nieuw\n\nDe gemeente Houten werkt integraal.\n", "utf-8")
    rep = vb.ingest([extra], add=True)
    assert 0 < rep.encoded <= 4 and rep.reused >= first.encoded
    after = np.array(vb.index.passage_vectors)
    assert {r.tobytes() for r in before} <= {r.tobytes() for r in after}


def test_manifest_flipped_byte_is_caught(index_args: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Case 3: a byte changed inside a value of the manifest (still valid JSON)."""
    gen = live_generation(Path(index_args[1]))
    assert gen is not None
    raw = (gen / "manifest.json").read_bytes()
    i = raw.index(b'"title": "') + len(b'"title": "')
    (gen / "manifest.json").write_bytes(raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:])
    code, out, err = run([*index_args, "ask", QUESTION], capsys)
    assert code == 1 and out == ""
    assert "manifest was changed" in one_message(err)


def test_source_pointing_at_another_sources_text_is_caught(
    docs: Path, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 3: a source's sha256 set to another source's (manifest checksum recomputed):
    its text is checked when read, so neither the reader nor ``ingest --add`` uses the
    other document."""
    index = Path(index_args[1])
    gen = live_generation(index)
    assert gen is not None

    def swap(m: dict) -> None:
        m["sources"][0]["sha256"] = m["sources"][1]["sha256"]

    _rewrite_manifest(gen, swap)
    name = json.loads((gen / "manifest.json").read_text("utf-8"))["sources"][0]["source"]
    vb = Vraagbaak(Settings(index_dir=index, encoder="fake:64"))
    with pytest.raises(Exception, match=r"stored text of .* is not the text") as e:
        vb.index.source_text(name)
    assert type(e.value).__name__ == "IndexCorruptError"
    extra = docs.parent / "extra.txt"
    extra.write_text("Een tekst over de raad en integraal werken.\n", "utf-8")
    code, _, err = run([*index_args, "ingest", "--add", str(extra)], capsys)
    assert code == 1 and "is not the text it was indexed from" in one_message(err)
    assert live_generation(index) == gen


BAD_MANIFESTS: dict[str, Callable[[dict], None]] = {
    "encoder null": lambda m: m.__setitem__("encoder", None),
    "sources null": lambda m: m.__setitem__("sources", None),
    "chunks a string": lambda m: m["sources"][0].__setitem__("chunks", "12"),
    "unknown source field": lambda m: m["sources"][0].__setitem__("extra", 1),
    "newline in a source name": lambda m: m["sources"][0].__setitem__("source", "a\n[1] b"),
    "checksums null": lambda m: m.__setitem__("checksums", None),
    "analysis a list": lambda m: m.__setitem__("analysis", []),
}


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_manifest_with_wrong_types_is_damaged_not_a_traceback(
    case: str, docs: Path, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    index = Path(index_args[1])
    gen = live_generation(index)
    assert gen is not None
    _rewrite_manifest(gen, BAD_MANIFESTS[case])
    for cmd in (["ask", QUESTION], ["sources"], ["ingest", "--add", str(docs)]):
        code, out, err = run([*index_args, *cmd], capsys)
        assert code == 1 and out == "", (cmd, out, err)
        assert "damaged" in one_message(err), err
    assert live_generation(index) == gen


def test_reader_keeps_its_generation_through_ingests(
    docs: Path, tmp_path: Path
) -> None:
    """Case 4: an index opened before two ingests can still read all its parts (the
    ingests leave the generation a reader holds, and remove it once released)."""
    settings = Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c", encoder="fake:64")
    Vraagbaak(settings).ingest([docs / SMALL[0]])
    reader = Vraagbaak(settings)
    ix = reader.index
    held = ix.root
    writer = Vraagbaak(settings)
    writer.ingest([docs / SMALL[1]])
    writer.ingest([docs / SMALL[2]])
    assert held.is_dir() and live_generation(settings.index_dir) != held
    assert ix.source_text(SMALL[0]) and len(ix.sentence_vectors) and ix.bm25 is not None
    ix.close()
    writer.ingest([docs / SMALL[0]])
    assert not held.exists() and len(_gens(settings.index_dir)) == 1


@pytest.mark.slow
def test_ask_in_a_loop_during_ten_ingests(
    tmp_path: Path, docs: Path, slow_index: tuple[list[str], dict[str, str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Case 4: ``ask`` never fails while ten ingests (separate processes) swap
    generations."""
    import threading

    args, env, _ = slow_index
    sets = [[str(docs / n) for n in SMALL[:2]], [str(docs / n) for n in SMALL]]
    results: list[int] = []

    def ingests() -> None:
        for i in range(10):
            p = _spawn([*args, "ingest", *sets[i % 2]], env)
            p.communicate(timeout=300)
            results.append(p.returncode)

    t = threading.Thread(target=ingests)
    t.start()
    asked, failed = 0, []
    while t.is_alive():
        code, out, err = run([*args, "ask", "--json", QUESTION], capsys)
        asked += 1
        if code != 0 or '"passages": [{' not in out:
            failed.append(err)
    t.join()
    assert results == [0] * 10
    assert asked >= 10 and failed == [], failed
    # a generation an ask held during the last swap may remain; the next ingest takes it
    assert len(_gens(Path(args[1]))) <= 2
    __import__("gc").collect()  # indexes of finished asks in this process let go
    p = _spawn([*args, "ingest", *sets[0]], env)
    p.communicate(timeout=300)
    assert p.returncode == 0 and len(_gens(Path(args[1]))) == 1


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _no_hang(seconds: int) -> Iterator[None]:
    def fire(*_: object) -> None:
        raise _Timeout(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_fifo_given_as_file_does_not_hang(index_args: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Case 6: a FIFO named ``x.txt`` is refused at once."""
    fifo = tmp_path / "x.txt"
    os.mkfifo(fifo)
    with _no_hang(30):
        code, _, err = run([*index_args, "ingest", "--add", str(fifo)], capsys)
    assert code == 1 and "named pipe" in one_message(err)
    answers(index_args, capsys)


def test_odd_entries_in_a_folder_are_skipped_with_a_line(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cases 7 and 8: a FIFO, a broken and a looping link, a link to a folder, a name that
    is not UTF-8 and a name with a line break are each skipped with one escaped line;
    the other files are indexed."""
    os.mkfifo(docs / "pijp.txt")
    os.symlink(docs / "weg.txt", docs / "kapot.txt")
    os.symlink(docs / "lus.txt", docs / "lus.txt")
    other = tmp_path / "elders"
    other.mkdir()
    (other / "x.txt").write_text("Tekst.\n", "utf-8")
    os.symlink(other, docs / "map")
    text = (CORPUS / SMALL[0]).read_bytes()
    with open(os.path.join(os.fsencode(docs), b"rapport\xff.txt"), "wb") as f:
        f.write(text)
    (docs / "a\n[1] vals.txt").write_bytes(text)
    args = ["--index", str(tmp_path / "ix"), "--encoder", "fake:64"]
    with _no_hang(60):
        code, out, err = run([*args, "ingest", str(docs)], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    skipped = {ln.split(": ", 1)[0].rsplit("/", 1)[1]: ln for ln in lines}
    assert len(lines) == 6, err
    assert "named pipe" in skipped["pijp.txt"]
    assert "broken symbolic link" in skipped["kapot.txt"]
    assert "loops" in skipped["lus.txt"]
    assert "link to a folder" in skipped["map"]
    assert "not valid UTF-8" in skipped["rapport\\xff.txt"]
    assert "control characters" in skipped["a\\n[1] vals.txt"]
    assert f"Indexed {len(SMALL)} sources" in out and "6 skipped" in out


@pytest.mark.parametrize("errno_", ["EROFS", "ENOSPC", "short write"])
def test_unwritable_index_folder_is_one_message(
    errno_: str, docs: Path, index_args: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Case 7: a read-only file system (nothing can be created) and a full disk (writing
    fails midway): one message, the old index answers, nothing is left behind."""
    import errno

    import numpy as np

    from vraagbaak.index import layout, store

    index = Path(index_args[1])
    before, gens = answers(index_args, capsys), _gens(index)
    code = getattr(errno, errno_, 0)
    if errno_ == "EROFS":
        real = os.mkdir

        def mkdir(path: object, *a: object, **k: object) -> None:
            if str(index) in os.fsdecode(path):  # type: ignore[arg-type]
                raise OSError(code, os.strerror(code), path)
            real(path, *a, **k)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "mkdir", mkdir)
    elif errno_ == "ENOSPC":
        def save(*a: object, **k: object) -> None:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(store.np, "save", save)
    else:  # numpy's own report of a full disk carries no errno
        def short(*a: object, **k: object) -> None:
            raise OSError("56960 requested and 17376 written")

        monkeypatch.setattr(store.np, "save", short)
        monkeypatch.setattr(layout, "_full", lambda _: True)
    (docs / "nieuw.md").write_text("# Nieuw\n\nDe gemeente Houten werkt integraal.\n", "utf-8")
    for extra in ([], ["--add"]):
        code_, _, err = run([*index_args, "ingest", *extra, str(docs)], capsys)
        assert code_ == 1
        msg = one_message(err)
        assert "Cannot write the index" in msg and "was not changed" in msg
        assert ("--index DIR" if errno_ == "EROFS" else "No space left on device") in msg
    monkeypatch.undo()
    assert _gens(index) == gens and np is not None
    assert answers(index_args, capsys) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-k", "abc"], "invalid int value: 'abc'"),
        (["-k", "0"], "top_k must be greater than 0"),
        (["--min-confidence", "5"], "from 0 to 1"),
        (["--min-confidence", "nan"], "from 0 to 1"),
        (["--min-confidence", "-0.1"], "from 0 to 1"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_bad_ask_options_are_one_message_and_exit_1(
    extra: list[str], message: str, index_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 8: ``-k abc`` exits 1 (argparse's own exit is 2), a minimum confidence outside
    0..1 or nan is refused rather than silently refusing every answer."""
    code, out, err = run([*index_args, "ask", *extra, QUESTION], capsys)
    assert code == 1 and out == ""
    assert message in one_message(err)


def test_min_confidence_is_checked_by_the_library(index_args: list[str]) -> None:
    from vraagbaak.errors import InputError

    for bad in (5.0, float("nan"), -1.0, float("inf")):
        with pytest.raises(InputError, match="from 0 to 1"):
            Settings(abstain_threshold=bad)
        vb = Vraagbaak(Settings(index_dir=Path(index_args[1]), encoder="fake:64"))
        with pytest.raises(InputError, match="from 0 to 1"):
            vb.ask(QUESTION, min_confidence=bad)
    assert Settings(abstain_threshold=0.0).abstain_threshold == 0.0


def test_question_cut_notice_only_when_cut(index_args: list[str]) -> None:
    """Case 8: removing control characters is no cut; 10,000 characters are."""
    vb = Vraagbaak(Settings(index_dir=Path(index_args[1]), encoder="fake:64"))
    assert vb.ask("Wat\x00 moeten\x1b bestuurders\x7f doen?").notices == ()
    long_q = ("Wat moeten bestuurders doen? " * 400)[:10_000]
    assert vb.ask(long_q).notices == ("The question was cut to its first 2000 characters.",)


def test_unknown_encoder_is_reported_before_walking_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 8: cheap checks come first (the test used to walk the real /tmp)."""
    from vraagbaak.index import builder

    def walk(*_: object) -> None:
        raise AssertionError("the folders were walked")

    monkeypatch.setattr(builder, "discover", walk)
    code, _, err = run(["--index", str(tmp_path / "ix"), "--encoder", "word2vec", "ingest",
                        str(tmp_path)], capsys)
    assert code == 1 and "Unknown encoder" in one_message(err)
