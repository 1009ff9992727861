"""The web app: rendering and handlers without a browser, then the real app driven with
Playwright in Debian's Chromium (headless) over the real e5 index of the bundled corpus."""

from __future__ import annotations

import html
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vraagbaak import InputError, Settings, Vraagbaak
from vraagbaak.index.analysis import Analyzer
from vraagbaak.index.encoders import register_encoder
from vraagbaak.types import Result
from vraagbaak.ui.app import Handlers, IndexBuilder, render_status, serve, upload_dir
from vraagbaak.ui.render import (
    NO_ANSWER,
    TermHighlighter,
    render_answer,
    render_hits,
    render_source,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
WAIT_MS = 120_000  # an upper bound for waits in the page, not a timing assertion
CONF = "#vb-min-conf input"  # the confidence option: a one-line text field

# -- a gated encoder: holds an ingest in the middle so its progress can be observed ---------

GATE = threading.Event()


class GatedEncoder:
    """Hashes words like the fake encoder, but each encode waits for ``GATE``."""

    id = "gated:16"
    dim = 16

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        GATE.wait()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(w.encode()) % self.dim] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        n[n == 0] = 1
        return out / n


register_encoder("gated", lambda arg: GatedEncoder())


# -- without a browser ----------------------------------------------------------------


@pytest.fixture
def fake_vb(fake_settings: Settings, corpus_copy: Path) -> Vraagbaak:
    vb = Vraagbaak(fake_settings)
    vb.ingest([corpus_copy])
    return vb


def _ready_handlers(vb: Vraagbaak) -> Handlers:
    builder = IndexBuilder(vb)
    builder.start()
    assert builder.wait(120).ready
    return Handlers(vb, builder)


def test_importing_vraagbaak_does_not_import_gradio() -> None:
    code = "import sys, vraagbaak, vraagbaak.ui; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ui_subcommand_is_registered_with_localhost_default() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vraagbaak.cli", "ui", "--help"],
        capture_output=True, text=True, check=True,
    )
    assert "--host" in out.stdout and "--port" in out.stdout and "127.0.0.1" in out.stdout


def test_ui_on_a_taken_port_is_one_message_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        env = {**os.environ, "VRAAGBAAK_CORPUS": str(tmp_path / "empty")}
        out = subprocess.run(
            [sys.executable, "-m", "vraagbaak.cli", "--index", str(tmp_path / "ix"), "ui",
             "--port", str(port)],
            capture_output=True, text=True, env=env, timeout=300,
        )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr


def test_term_highlighter_marks_question_terms_and_escapes_html() -> None:
    hl = TermHighlighter(Analyzer(), "Hoe werkt informeel overleg?")
    out = hl("Het <script>informele</script> overleggen & de raad")
    assert '<mark class="vb-term">informele</mark>' in out
    assert '<mark class="vb-term">overleggen</mark>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out
    assert "<mark" not in hl("De raad vergadert.")  # no shared term, nothing marked


def test_render_source_opens_only_indexed_sources(fake_vb: Vraagbaak) -> None:
    ix = fake_vb.index
    c = ix.chunks[3]
    page = render_source(ix, c.source, c.start, c.end)
    assert page.count('id="vb-focus"') == 1
    focus = page.split('id="vb-focus" class="vb-focus">', 1)[1].split("</mark>", 1)[0]
    import html as _html

    assert _html.unescape(focus) == c.text
    for bad in ("/etc/passwd", "../corpus/x.txt", str(ROOT / "README.md")):
        with pytest.raises(InputError, match="niet in de index"):
            render_source(ix, bad)
    with pytest.raises(InputError, match="buiten de tekst"):
        render_source(ix, c.source, 0, 10**9)
    h = _ready_handlers(fake_vb)
    assert "vb-error" in h.open_source("/etc/passwd", 0, 10)
    assert "vb-error" in h.open_source(c.source, "x", "y")


def test_handlers_turn_user_errors_into_messages(fake_vb: Vraagbaak) -> None:
    h = _ready_handlers(fake_vb)
    answer, passages = h.ask("   ", 5, [])
    assert "vb-error" in answer and "Stel eerst een vraag" in answer and passages == ""
    answer, _ = h.ask("Wat is een Village Deal?", 5, ["niet/bestaand.txt"])
    assert "vb-error" in answer and "niet/bestaand.txt" in answer
    assert "vb-error" in h.topic("", 5, [])
    answer, passages = h.ask("Wat is een Village Deal?", 3, [])
    assert "vb-error" not in answer
    assert passages.count("data-rank=") == 3


