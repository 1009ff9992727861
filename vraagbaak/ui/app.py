"""The Gradio web app over :class:`~vraagbaak.Vraagbaak`.

The page asks questions, shows the quoted answer inside its passage with its reference and
how sure it is (*zeker*, *onzeker*, or the abstention with the nearest, weak passages), the
ranked passages with the question's terms highlighted, a reader that opens an indexed source
at a passage, a topic view, the documents in the index (add by upload, remove), and the
index's status (with progress while the index of the bundled corpus is being built).

The index is live: before every question the app checks whether an ingest (by the app or
by any other process) has swapped in a new index generation, and uses it.

Rendering is done by small pure functions in :mod:`vraagbaak.ui.render`; only
:func:`build_app` and :func:`serve` import gradio. The index is shared by all browser tabs
and only read while serving; the encoder serialises its own calls.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, VraagbaakError
from ..qa.confidence import format_nl, parse_confidence
from ..qa.topic import topic_of_question
from ..types import Result
from .render import (
    TermHighlighter,
    _nl_datetime,
    render_answer,
    render_error,
    render_examples,
    render_hits,
    render_report,
    render_source,
    render_sources_table,
    render_topic,
)

if TYPE_CHECKING:
    import gradio as gr

    from ..api import Vraagbaak
    from ..index.reader import Index
    from ..settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# The examples name the bundled corpus: shown only when its sources are indexed.
EXAMPLE_QUESTIONS = (
    "Hoeveel gemeenten doen mee aan de Village Deals?",
    "Wat is de Teylingse Ton?",
    "Wat is voor een wethouder de grootste valkuil?",
    "Van wanneer tot wanneer liep het project Village Deal?",
)
EXAMPLE_TOPICS = ("informeel overleg", "ontschotten van budgetten", "rol van de gemeenteraad")
MAX_PASSAGES = 20
MAX_UPLOAD_MB = 50
"""Largest file the app accepts for upload (the server refuses larger ones)."""
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm")
"""What the upload accepts; narrowed to the formats this vraagbaak reads (see
:func:`upload_suffixes`)."""
# The page is Dutch: say so before anything renders (Gradio's template says "en").
HEAD = '<script>document.documentElement.setAttribute("lang", "nl");</script>'

# Clicking a "Lees in context" button inside an HTML block sends its data to Python.
_OPEN_JS = """
element.addEventListener('click', (e) => {
  const c = e.target.closest('[data-vb-copy]');
  if (c) {
    e.preventDefault();
    const text = c.dataset.vbCopy;
    const done = () => { c.dataset.copied = '1'; c.textContent = 'Gekopieerd ✓';
      setTimeout(() => { c.textContent = c.dataset.label || 'Kopieer bronvermelding'; }, 2500); };
    const fallback = () => { const t = document.createElement('textarea'); t.value = text;
      document.body.appendChild(t); t.select(); document.execCommand('copy'); t.remove(); done(); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else { fallback(); }
    return;
  }
  const b = e.target.closest('[data-vb-open]');
  if (!b) return;
  e.preventDefault();
  trigger('click', {source: b.dataset.source, start: b.dataset.start, end: b.dataset.end});
});
"""
# Clicking an example question (or topic) puts it into its text field.
_EXAMPLE_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-vb-example]');
  if (!b) return;
  e.preventDefault();
  const sel = b.closest('[data-target]').dataset.target;
  const box = document.querySelector(sel + ' textarea') || document.querySelector(sel + ' input');
  if (!box) return;
  box.value = b.dataset.vbExample;
  box.dispatchEvent(new Event('input', {bubbles: true}));
  box.focus();
});
"""
_SCROLL_JS = """() => { setTimeout(() => {
  const m = document.getElementById('vb-focus');
  if (m) m.scrollIntoView({block: 'center'});
}, 50); }"""

CSS = """
.vb-status {font-size: 0.95em; color: var(--body-text-color-subdued);}
.vb-status progress {width: 16em; vertical-align: middle;}
.vb-answer-text {font-size: 1.15em; line-height: 1.5;}
.vb-ref {color: var(--body-text-color-subdued); font-size: 0.92em; margin: 0.3em 0;}
mark.vb-answer {background: #ffe58a; padding: 0 2px; border-radius: 2px; color: #111;}
mark.vb-term {background: #cfe8ff; padding: 0 1px; border-radius: 2px; color: #111;}
mark#vb-focus, mark.vb-focus {background: #ffe58a; color: #111;}
.vb-passage {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6em 0.9em; margin: 0.6em 0;}
.vb-passage.vb-weak {border-style: dashed; opacity: 0.85;}
.vb-passage-text {white-space: pre-wrap; line-height: 1.45;}
.vb-head {font-weight: 600;}
.vb-score {color: var(--body-text-color-subdued); font-weight: normal; font-size: 0.9em;}
.vb-badge {display: inline-block; font-size: 0.8em; padding: 0 6px; border-radius: 8px;
  background: #eee; color: #555; margin-left: 4px;}
.vb-badge.vb-weak-badge {background: #fde2e2; color: #9b1c1c;}
.vb-open {cursor: pointer; border: 1px solid var(--border-color-primary); background: none;
  border-radius: 6px; padding: 1px 8px; font-size: 0.85em; margin-top: 0.3em;
  color: var(--body-text-color);}
.vb-error {border-left: 4px solid #d33; padding: 0.5em 0.8em; background: #fff1f1; color: #7a1010;
  white-space: pre-wrap;}
.vb-abstain {font-size: 1.1em; font-weight: 600;}
.vb-verdict {font-weight: 600; margin-bottom: 0.3em;}
.vb-result.vb-sure {border-left: 4px solid #2e7d32; padding-left: 0.8em;}
.vb-result.vb-uncertain {border-left: 4px solid #c77700; padding: 0.4em 0.8em;
  background: #fff7e6; border-radius: 4px; color: #3b2a00;}
.vb-result.vb-uncertain .vb-answer-text {font-style: italic;}
.vb-result.vb-abstained {border-left: 4px solid #888; padding-left: 0.8em;}
.vb-explain {font-size: 0.95em; margin: 0.2em 0 0.4em 0;}
.vb-notice {font-size: 0.9em; margin: 0 0 0.4em 0; color: #6b4e00;}
.vb-badge.vb-sure-badge {background: #e3f3e4; color: #1b5e20;}
.vb-badge.vb-uncertain-badge {background: #ffe2b3; color: #7a4400;}
.vb-actions {margin: 0.4em 0;}
.vb-copy {cursor: pointer; border: 1px solid var(--border-color-primary); background: none;
  border-radius: 6px; padding: 1px 8px; font-size: 0.85em; color: var(--body-text-color);}
.vb-sources-table {border-collapse: collapse; width: 100%; font-size: 0.95em;}
.vb-sources-table th, .vb-sources-table td {text-align: left; padding: 4px 8px;
  border-bottom: 1px solid var(--border-color-primary); vertical-align: top;}
.vb-sources-table td.vb-src {color: var(--body-text-color-subdued); font-size: 0.9em;}
.vb-routed {margin-bottom: 0.4em;}
.vb-examples {margin: 0.3em 0; font-size: 0.92em;}
.vb-example {cursor: pointer; border: 1px solid var(--border-color-primary); background: none;
  border-radius: 12px; padding: 1px 10px; margin: 2px 4px 2px 0; color: var(--body-text-color);}
.vb-reader {max-height: 70vh; overflow-y: auto; white-space: pre-wrap; line-height: 1.5;
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.8em 1em;}
.vb-group h3 {margin: 0.8em 0 0.2em 0;}
"""


# -- index status and building ---------------------------------------------------


@dataclass(frozen=True)
class BuildState:
    """Where building the index stands.

    Attributes:
        ready: the index exists and can be queried.
        building: a build is running.
        stage: the build's current stage (``reading``, ``embedding``, ...).
        done: units done in the stage.
        total: units in the stage.
        error: a message for the user when the build failed.
    """

    ready: bool = False
    building: bool = False
    stage: str = ""
    done: int = 0
    total: int = 0
    error: str | None = None


class IndexBuilder:
    """Builds the index of the bundled corpus in the background when there is none.

    The app starts it before serving, so the page answers at once and shows the build's
    progress instead of hanging.
    """

    def __init__(self, vb: Vraagbaak) -> None:
        self.vb = vb
        self._lock = threading.Lock()
        self._state = BuildState()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> BuildState:
        with self._lock:
            return self._state

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state = BuildState(**{**self._state.__dict__, **changes})

    def start(self) -> None:
        """In a background thread: build the index when there is none, then load it and the
        encoder, so the first question does not wait for them."""
        with self._lock:
            if self._thread is not None or self._state.ready:
                return
            stage = "loading" if self.vb.has_index() else "reading"
            self._state = BuildState(building=True, stage=stage)
            self._thread = threading.Thread(target=self._run, name="vraagbaak-index", daemon=True)
            self._thread.start()

    def _progress(self, stage: str, done: int, total: int) -> None:
        self._set(stage=stage, done=done, total=total)

    def _run(self) -> None:
        try:
            self.vb.ensure_index(progress=self._progress)
            self._set(stage="loading", done=0, total=0)
            self.vb.index.warm_up()
            self.vb.encoder.encode(["vraag"], is_query=True)
            reader = self.vb.reader  # on by default: loaded before the first question
            if reader is not None:
                reader.warm_up()
        except VraagbaakError as e:
            self._set(building=False, error=e.user_message())
        except Exception as e:  # a bug, but the page must still say what happened
            logger.exception("building the index failed")
            self._set(building=False, error=f"Het bouwen van de index is mislukt: {e}")
        else:
            self._set(building=False, ready=True)

    def wait(self, timeout: float | None = None) -> BuildState:
        """Wait for a running build to end (for tests and scripts)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return self.state


_STAGES = {"reading": "bronnen lezen", "embedding": "passages inbedden", "loading": "laden"}


def render_status(vb: Vraagbaak, state: BuildState) -> str:
    """The index status line: documents and passages, or the build's progress."""
    if state.error:
        return render_error(state.error)
    if state.building or not state.ready:
        stage = _STAGES.get(state.stage, state.stage or "starten")
        bar = ""
        if state.total:
            bar = (
                f' <progress value="{state.done}" max="{state.total}"></progress> '
                f"{state.done}/{state.total}"
            )
        what = (
            "De index wordt geladen" if state.stage == "loading"
            else "De index van de meegeleverde bronnen wordt gebouwd"
        )
        return (
            '<div class="vb-status" id="vb-status" data-state="building">'
            f"{what} ({html.escape(stage)}){bar} — even geduld, de pagina werkt zo.</div>"
        )
    try:
        ix = vb.index
        n_sources, n_chunks = len(ix.sources), len(ix.chunks)
        created = str(ix.manifest.get("created", ""))
    except VraagbaakError as e:
        return render_error(e.user_message())
    when = f" · bijgewerkt {html.escape(_nl_datetime(created))}" if created else ""
    return (
        '<div class="vb-status" id="vb-status" data-state="ready" '
        f'data-generation="{html.escape(ix.root.name)}">'
        f"Index: {n_sources} {'document' if n_sources == 1 else 'documenten'} · "
        f"{n_chunks} passages{when}</div>"
    )


def upload_dir(settings: Settings) -> Path:
    """Where the app keeps the files uploaded to it: beside the index folder (the index
    records their path, as for any ingested file)."""
    d = settings.index_dir
    return d.parent / f"{d.name}-documenten"


def upload_suffixes() -> tuple[str, ...]:
    """The file types the upload accepts: those this vraagbaak reads."""
    from ..ingest.readers import SUPPORTED_SUFFIXES

    return tuple(x for x in UPLOAD_SUFFIXES if x in SUPPORTED_SUFFIXES)


def _safe_name(name: str) -> str:
    """A file name without folders or odd characters (the source name it is cited by)."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.\- ]+", "_", stem).strip(" .") or "document"
    return stem[:120] + suffix


def bundled_sources_indexed(index: Index) -> bool:
    """Whether the bundled corpus is in the index (its example questions then apply)."""
    from ..settings import bundled_corpus

    corpus = bundled_corpus()
    try:
        bundled = {f"{corpus.resolve().name}/{p.name}" for p in corpus.glob("*.txt")}
    except OSError:
        return False
    return bool(bundled) and bundled <= {s.source for s in index.sources}


# -- the handlers (plain functions, testable without a browser) ------------------------


class Handlers:
    """What the page's events call. Each returns HTML; user errors become a message.

    Before each question, topic or source it reads, it switches to the live index
    generation (:meth:`Vraagbaak.refresh`), so documents added or removed by any process
    are used at once.
    """

    def __init__(self, vb: Vraagbaak, builder: IndexBuilder) -> None:
        self.vb = vb
        self.builder = builder
        self._writing = threading.Lock()

    def _ready(self) -> None:
        st = self.builder.state
        if st.error:
            raise VraagbaakError(st.error)
        if not st.ready:
            raise VraagbaakError("De index wordt nog gebouwd; probeer het zo opnieuw.")
        if self.vb.refresh():
            logger.info("a new index generation is live; using it")

    @staticmethod
    def _guard(fn: Callable[[], tuple[Any, ...]], n: int) -> tuple[Any, ...]:
        try:
            return fn()
        except VraagbaakError as e:
            return (render_error(e.user_message()),) + ("",) * (n - 1)
        except Exception as e:  # a bug: log it, but show a message, not a traceback
            logger.exception("the web app failed")
            return (render_error(f"Er ging iets mis ({type(e).__name__}: {e})."),) + ("",) * (n - 1)

    def _result(
        self, question: str, top_k: float, sources: Sequence[str] | None, min_confidence: Any
    ) -> Result:
        if not (question or "").strip():
            hint = EXAMPLE_QUESTIONS[0] if self._bundled() else "Wat is het doel van de nota?"
            raise InputError("Stel eerst een vraag, bijvoorbeeld: " + hint)
        limit = parse_confidence(min_confidence)
        self._ready()
        k = max(1, min(MAX_PASSAGES, int(top_k or 5)))
        return self.vb.ask(
            question, top_k=k, sources=list(sources or []) or None, min_confidence=limit
        )

    def _render(self, result: Result) -> tuple[str, str]:
        ix = self.vb.index
        hl = TermHighlighter(ix.analyzer, result.question)
        return (
            render_answer(result, ix, uncertain_below=self.vb.settings.uncertain_below),
            render_hits(result.hits, hl, weak=result.abstained, index=ix),
        )

    def ask(
        self,
        question: str,
        top_k: float,
        sources: Sequence[str] | None,
        min_confidence: Any = None,
    ) -> tuple[str, ...]:
        """Answer a question: (answer HTML, passages HTML).

        ``min_confidence`` is the confidence below which the app abstains, as typed in the
        options ("0,7" or "0.7"; empty or None: the calibrated default), as
        ``vraagbaak ask --min-confidence``.
        """
        return self._guard(lambda: self._render(self._result(
            question, top_k, sources, min_confidence)), 2)

    def ask_and_export(
        self,
        question: str,
        top_k: float,
        sources: Sequence[str] | None,
        min_confidence: Any = None,
    ) -> tuple[str, str, str | None]:
        """As :meth:`ask`, plus a Markdown file with the answer and its passages (None when
        there is no result)."""

        def run() -> tuple[str, str, str | None]:
            result = self._result(question, top_k, sources, min_confidence)
            answer, passages = self._render(result)
            return answer, passages, self._export(result)

        out = self._guard(run, 3)
        return out[0], out[1], out[2] or None

    def _export(self, result: Result) -> str:
        from ..qa.export import result_markdown

        text = result_markdown(
            result, self.vb.index, uncertain_below=self.vb.settings.uncertain_below
        )
        folder = Path(tempfile.mkdtemp(prefix="vraagbaak-export-"))
        path = folder / "vraagbaak-antwoord.md"
        path.write_text(text, encoding="utf-8")
        return str(path)

    def topic(self, topic: str, per_source: float, sources: Sequence[str] | None) -> str:
        """The topic view's HTML."""
        def run() -> tuple[str]:
            if not (topic or "").strip():
                hint = EXAMPLE_TOPICS[0] if self._bundled() else "samenwerking"
                raise InputError("Geef een onderwerp, bijvoorbeeld: " + hint)
            self._ready()
            res = self.vb.topic(
                topic, per_source=max(1, int(per_source or 5)),
                sources=list(sources or []) or None,
            )
            ix = self.vb.index
            return (render_topic(res, TermHighlighter(ix.analyzer, topic), ix),)

        return str(self._guard(run, 1)[0])

    def open_source(self, source: str, start: Any = None, end: Any = None) -> str:
        """The reader's HTML for ``source`` (only indexed sources), focused on start:end."""

        def run() -> tuple[str]:
            if not source:
                raise InputError("Kies een bron om te lezen.")
            self._ready()
            try:
                s = int(start) if start not in (None, "") else None
                e = int(end) if end not in (None, "") else None
            except (TypeError, ValueError):
                raise InputError("Ongeldige passage.") from None
            try:
                return (render_source(self.vb.index, str(source), s, e),)
            except OSError:
                # an ingest swapped the index (and removed this generation) meanwhile
                self.vb.refresh()
                return (render_source(self.vb.index, str(source), s, e),)

        return str(self._guard(run, 1)[0])

    def source_choices(self) -> list[tuple[str, str]]:
        """(label, source) for every indexed source (empty while building)."""
        if not self.builder.state.ready:
            return []
        try:
            self.vb.refresh()
            return [(f"{s.title} ({s.source})", s.source) for s in self.vb.index.sources]
        except VraagbaakError:
            return []

    def sources_table(self) -> str:
        """The documents in the index as a table (a message while building)."""
        if not self.builder.state.ready:
            return '<div class="vb-ref">De index wordt nog gebouwd.</div>'
        try:
            self.vb.refresh()
            return render_sources_table(self.vb.index)
        except VraagbaakError as e:
            return render_error(e.user_message())

    def _bundled(self) -> bool:
        try:
            return self.builder.state.ready and bundled_sources_indexed(self.vb.index)
        except VraagbaakError:
            return False

    def show_examples(self) -> bool:
        """Whether the example questions (about the bundled corpus) apply to this index."""
        return self._bundled()

    def generation(self) -> str:
        """The name of the live index generation ('' when there is none)."""
        from ..index.layout import live_generation

        try:
            live = live_generation(self.vb.settings.index_dir)
        except OSError:
            return ""
        return live.name if live is not None else ""

    # -- documents -----------------------------------------------------------

    def add_files(self, files: Sequence[Any] | None) -> Iterator[str]:
        """Add uploaded files to the index (as ``vraagbaak ingest --add``), yielding the
        progress and then what was done, as HTML.

        Each file must be of a type vraagbaak reads and at most :data:`MAX_UPLOAD_MB` MB.
        The files are kept in :func:`upload_dir`, named as uploaded.
        """
        paths = [Path(str(getattr(f, "name", f))) for f in (files or [])]
        try:
            if not paths:
                raise InputError("Kies eerst een of meer documenten om toe te voegen.")
            allowed = upload_suffixes()
            for p in paths:
                if p.suffix.lower() not in allowed:
                    raise InputError(
                        f"{p.name}: dit soort bestand leest vraagbaak niet "
                        f"(wel: {', '.join(allowed)})."
                    )
                if p.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024:
                    raise InputError(f"{p.name} is groter dan {MAX_UPLOAD_MB} MB.")
            self._ready()
        except VraagbaakError as e:
            yield render_error(e.user_message())
            return
        except OSError as e:
            yield render_error(f"Het bestand is niet te lezen ({e}).")
            return
        if not self._writing.acquire(blocking=False):
            yield render_error("Er wordt al een document toegevoegd; wacht tot dat klaar is.")
            return
        try:
            yield from self._ingest_uploads(paths)
        finally:
            self._writing.release()

    def _ingest_uploads(self, paths: list[Path]) -> Iterator[str]:
        folder = upload_dir(self.vb.settings)
        folder.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        new: list[Path] = []
        for p in paths:
            dst = folder / _safe_name(p.name)
            if not dst.exists():
                new.append(dst)
            shutil.copyfile(p, dst)
            saved.append(dst)
        progress: dict[str, Any] = {"stage": "reading", "done": 0, "total": len(saved)}
        outcome: dict[str, Any] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(stage=stage, done=done, total=total)

        def work() -> None:
            try:
                outcome["report"] = self.vb.ingest(saved, add=True, progress=on_progress)
            except VraagbaakError as e:
                outcome["error"] = e.user_message()
            except Exception as e:  # a bug: log it, show a message
                logger.exception("adding documents failed")
                outcome["error"] = f"Toevoegen is mislukt ({type(e).__name__}: {e})."

        t = threading.Thread(target=work, name="vraagbaak-upload", daemon=True)
        t.start()
        names = ", ".join(p.name for p in saved)
        while t.is_alive():
            stage = _STAGES.get(progress["stage"], progress["stage"])
            done, total = progress["done"], progress["total"]
            bar = (f' <progress value="{done}" max="{total}"></progress> {done}/{total}'
                   if total else "")
            yield (
                '<div class="vb-status" id="vb-upload-progress">'
                f"Bezig met toevoegen van {html.escape(names)} ({html.escape(stage)}){bar}</div>"
            )
            t.join(0.3)
        if "error" in outcome:
            for p in new:
                p.unlink(missing_ok=True)
            yield render_error(outcome["error"])
            return
        report = outcome["report"]
        for p, _why in report.skipped:
            if Path(p) in new:
                Path(p).unlink(missing_ok=True)
        yield render_report(report)

    def remove(self, source: str | None) -> str:
        """Take one source out of the index; a file uploaded to the app is deleted too."""

        def run() -> tuple[str]:
            if not source:
                raise InputError("Kies eerst het document dat weg moet.")
            self._ready()
            info = next((s for s in self.vb.index.sources if s.source == source), None)
            if info is None:
                raise InputError(f"'{source}' staat niet (meer) in de index.")
            if not self._writing.acquire(blocking=False):
                raise InputError("Er wordt al een document toegevoegd; wacht tot dat klaar is.")
            try:
                report = self.vb.remove([source])
            finally:
                self._writing.release()
            path = Path(info.path)
            if path.parent.resolve() == upload_dir(self.vb.settings).resolve():
                path.unlink(missing_ok=True)
            return (render_report(report, removed=True),)

        return str(self._guard(run, 1)[0])


# -- the app -----------------------------------------------------------------------


def _theme() -> Any:
    import gradio as gr

    # system fonts only: the page must not fetch fonts from the internet
    return gr.themes.Soft(
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"],
    )


def build_app(vb: Vraagbaak, builder: IndexBuilder | None = None) -> gr.Blocks:
    """The Gradio Blocks app over ``vb``. Starts ``builder`` (made here if not given), which
    builds a missing index in the background and loads it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    builder = builder or IndexBuilder(vb)
    builder.start()
    h = Handlers(vb, builder)
    threshold = _standard_threshold()

    with gr.Blocks(title="vraagbaak", analytics_enabled=False) as demo:
        gr.HTML("<h1 style='margin:0'>vraagbaak</h1>"
                "<div class='vb-ref'>Stel een vraag over de bronnen; het antwoord is een "
                "letterlijk citaat met bronvermelding.</div>", js_on_load=None)
        status = gr.HTML(render_status(vb, builder.state), elem_id="vb-status-box", js_on_load=None)
        seen_generation = gr.State("")
        with gr.Tabs(selected="vraag") as tabs:
            with gr.Tab("Vraag", id="vraag"):
                with gr.Row():
                    question = gr.Textbox(
                        label="Vraag", placeholder="Bijvoorbeeld: Wat is het doel van de nota?",
                        lines=1, max_lines=3, scale=5, elem_id="vb-question", autofocus=True,
                    )
                    ask_btn = gr.Button("Vraag", variant="primary", scale=1, elem_id="vb-ask")
                q_examples = gr.HTML("", elem_id="vb-examples", js_on_load=_EXAMPLE_JS)
                with gr.Accordion("Opties", open=False):
                    top_k = gr.Slider(1, MAX_PASSAGES, value=vb.settings.top_k, step=1,
                                      label="Aantal passages", elem_id="vb-topk")
                    min_conf = gr.Textbox(
                        value="", lines=1, max_lines=1, elem_id="vb-min-conf",
                        label="Minimale zekerheid om te antwoorden (0–1; leeg = standaard)",
                        placeholder=f"standaard {format_nl(threshold)}; hoger = vaker "
                        "'geen antwoord', bijvoorbeeld 0,8",
                    )
                    sources = gr.CheckboxGroup(
                        choices=h.source_choices(), label="Zoek alleen in (leeg = alle bronnen)",
                        elem_id="vb-sources",
                    )
                answer = gr.HTML(elem_id="vb-answer", js_on_load=_OPEN_JS, label="Antwoord")
                export = gr.DownloadButton(
                    "Exporteer antwoord met passages (.md)", visible=False, elem_id="vb-export",
                    size="sm",
                )
                gr.HTML("<h3 style='margin-bottom:0'>Passages</h3>", js_on_load=None)
                passages = gr.HTML(elem_id="vb-passages", js_on_load=_OPEN_JS)
            with gr.Tab("Onderwerp", id="onderwerp"):
                with gr.Row():
                    topic = gr.Textbox(label="Onderwerp", scale=5, elem_id="vb-topic",
                                       placeholder="Bijvoorbeeld: samenwerking met inwoners")
                    topic_btn = gr.Button("Toon passages", variant="primary", scale=1,
                                          elem_id="vb-topic-btn")
                t_examples = gr.HTML("", elem_id="vb-topic-examples", js_on_load=_EXAMPLE_JS)
                per_source = gr.Slider(1, 10, value=5, step=1, label="Passages per document",
                                       elem_id="vb-per-source")
                topic_out = gr.HTML(elem_id="vb-topic-out", js_on_load=_OPEN_JS)
            with gr.Tab("Bron lezen", id="bron"):
                # allow_custom_value: the choices change with the live index, and a value the
                # page still holds must not make every later event fail; the handlers check it
                reader_pick = gr.Dropdown(choices=h.source_choices(), label="Bron", value=None,
                                          elem_id="vb-reader-pick", interactive=True,
                                          allow_custom_value=True)
                reader = gr.HTML(elem_id="vb-reader", js_on_load=None)
            with gr.Tab("Documenten", id="documenten"):
                gr.HTML(
                    "<div class='vb-ref'>Voeg eigen documenten toe "
                    f"({', '.join(upload_suffixes())}; hoogstens {MAX_UPLOAD_MB} MB per "
                    "bestand). Ze worden gelezen, in passages verdeeld en aan de index "
                    "toegevoegd, zoals <code>vraagbaak ingest --add</code>; de volgende vraag "
                    "gebruikt ze.</div>", js_on_load=None,
                )
                upload = gr.File(
                    label="Documenten toevoegen", file_count="multiple",
                    file_types=list(upload_suffixes()), type="filepath", elem_id="vb-upload",
                )
                upload_status = gr.HTML(elem_id="vb-upload-status", js_on_load=None)
                table = gr.HTML(h.sources_table(), elem_id="vb-sources-table", js_on_load=None)
                with gr.Row():
                    remove_pick = gr.Dropdown(
                        choices=h.source_choices(), value=None, label="Document verwijderen",
                        elem_id="vb-remove-pick", interactive=True, scale=4,
                        allow_custom_value=True,
                    )
                    remove_btn = gr.Button("Verwijder uit de index", variant="stop", scale=1,
                                           elem_id="vb-remove")
                remove_status = gr.HTML(elem_id="vb-remove-status", js_on_load=None)
        timer = gr.Timer(3.0)

        listing = [status, sources, reader_pick, remove_pick, table, q_examples, t_examples]

        def lists(picked: Sequence[str] | None, reading: str | None,
                  removing: str | None) -> tuple[Any, ...]:
            choices = h.source_choices()
            known = {c[1] for c in choices}
            examples = h.show_examples()
            return (
                render_status(vb, builder.state),
                gr.update(choices=choices, value=[s for s in (picked or []) if s in known]),
                gr.update(choices=choices, value=reading if reading in known else None),
                gr.update(choices=choices, value=removing if removing in known else None),
                h.sources_table(),
                render_examples(EXAMPLE_QUESTIONS if examples else (), "#vb-question",
                                "Voorbeeldvragen"),
                render_examples(EXAMPLE_TOPICS if examples else (), "#vb-topic", "Voorbeelden"),
            )

        def on_load(picked: Sequence[str] | None) -> Iterator[tuple[Any, ...]]:
            while True:
                st = builder.state
                done = st.ready or st.error is not None or not st.building
                yield (*lists(picked, None, None), h.generation())
                if done:
                    return
                time.sleep(0.5)

        def on_tick(seen: str, picked: Sequence[str] | None, reading: str | None,
                    removing: str | None) -> tuple[Any, ...]:
            gen = h.generation()
            if gen == seen or not builder.state.ready:
                return (*(gr.update() for _ in listing), seen)
            return (*lists(picked, reading, removing), gen)

        def on_ask(q: str, k: float, srcs: Sequence[str] | None, conf: str,
                   per: float) -> tuple[Any, ...]:
            about = topic_of_question(q or "")
            if about is not None:
                note = (
                    '<div class="vb-routed" id="vb-routed">Dit is een vraag naar een overzicht: '
                    f"zie het tabblad <b>Onderwerp</b> voor alle passages over "
                    f"“{html.escape(about)}”.</div>"
                )
                return (note, "", gr.update(visible=False), about, h.topic(about, per, srcs),
                        gr.Tabs(selected="onderwerp"))
            a, p, path = h.ask_and_export(q, k, srcs, conf)
            dl = gr.update(value=path, visible=True) if path else gr.update(visible=False)
            return (a, p, dl, gr.update(), gr.update(), gr.update())

        def on_open(evt: gr.EventData) -> tuple[Any, ...]:
            data = getattr(evt, "_data", None) or {}
            src = str(data.get("source") or "")
            choices = h.source_choices()
            return (
                h.open_source(src, data.get("start"), data.get("end")),
                gr.update(choices=choices, value=src) if src in {c[1] for c in choices}
                else gr.update(),
                gr.Tabs(selected="bron"),
            )

        def on_upload(files: Any, picked: Sequence[str] | None, reading: str | None,
                      removing: str | None) -> Iterator[tuple[Any, ...]]:
            for html_ in h.add_files(files):
                yield (html_, *(gr.update() for _ in listing), gr.update())
            yield (gr.update(), *lists(picked, reading, removing), h.generation())

        def on_remove(src: str | None, picked: Sequence[str] | None,
                      reading: str | None) -> tuple[Any, ...]:
            msg = h.remove(src)
            return (msg, *lists(picked, reading, None), h.generation())

        # resolved here: gradio reads the hint to pass the event's data
        on_open.__annotations__["evt"] = gr.EventData
        demo.load(on_load, inputs=[sources], outputs=[*listing, seen_generation],
                  concurrency_limit=None, show_progress="hidden")
        timer.tick(on_tick, inputs=[seen_generation, sources, reader_pick, remove_pick],
                   outputs=[*listing, seen_generation], concurrency_limit=None,
                   show_progress="hidden")
        for trig in (ask_btn.click, question.submit):
            trig(on_ask, inputs=[question, top_k, sources, min_conf, per_source],
                 outputs=[answer, passages, export, topic, topic_out, tabs],
                 concurrency_limit=8, concurrency_id="ask")
        for trig in (topic_btn.click, topic.submit):
            trig(h.topic, inputs=[topic, per_source, sources], outputs=topic_out,
                 concurrency_limit=8, concurrency_id="ask")
        for box in (answer, passages, topic_out):
            box.click(on_open, outputs=[reader, reader_pick, tabs]).then(None, js=_SCROLL_JS)
        reader_pick.input(lambda s: h.open_source(s), inputs=reader_pick, outputs=reader)
        upload.upload(on_upload, inputs=[upload, sources, reader_pick, remove_pick],
                      outputs=[upload_status, *listing, seen_generation],
                      concurrency_limit=1, concurrency_id="write", show_progress="hidden")
        remove_btn.click(on_remove, inputs=[remove_pick, sources, reader_pick],
                         outputs=[remove_status, *listing, seen_generation],
                         concurrency_limit=1, concurrency_id="write")
    demo.queue(default_concurrency_limit=8)
    return demo


def _standard_threshold() -> float:
    """The calibrated confidence below which vraagbaak abstains by default."""
    from ..qa.abstain import threshold

    try:
        return threshold()
    except Exception:  # the model file is part of the package; be safe in the page
        return 0.5


def launch_kwargs(host: str, port: int) -> dict[str, Any]:
    """The arguments every launch uses: localhost unless asked, never a share link, uploads
    of at most :data:`MAX_UPLOAD_MB` MB."""
    return {
        "server_name": host, "server_port": port, "share": False, "ssr_mode": False,
        "css": CSS, "theme": _theme(), "footer_links": [], "quiet": True,
        "show_error": False, "head": HEAD, "max_file_size": f"{MAX_UPLOAD_MB}mb",
    }


def serve(
    vb: Vraagbaak,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    block: bool = True,
    builder: IndexBuilder | None = None,
) -> tuple[gr.Blocks, IndexBuilder]:
    """Serve the app at http://host:port (building the index in the background if needed).

    Args:
        vb: the library object whose index the app queries.
        host: interface to listen on (``127.0.0.1``: this computer only).
        port: TCP port.
        block: wait until the server stops (False: return at once; call ``app.close()``).
        builder: the background builder to use (one is made when not given).

    Raises:
        VraagbaakError: the server could not start (e.g. the port is taken).
    """
    builder = builder or IndexBuilder(vb)
    builder.start()
    demo = build_app(vb, builder)
    try:
        demo.launch(prevent_thread_lock=not block, **launch_kwargs(host, port))
    except OSError as e:
        raise VraagbaakError(
            f"Kan de app niet starten op {host}:{port} ({e}).",
            hint="Kies een andere poort met --port.",
        ) from None
    except ValueError as e:  # gradio could not reach its own page (a very busy machine)
        raise VraagbaakError(
            f"De app op {host}:{port} reageerde niet op tijd ({e}).",
            hint="Probeer het opnieuw; is de computer erg druk bezig?",
        ) from None
    return demo, builder