def test_abstention_shows_the_message_and_weak_passages(fake_vb: Vraagbaak) -> None:
    hits = tuple(fake_vb.search("Wat is de hoofdstad van Australië?", top_k=2))
    result = Result(question="Wat is de hoofdstad van Australië?", hits=hits, answer=None,
                    abstained=True, confidence=0.1)
    assert NO_ANSWER in render_answer(result, fake_vb.index)
    assert "vb-notice" not in render_answer(result, fake_vb.index)
    noted = replace(result, notices=("The question holds no words <b>.",))
    assert '<div class="vb-notice">The question holds no words &lt;b&gt;.</div>' in (
        render_answer(noted, fake_vb.index))
    weak = render_hits(hits, TermHighlighter(Analyzer(), result.question), weak=True)
    assert weak.count("vb-weak-badge") == 2 and "zwak" in weak


def test_index_is_built_in_the_background_with_progress(tmp_path: Path, corpus_copy: Path) -> None:
    corpus = tmp_path / "small"
    corpus.mkdir()
    src = sorted(corpus_copy.glob("*.txt"))[0]
    (corpus / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    os.environ["VRAAGBAAK_CORPUS"] = str(corpus)
    try:
        vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "cache",
                                encoder="gated:16"))
        GATE.clear()
        builder = IndexBuilder(vb)
        builder.start()
        h = Handlers(vb, builder)
        deadline = time.monotonic() + 120
        while builder.state.stage != "embedding" and time.monotonic() < deadline:
            time.sleep(0.05)
        st = builder.state
        assert st.building and not st.ready and st.stage == "embedding" and st.total > 0
        status = render_status(vb, st)
        assert "wordt gebouwd" in status and "<progress" in status
        answer, _ = h.ask("Wat is een Village Deal?", 5, [])
        assert "nog gebouwd" in answer
        GATE.set()
        st = builder.wait(120)
        assert st.ready and st.error is None
        assert "1 document ·" in render_status(vb, st)
        assert "vb-error" not in h.ask("Wat is een Village Deal?", 5, [])[0]
    finally:
        GATE.set()
        del os.environ["VRAAGBAAK_CORPUS"]


def test_empty_confidence_option_means_the_standard_threshold(fake_vb: Vraagbaak) -> None:
    h = _ready_handlers(fake_vb)
    q = "Wat is de hoofdstad van Australië?"
    standard = fake_vb.ask(q, top_k=5)
    for empty in ("", "  ", None):
        answer, _ = h.ask(q, 5, [], empty)
        assert ('data-abstained="true"' in answer) == standard.abstained
    # "0" is a real choice (never abstain); a comma works as decimal mark
    assert 'data-abstained="false"' in h.ask(q, 5, [], "0")[0]
    assert 'data-abstained="true"' in h.ask(q, 5, [], "1,0")[0]
    for bad in ("1,5", "-1", "nan", "veel"):
        answer, passages = h.ask(q, 5, [], bad)
        assert "vb-error" in answer and "Minimale zekerheid" in answer and passages == ""


def _result(vb: Vraagbaak, confidence: float, *, answered: bool = True) -> Result:
    from vraagbaak.types import Answer

    hits = tuple(vb.search("Wat is de Teylingse Ton?", top_k=3))
    c = hits[0].chunk
    ans = Answer(text=c.text[:40], source=c.source, start=c.start, end=c.start + 40,
                 score=confidence, title=c.title, section=c.section, line=c.line, page=c.page,
                 chunk_id=c.id) if answered else None
    return Result(question="Wat is de Teylingse Ton?", hits=hits, answer=ans,
                  abstained=not answered, confidence=confidence)


def test_sure_uncertain_and_abstained_answers_look_different(fake_vb: Vraagbaak) -> None:
    ix = fake_vb.index
    sure = render_answer(_result(fake_vb, 0.97), ix, uncertain_below=0.75)
    unsure = render_answer(_result(fake_vb, 0.57), ix, uncertain_below=0.75)
    none = render_answer(_result(fake_vb, 0.12, answered=False), ix, uncertain_below=0.75)
    assert 'data-verdict="sure"' in sure and "zekerheid 0,97" in sure and "onzeker" not in sure
    assert 'data-verdict="uncertain"' in unsure and "Onzeker antwoord" in unsure
    assert "zekerheid 0,57" in unsure and "Lees het na in de bron" in unsure
    assert 'data-verdict="abstained"' in none and NO_ANSWER in none and "0,12" in none
    for page in (sure, unsure, none):
        assert "0.97" not in page and "0.57" not in page and "score" not in page
    # the copy button carries a citation a policy note can use
    assert 'data-vb-copy="“' in sure and "(Bron: " in sure


def test_an_answer_reaching_into_the_passage_before_is_marked_where_it_lies(
    fake_vb: Vraagbaak,
) -> None:
    """An answer whose context starts in the passage before its own (a paragraph split
    between passages) still shows its passage, with the part of the answer that lies in
    it marked."""
    from vraagbaak.types import Answer

    ix = fake_vb.index
    c = next(c for c in ix.chunks[1:] if ix.chunks[c.id - 1].source == c.source)
    start, end = ix.chunks[c.id - 1].end - 12, c.start + 30
    text = ix.source_text(c.source)[start:end]
    ans = Answer(text=text, source=c.source, start=start, end=end, score=0.9, title=c.title,
                 section=c.section, line=c.line, page=c.page, chunk_id=c.id)
    hits = tuple(h for h in fake_vb.search("Wat is de Teylingse Ton?", top_k=3))
    page = render_answer(Result(question="?", hits=hits, answer=ans, abstained=False,
                                confidence=0.9), ix)
    assert "In de passage" in page
    assert f'<mark class="vb-answer">{html.escape(c.text[:30])}</mark>' in page


def test_export_has_the_answer_and_its_passages(fake_vb: Vraagbaak) -> None:
    h = _ready_handlers(fake_vb)
    answer, _, path = h.ask_and_export("Wat is de Teylingse Ton?", 3, [], "0")
    assert path is not None and "vb-error" not in answer
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("# Wat is de Teylingse Ton?")
    assert "**Antwoord**" in text and text.count("### [") == 3 and "(Bron: " in text
    assert h.ask_and_export("  ", 3, [], "")[2] is None


def test_upload_adds_documents_incrementally_and_remove_takes_them_out(
    fake_vb: Vraagbaak, tmp_path: Path
) -> None:
    h = _ready_handlers(fake_vb)
    before = {s.source for s in fake_vb.index.sources}
    doc = tmp_path / "up" / "Nota zwembad.md"
    doc.parent.mkdir()
    doc.write_text("# Nota zwembad De Waterlelie\n\nDatum: 3 maart 2026\n\nHet zwembad De "
                   "Waterlelie is op werkdagen open van zeven uur tot tien uur.\n", "utf-8")
    steps = list(h.add_files([str(doc)]))
    assert "toegevoegd: Nota zwembad.md" in steps[-1], steps[-1]
    after = {s.source: s for s in fake_vb.index.sources}
    assert set(after) == before | {"Nota zwembad.md"}  # nothing else removed
    info = after["Nota zwembad.md"]
    assert info.date == "3 maart 2026"
    assert Path(info.path).parent == upload_dir(fake_vb.settings)
    table = h.sources_table()
    assert "Nota zwembad De Waterlelie" in table and "3 maart 2026" in table
    # the same file again changes nothing
    assert "al in de index" in list(h.add_files([str(doc)]))[-1]
    # type and size limits
    bad = tmp_path / "up" / "script.exe"
    bad.write_bytes(b"MZ")
    assert "vb-error" in list(h.add_files([str(bad)]))[-1]
    assert "vb-error" in list(h.add_files([]))[-1]
    # remove: gone from the index and from the upload folder
    out = h.remove("Nota zwembad.md")
    assert "Verwijderd: Nota zwembad.md" in out
    assert {s.source for s in fake_vb.index.sources} == before
    assert not Path(info.path).exists()
    assert "vb-error" in h.remove("Nota zwembad.md")


def test_an_ingest_by_another_process_is_used_for_the_next_question(
    fake_vb: Vraagbaak, tmp_path: Path
) -> None:
    h = _ready_handlers(fake_vb)
    ix = fake_vb.index
    old_root = ix.root
    doc = tmp_path / "nieuw.txt"
    doc.write_text("Notitie over de ijsbaan\n\nDe ijsbaan in het Sportpark gaat op 1 december "
                   "open voor alle inwoners van de gemeente.\n", encoding="utf-8")
    other = Vraagbaak(fake_vb.settings)  # another process, as far as the app can tell
    other.ingest([doc], add=True)
    # the live generation is the new one; the old one stays on disk while this reader
    # holds it open (it is removed by a later ingest once no reader holds it)
    assert (fake_vb.settings.index_dir / "current").resolve() != old_root.resolve()
    # a reader that still holds the old index keeps working on what it has loaded
    from vraagbaak.qa.pipeline import Pipeline

    pipe = Pipeline(ix, fake_vb.encoder, fake_vb.settings)
    assert len(pipe.scores(pipe.question("Wanneer is de markt?")).dense) == len(ix.chunks)
    answer, passages = h.ask("Wanneer gaat de ijsbaan open?", 3, [], "0")
    assert "nieuw.txt" in passages and "vb-error" not in answer
    assert fake_vb.index.root != old_root
    page = h.open_source("nieuw.txt")
    assert "1 december" in page
    assert any(c[1] == "nieuw.txt" for c in h.source_choices())


def test_the_reader_survives_a_swap_between_question_and_click(
    fake_vb: Vraagbaak, tmp_path: Path
) -> None:
    h = _ready_handlers(fake_vb)
    src = fake_vb.index.sources[0].source
    doc = tmp_path / "x.txt"
    doc.write_text("Notitie\n\nEen korte notitie over de markt op zaterdag.\n", "utf-8")
    Vraagbaak(fake_vb.settings).ingest([doc], add=True)
    assert "vb-error" not in h.open_source(src)


def test_examples_only_for_the_bundled_corpus(fake_settings: Settings, tmp_path: Path) -> None:
    own = tmp_path / "eigen"
    own.mkdir()
    (own / "a.txt").write_text("Nota\n\nDe raad besluit over de begroting.\n", "utf-8")
    vb = Vraagbaak(fake_settings)
    vb.ingest([own])
    h = _ready_handlers(vb)
    assert h.show_examples() is False
    answer, _ = h.ask("", 5, [])
    assert "Village" not in answer


# -- in a real browser ----------------------------------------------------------------

ASK_Q = "Hoeveel gemeenten doen mee aan de Village Deals?"
TAB_QUESTIONS = (
    "Hoeveel gemeenten doen mee aan de Village Deals?",
    "Wat is de Teylingse Ton?",
    "Wat is voor een wethouder de grootste valkuil?",
)


APP_CALLS: list[tuple[Any, ...]] = []  # the app's calls to Vraagbaak.ask (see app_url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(corpus_index: Settings) -> Iterator[str]:
    """One app server for this module, over the real e5 index of the bundled corpus."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    port = _free_port()
    app_vb = Vraagbaak(corpus_index)
    asked = APP_CALLS
    real_ask = app_vb.ask

    def spy(*args: Any, **kwargs: Any) -> Any:  # what the app asked its library, for failures
        r = real_ask(*args, **kwargs)
        asked.append((args, kwargs, r.abstained, round(r.confidence, 4), len(r.hits),
                      str(app_vb.index.root), (r.answer.text[:60] if r.answer else None)))
        return r

    app_vb.ask = spy  # type: ignore[method-assign]
    demo, builder = serve(app_vb, host="127.0.0.1", port=port, block=False)
    assert builder.wait(300).ready
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser(app_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, app_url: str) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="nl-NL")
    pg = ctx.new_page()
    pg.set_default_timeout(WAIT_MS)
    _open(pg, app_url)
    try:
        yield pg
    finally:
        ctx.close()


def _open(pg: Any, url: str) -> None:
    pg.goto(url)
    pg.wait_for_selector("#vb-status[data-state=ready]")


def _ask(pg: Any, question: str, *, press_enter: bool = True) -> None:
    pg.fill("#vb-question textarea", question)
    if press_enter:
        pg.press("#vb-question textarea", "Enter")
    else:
        pg.click("#vb-ask")


def _wait_answer(pg: Any) -> None:
    # each test asks once in a fresh page, so the first answer block is this question's
    pg.wait_for_selector("#vb-answer .vb-result, #vb-answer .vb-error")


@pytest.mark.slow
@pytest.mark.browser
def test_asking_shows_the_answer_with_its_reference(page: Any, vb: Vraagbaak) -> None:
    status = page.inner_text("#vb-status")
    assert "5 documenten" in status and "e5" not in status
    _ask(page, ASK_Q)
    _wait_answer(page)
    answer = page.inner_text("#vb-answer .vb-answer-text")
    assert "11" in answer or "elf" in answer.lower()
    expected = vb.ask(ASK_Q)
    assert expected.answer is not None and expected.answer.text in answer
    ref = page.inner_text("#vb-answer-ref")
    assert expected.answer.source in ref and f"regel {expected.answer.line}" in ref
    assert expected.answer.title in ref
    # the quote is highlighted inside its passage
    assert page.inner_text("#vb-answer mark.vb-answer").strip() == expected.answer.text.strip()
    # the ranked passages: title, reference, score, the question's terms marked
    ranks = page.locator("#vb-passages .vb-passage[data-rank]")
    assert ranks.count() == 5
    first = ranks.nth(0).inner_text()
    assert expected.hits[0].chunk.title in first and "regel" in first
    assert "score" not in first  # no raw scores ("score 19.356" reads as nineteen thousand)
    assert page.locator("#vb-passages mark.vb-term").count() > 0


@pytest.mark.slow
@pytest.mark.browser
def test_abstention_in_the_page(page: Any, vb: Vraagbaak) -> None:
    q = "Wat is de hoofdstad van Australië?"
    # the strictest setting, so the test does not hang on the calibration of the day
    assert vb.ask(q, min_confidence=1.0).abstained, "precondition: the library abstains"
    page.get_by_text("Opties", exact=True).click()
    page.fill(CONF, "1")
    page.press(CONF, "Tab")
    _ask(page, q, press_enter=False)
    _wait_answer(page)
    assert NO_ANSWER in page.inner_text("#vb-answer")
    assert page.locator("#vb-passages .vb-weak").count() == 5
    assert "zwak" in page.inner_text("#vb-passages")


@pytest.mark.slow
@pytest.mark.browser
def test_empty_question_shows_a_message(page: Any) -> None:
    _ask(page, "   ", press_enter=False)
    page.wait_for_selector("#vb-answer .vb-error")
    assert "Stel eerst een vraag" in page.inner_text("#vb-answer .vb-error")


@pytest.mark.slow
@pytest.mark.browser
def test_passage_count_and_source_filter(page: Any, vb: Vraagbaak) -> None:
    houten = next(s for s in vb.index.sources if "houten" in s.source)
    page.get_by_text("Opties", exact=True).click()  # open the options accordion
    page.get_by_label(f"{houten.title} ({houten.source})").check()
    page.fill("#vb-topk input[type=number]", "3")
    page.press("#vb-topk input[type=number]", "Enter")
    _ask(page, ASK_Q)
    _wait_answer(page)
    page.wait_for_selector("#vb-passages .vb-passage[data-rank]")
    sources = page.eval_on_selector_all(
        "#vb-passages .vb-passage[data-rank]", "els => els.map(e => e.dataset.source)"
    )
    assert sources == [houten.source] * 3


@pytest.mark.slow
@pytest.mark.browser
def test_open_a_passage_in_its_source(page: Any, vb: Vraagbaak) -> None:
    _ask(page, ASK_Q)
    _wait_answer(page)
    second = vb.ask(ASK_Q).hits[1].chunk
    page.click("#vb-passages .vb-passage[data-rank='2'] .vb-open")
    page.wait_for_selector("#vb-reader #vb-focus")
    reader = page.locator("#vb-reader .vb-reader")
    assert reader.get_attribute("data-source") == second.source
    focus = page.inner_text("#vb-reader #vb-focus")
    assert " ".join(focus.split()) == " ".join(second.text.split())
    # the whole stored text is there, not just the passage
    text = vb.index.source_text(second.source)
    assert len(reader.inner_text()) > 0.9 * len(text.strip()) - 200
    # scrolled to the passage
    page.wait_for_function(
        """() => {
             const m = document.getElementById('vb-focus').getBoundingClientRect();
             const c = document.querySelector('#vb-reader .vb-reader').getBoundingClientRect();
             return m.top >= c.top - 1 && m.top < c.bottom; }"""
    )


@pytest.mark.slow
@pytest.mark.browser
def test_topic_view(page: Any) -> None:
    page.get_by_role("tab", name="Onderwerp").click()
    page.fill("#vb-topic textarea", "informeel overleg")
    page.click("#vb-topic-btn")
    page.wait_for_selector("#vb-topic-out .vb-topic")
    groups = page.locator("#vb-topic-out .vb-group")
    assert groups.count() >= 1
    first = groups.nth(0)
    assert first.get_attribute("data-source").endswith("movisie-2018-village-deals-rapport.txt")
    count = int(first.get_attribute("data-count"))
    assert count >= 3 and f"{count} passages" in first.inner_text()
    assert first.locator(".vb-passage").count() == min(count, 5)
    assert page.locator("#vb-topic-out mark.vb-term").count() > 0
    # a passage of the topic view opens in its source too
    first.locator(".vb-open").first.click()
    page.wait_for_selector("#vb-reader #vb-focus")


@pytest.mark.slow
@pytest.mark.browser
def test_several_tabs_ask_at_once(browser: Any, app_url: str, vb: Vraagbaak) -> None:
    expected = {q: vb.ask(q).answer for q in TAB_QUESTIONS}
    assert all(a is not None for a in expected.values())
    assert len({a.text for a in expected.values() if a}) == len(TAB_QUESTIONS)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        pages = [ctx.new_page() for _ in TAB_QUESTIONS]
        for pg in pages:
            pg.set_default_timeout(WAIT_MS)
            _open(pg, app_url)
        for pg, q in zip(pages, TAB_QUESTIONS, strict=True):
            pg.fill("#vb-question textarea", q)
        for pg in pages:  # fire them all before waiting for any
            pg.click("#vb-ask", no_wait_after=True)
        for pg, q in zip(pages, TAB_QUESTIONS, strict=True):
            _wait_answer(pg)
            shown = pg.inner_text("#vb-answer .vb-answer-text")
            ans = expected[q]
            assert ans is not None
            assert " ".join(ans.text.split()) in " ".join(shown.split())
            assert ans.source in pg.inner_text("#vb-answer-ref")
    finally:
        ctx.close()


# -- in a real browser: options, confidence, citations, topic questions ------------------

OFF_TOPIC = "Wat is het openingsuur van het zwembad?"
SCREENSHOTS = os.environ.get("VRAAGBAAK_SCREENSHOTS")


def _shot(pg: Any, name: str) -> None:
    """Save a screenshot for the docs when $VRAAGBAAK_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        pg.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def _open_options(pg: Any) -> None:
    pg.get_by_text("Opties", exact=True).click()
    pg.wait_for_selector(CONF)


@pytest.mark.slow
@pytest.mark.browser
def test_opening_options_keeps_the_standard_threshold(page: Any, vb: Vraagbaak) -> None:
    assert vb.ask(OFF_TOPIC).abstained, "precondition: the library abstains at its default"
    _open_options(page)
    assert page.input_value(CONF) == ""
    _ask(page, OFF_TOPIC, press_enter=False)
    _wait_answer(page)
    assert page.get_attribute("#vb-answer .vb-result", "data-verdict") == "abstained"
    assert NO_ANSWER in page.inner_text("#vb-answer")
    assert page.input_value(CONF) == ""


@pytest.mark.slow
@pytest.mark.browser
def test_a_low_confidence_answer_is_shown_as_onzeker(page: Any, vb: Vraagbaak) -> None:
    weak = vb.ask(OFF_TOPIC, min_confidence=0.0)
    assert not weak.abstained, "precondition: at threshold 0 the library answers"
    conf = weak.confidence
    assert conf < vb.settings.uncertain_below, conf
    _open_options(page)
    # Once in a full CI run the field did not read "0" for 120 s after typing, with the
    # check polled on animation frames; it never happened alone or under load here. The
    # field is now read by interval polling, typed again when it does not hold the value,
    # and the question is asked again, at most twice, until the app shows the verdict; the
    # assertions below judge the last answer, and a failure shows what the app asked its
    # library (APP_CALLS) and what the field held.
    from playwright.sync_api import expect

    held: list[str] = []
    for _ in range(3):
        for _retype in range(3):
            page.fill(CONF, "0")  # never abstain: the weak answer
            page.press(CONF, "Tab")
            try:
                expect(page.locator(CONF)).to_have_value("0", timeout=10_000)
                break
            except AssertionError:
                held.append(page.input_value(CONF))
        _ask(page, OFF_TOPIC, press_enter=False)
        try:
            page.wait_for_selector('#vb-answer .vb-result[data-verdict="uncertain"]',
                                   timeout=20_000)
            break
        except Exception:  # playwright's TimeoutError
            continue
    _wait_answer(page)
    result = page.locator("#vb-answer .vb-result")
    assert result.get_attribute("data-verdict") == "uncertain", (
        result.inner_text(), APP_CALLS[-4:], held, str(vb.index.root))
    text = result.inner_text()
    assert "Onzeker antwoord" in text and "Lees het na in de bron" in text
    shown = f"{conf:.2f}".replace(".", ",")
    assert f"zekerheid {shown}" in text and f"{conf:.2f}" not in text
    # its own look: not the sure answer's colour
    assert result.evaluate("e => getComputedStyle(e).borderLeftColor") != "rgb(46, 125, 50)"
    page.locator("#vb-answer .vb-result").scroll_into_view_if_needed()
    _shot(page, "screenshot-onzeker")


@pytest.mark.slow
@pytest.mark.browser
def test_a_sure_answer_copies_its_citation(browser: Any, app_url: str, vb: Vraagbaak) -> None:
    from vraagbaak.qa.citation import citation_text

    expected = vb.ask(ASK_Q)
    assert expected.answer is not None
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000},
                              permissions=["clipboard-read", "clipboard-write"], locale="nl-NL")
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(WAIT_MS)
        _open(pg, app_url)
        assert pg.get_attribute("html", "lang") == "nl"
        _ask(pg, ASK_Q)
        _wait_answer(pg)
        result = pg.locator("#vb-answer .vb-result")
        assert result.get_attribute("data-verdict") == "sure"
        assert "zeker · zekerheid 0," in result.inner_text()
        pg.click("#vb-answer-actions .vb-copy")
        pg.wait_for_selector("#vb-answer-actions .vb-copy[data-copied='1']")
        copied = pg.evaluate("() => navigator.clipboard.readText()")
        assert copied == citation_text(expected.answer, vb.index)
        date = next(s.date for s in vb.index.sources if s.source == expected.answer.source)
        assert date and date in copied and expected.answer.title in copied
        assert "score" not in pg.inner_text("body").lower()
        # the export of the answer with its passages
        with pg.expect_download() as dl:
            pg.click("#vb-export")
        text = Path(dl.value.path()).read_text(encoding="utf-8")
        assert text.startswith(f"# {ASK_Q}") and text.count("### [") == 5
        _shot(pg, "screenshot")
    finally:
        ctx.close()


@pytest.mark.slow
@pytest.mark.browser
def test_a_topic_question_goes_to_the_topic_view(page: Any) -> None:
    _ask(page, "Wat zeggen de bronnen over informeel overleg?")
    page.wait_for_selector("#vb-topic-out .vb-group")
    assert "informeel overleg" in page.input_value("#vb-topic textarea")
    first = page.locator("#vb-topic-out .vb-group").nth(0)
    assert first.get_attribute("data-source").endswith("movisie-2018-village-deals-rapport.txt")
    _shot(page, "screenshot-onderwerp")


# -- in a real browser: the user's own documents and a live index ------------------------

DOCX_QUESTION = "Hoeveel kost een dagkaart voor volwassenen in zwembad De Waterlelie?"
TXT_QUESTION = "Tot wanneer is de ijsbaan op het Marktplein open?"


def make_docx(path: Path) -> Path:
    """A small policy note as Word document (headings, a date, two sections)."""
    import docx

    d = docx.Document()
    d.add_heading("Beleidsnotitie zwembad De Waterlelie", level=0)
    d.add_paragraph("Datum: 12 februari 2026")
    d.add_heading("1 Openingstijden", level=1)
    d.add_paragraph(
        "Het gemeentelijk zwembad De Waterlelie is vanaf 1 april 2026 op werkdagen geopend "
        "van 7.00 tot 21.00 uur. In het weekend opent het zwembad om 9.00 uur."
    )
    d.add_heading("2 Tarieven", level=1)
    d.add_paragraph(
        "Een dagkaart voor volwassenen in zwembad De Waterlelie kost 6,50 euro. Kinderen tot "
        "twaalf jaar betalen 4 euro; een jaarabonnement kost 250 euro."
    )
    d.save(str(path))
    return path


@pytest.fixture(scope="module")
def own_app(
    tmp_path_factory: pytest.TempPathFactory, shared_cache: Path
) -> Iterator[tuple[str, Settings]]:
    """An app over its own index of the bundled corpus (embeddings from the session's
    cache), for tests that add and remove documents."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    settings = Settings(index_dir=tmp_path_factory.mktemp("own") / "index",
                        cache_dir=shared_cache)
    Vraagbaak(settings).ingest([ROOT / "corpus"])
    port = _free_port()
    demo, builder = serve(Vraagbaak(settings), host="127.0.0.1", port=port, block=False)
    assert builder.wait(300).ready
    try:
        yield f"http://127.0.0.1:{port}/", settings
    finally:
        demo.close()


def _answer_source(pg: Any) -> str:
    return str(pg.inner_text("#vb-answer-ref"))


@pytest.mark.slow
@pytest.mark.browser
def test_own_documents_and_a_live_index(
    browser: Any, own_app: tuple[str, Settings], tmp_path: Path
) -> None:
    url, settings = own_app
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="nl-NL")
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(WAIT_MS)
        _open(pg, url)
        # 1. upload a DOCX: answered and cited from it, without a restart
        pg.get_by_role("tab", name="Documenten").click()
        docx_path = make_docx(tmp_path / "Notitie zwembad.docx")
        pg.set_input_files("#vb-upload input[type=file]", str(docx_path))
        done = pg.wait_for_selector(
            "#vb-upload-status #vb-upload-done, #vb-upload-status .vb-error")
        assert "toegevoegd: Notitie zwembad.docx" in done.inner_text()
        pg.wait_for_selector("#vb-sources-table tr[data-source='Notitie zwembad.docx']")
        row = pg.inner_text("#vb-sources-table tr[data-source='Notitie zwembad.docx']")
        assert "Beleidsnotitie zwembad De Waterlelie" in row and "12 februari 2026" in row
        _shot(pg, "screenshot-documenten")
        pg.get_by_role("tab", name="Vraag").click()
        _ask(pg, DOCX_QUESTION)
        pg.wait_for_selector("#vb-answer .vb-result")
        assert "Notitie zwembad.docx" in _answer_source(pg)
        assert "6,50 euro" in pg.inner_text("#vb-answer .vb-answer-text")

        # 2. `vraagbaak ingest --add` in another process: the open app answers from it
        note = tmp_path / "ijsbaan.txt"
        note.write_text(
            "Notitie ijsbaan Marktplein\n\nDatum: 1 november 2026\n\nDe ijsbaan op het "
            "Marktplein is dit jaar open van 1 december tot en met 15 januari. De toegang is "
            "gratis voor inwoners.\n", encoding="utf-8")
        env = {**os.environ, "VRAAGBAAK_CACHE": str(settings.cache_dir)}
        out = subprocess.run(
            [sys.executable, "-m", "vraagbaak.cli", "--index", str(settings.index_dir),
             "ingest", "--add", str(note)],
            capture_output=True, text=True, env=env, timeout=600,
        )
        assert out.returncode == 0, out.stderr
        _ask(pg, TXT_QUESTION)
        pg.wait_for_function(
            "() => (document.querySelector('#vb-answer-ref') || {}).innerText?.includes("
            "'ijsbaan.txt')")
        assert "15 januari" in pg.inner_text("#vb-answer .vb-answer-text")
        # ... and its reader opens it
        pg.click("#vb-answer .vb-open")
        pg.wait_for_selector("#vb-reader .vb-reader[data-source='ijsbaan.txt'] #vb-focus")
        assert "15 januari" in pg.inner_text("#vb-reader #vb-focus")

        # 3. remove it in the app: gone
        pg.get_by_role("tab", name="Documenten").click()
        pg.wait_for_selector("#vb-sources-table tr[data-source='ijsbaan.txt']")
        pg.click("#vb-remove-pick input")
        pg.get_by_role("option", name="Notitie ijsbaan Marktplein (ijsbaan.txt)").click()
        pg.click("#vb-remove")
        pg.wait_for_selector("#vb-remove-status [data-done='removed']")
        assert pg.locator("#vb-sources-table tr[data-source='ijsbaan.txt']").count() == 0
        assert "ijsbaan.txt" not in {s.source for s in Vraagbaak(settings).index.sources}
        pg.get_by_role("tab", name="Vraag").click()
        _ask(pg, TXT_QUESTION)
        pg.wait_for_function(
            "() => !(document.querySelector('#vb-passages') || {}).innerText?.includes("
            "'15 januari') && document.querySelector('#vb-passages .vb-passage')")
        assert "ijsbaan.txt" not in pg.inner_text("#vb-passages")
    finally:
        ctx.close()


# -- scripts/run.sh -----------------------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _run_sh_until_served(repo: Path, env: dict[str, str], port: int) -> str:
    """Run scripts/run.sh until the app answers on ``port``, then stop it; its stderr."""
    proc = subprocess.Popen(
        ["bash", str(repo / "scripts" / "run.sh"), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not _port_open(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1]
        s = Settings(index_dir=Path(env["VRAAGBAAK_INDEX"]), cache_dir=Path(env["VRAAGBAAK_CACHE"]))
        while not Vraagbaak(s).has_index() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
    finally:
        os.killpg(proc.pid, 15)
        _, err = proc.communicate(timeout=60)
    return err


@pytest.mark.slow
def test_run_sh_twice_keeps_the_users_documents(tmp_path: Path) -> None:
    """run.sh builds the bundled corpus only when there is no index; a second run opens the
    index as it is, with a document the user added in between."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "scripts" / "run.sh").write_text(
        (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8"), encoding="utf-8")
    shim = tmp_path / "shim"
    shim.mkdir()
    # an installed .venv, as after a first run: pip is a no-op, vraagbaak is this checkout
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "activate").write_text(f'export PATH="{shim}:$PATH"\n')
    (shim / "python").write_text(
        f'#!/bin/sh\n[ "$1 $2" = "-m pip" ] && exit 0\nexec "{sys.executable}" "$@"\n')
    (shim / "vraagbaak").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m vraagbaak.cli "$@"\n')
    for f in shim.iterdir():
        f.chmod(0o755)
    small = tmp_path / "corpus"
    small.mkdir()
    src = sorted((ROOT / "corpus").glob("*.txt"))[0]
    (small / src.name).write_text(src.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    env = {
        **os.environ, "VRAAGBAAK_INDEX": str(tmp_path / "index"),
        "VRAAGBAAK_CACHE": str(tmp_path / "cache"), "VRAAGBAAK_CORPUS": str(small),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    settings = Settings(index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")

    err = _run_sh_until_served(repo, env, _free_port())
    assert "No index yet" in err
    assert [s.source for s in Vraagbaak(settings).index.sources] == [f"corpus/{src.name}"]

    mine = tmp_path / "eigen.txt"
    mine.write_text("Eigen notitie\n\nDe ijsbaan gaat op 1 december open.\n", encoding="utf-8")
    Vraagbaak(settings).ingest([mine], add=True)

    err = _run_sh_until_served(repo, env, _free_port())
    assert "No index yet" not in err
    assert {s.source for s in Vraagbaak(settings).index.sources} == {
        f"corpus/{src.name}", "eigen.txt"}


def test_ui_reports_the_build_on_stderr_with_the_time_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first run says how far the build is, also when stderr is not a terminal."""
    from vraagbaak.ui.app import BuildState
    from vraagbaak.ui.cli import report_build

    states = iter([
        BuildState(building=True, stage="embedding", done=0, total=1000),
        BuildState(building=True, stage="embedding", done=500, total=1000),
        BuildState(ready=True),
    ])

    class Builder:
        @property
        def state(self) -> BuildState:
            return next(states)

    report_build(Builder(), every=0.05)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "0/1000 texts embedded" in err
    assert "500/1000 texts embedded, about 0 s left" in err
    assert "the index is ready" in err
