"""The Gradio web app over :class:`~vraagbaak.Vraagbaak`.

The page asks questions, shows the quoted answer inside its passage with its reference (or
the abstention and the nearest, weak passages), the ranked passages with the question's terms
highlighted, a reader that opens an indexed source at a passage, a topic view, and the
index's status (with progress while the index of the bundled corpus is being built).

Rendering is done by small pure functions that return escaped HTML (``render_*``); only
:func:`build_app` and :func:`serve` import gradio. The index is shared by all browser tabs
and only read while serving; the encoder serialises its own calls.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError, VraagbaakError
from ..types import Chunk, Hit, Result

if TYPE_CHECKING:
    import gradio as gr

    from ..api import Vraagbaak
    from ..index.analysis import Analyzer
    from ..index.store import Index
    from ..qa.topic import TopicResult

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
NO_ANSWER = "De bronnen geven hier geen antwoord op."
EXAMPLE_QUESTIONS = (
    "Hoeveel gemeenten doen mee aan de Village Deals?",
    "Wat is de Teylingse Ton?",
    "Wat is voor een wethouder de grootste valkuil?",
    "Van wanneer tot wanneer liep het project Village Deal?",
)
EXAMPLE_TOPICS = ("informeel overleg", "ontschotten van budgetten", "rol van de gemeenteraad")
MAX_PASSAGES = 20

_WORD = re.compile(r"\w+(?:[-'’]\w+)*", re.UNICODE)

# Clicking a "Lees in context" button inside an HTML block sends its data to Python.
_OPEN_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-vb-open]');
  if (!b) return;
  e.preventDefault();
  trigger('click', {source: b.dataset.source, start: b.dataset.start, end: b.dataset.end});
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
    """The index status line: sources, passages and encoder, or the build's progress."""
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
        n_sources, n_chunks, enc = len(ix.sources), len(ix.chunks), ix.encoder_spec
    except VraagbaakError as e:
        return render_error(e.user_message())
    return (
        '<div class="vb-status" id="vb-status" data-state="ready">'
        f"Index: {n_sources} bronnen · {n_chunks} passages · encoder "
        f"<code>{html.escape(enc)}</code></div>"
    )


# -- rendering ---------------------------------------------------------------------


def render_error(message: str) -> str:
    """A readable error block (never a traceback)."""
    return f'<div class="vb-error" role="alert">{html.escape(message)}</div>'


def reference(
    title: str, section: str | None, line: int, page: int | None, source: str
) -> str:
    """The human reference of a passage: title › section (source, p. N, regel L)."""
    ref = title
    if section and section != title:
        ref += f" › {section.split(' › ')[-1]}"
    ref += f" ({source}, " + (f"p. {page}, " if page else "") + f"regel {line})"
    return ref


def location(chunk: Chunk) -> str:
    """Where a passage is, below its title: › section (source, p. N, regel L)."""
    loc = ""
    if chunk.section and chunk.section != chunk.title:
        loc = f"› {chunk.section.split(' › ')[-1]} "
    page = f"p. {chunk.page}, " if chunk.page else ""
    return f"{loc}({chunk.source}, {page}regel {chunk.line})"


class TermHighlighter:
    """Marks the words of a text whose analysed terms meet the question's terms.

    Uses the index's own analyzer, as BM25 does (accents folded, stems, compound parts),
    with doubled vowels made single ("informele" meets "informeel"). Everything is
    HTML-escaped.
    """

    def __init__(self, analyzer: Analyzer, question: str) -> None:
        from ..qa.topic import normalize_term

        self.analyzer = analyzer
        self._norm = normalize_term
        self.terms = frozenset(normalize_term(t) for t in analyzer.terms(question))
        self._cache: dict[str, bool] = {}

    def matches(self, word: str) -> bool:
        """Whether ``word`` shares an analysed term with the question."""
        hit = self._cache.get(word)
        if hit is None:
            mine = {self._norm(t) for t in self.analyzer.terms(word)}
            hit = self._cache[word] = bool(self.terms & mine)
        return hit

    def __call__(self, text: str) -> str:
        if not self.terms:
            return html.escape(text)
        out: list[str] = []
        pos = 0
        for m in _WORD.finditer(text):
            if self.matches(m.group(0)):
                out.append(html.escape(text[pos : m.start()]))
                out.append(f'<mark class="vb-term">{html.escape(m.group(0))}</mark>')
                pos = m.end()
        out.append(html.escape(text[pos:]))
        return "".join(out)


def _open_button(source: str, start: int, end: int) -> str:
    return (
        f'<button class="vb-open" data-vb-open="1" data-source="{html.escape(source)}" '
        f'data-start="{start}" data-end="{end}">Lees in context</button>'
    )


def _passage_html(
    chunk: Chunk,
    body: str,
    *,
    head: str,
    weak: bool = False,
    extra: str = "",
    rank: int | None = None,
) -> str:
    cls = "vb-passage vb-weak" if weak else "vb-passage"
    badge = '<span class="vb-badge vb-weak-badge">zwak</span>' if weak else ""
    data_rank = f' data-rank="{rank}"' if rank is not None else ""
    return (
        f'<div class="{cls}"{data_rank} data-source="{html.escape(chunk.source)}">'
        f'<div class="vb-head">{head}{badge}{extra}</div>'
        f'<div class="vb-ref">{html.escape(location(chunk))}</div>'
        f'<div class="vb-passage-text">{body}</div>'
        f"{_open_button(chunk.source, chunk.start, chunk.end)}</div>"
    )


def render_answer(result: Result, index: Index) -> str:
    """The answer: the quoted sentence, highlighted in its passage, with its reference;
    or the abstention message."""
    ans = result.answer
    if ans is None:
        return (
            '<div class="vb-result" data-abstained="true">'
            f'<div class="vb-abstain">{html.escape(NO_ANSWER)}</div>'
            f'<div class="vb-ref">Zekerheid {result.confidence:.2f}. De dichtstbijzijnde '
            "passages staan hieronder, gemarkeerd als <em>zwak</em>.</div></div>"
        )
    chunk = next((c for c in (h.chunk for h in result.hits) if c.id == ans.chunk_id), None)
    if chunk is None and 0 <= ans.chunk_id < len(index.chunks):
        chunk = index.chunks[ans.chunk_id]
    ref = html.escape(reference(ans.title, ans.section, ans.line, ans.page, ans.source))
    parts = [
        '<div class="vb-result" data-abstained="false">',
        f'<div class="vb-answer-text">“{html.escape(ans.text)}”</div>',
        f'<div class="vb-ref" id="vb-answer-ref">— {ref}, zekerheid {result.confidence:.2f}</div>',
    ]
    if chunk is not None and chunk.start <= ans.start and ans.end <= chunk.end:
        a0, a1 = ans.start - chunk.start, ans.end - chunk.start
        body = (
            html.escape(chunk.text[:a0])
            + f'<mark class="vb-answer">{html.escape(chunk.text[a0:a1])}</mark>'
            + html.escape(chunk.text[a1:])
        )
        parts.append(
            '<details open><summary>In de passage</summary>'
            f'<div class="vb-passage"><div class="vb-passage-text">{body}</div>'
            f"{_open_button(ans.source, ans.start, ans.end)}</div></details>"
        )
    parts.append("</div>")
    return "".join(parts)


def render_hits(hits: Sequence[Hit], highlight: TermHighlighter, *, weak: bool = False) -> str:
    """The ranked passages with title, section, line, score and the question's terms marked."""
    if not hits:
        return '<div class="vb-ref">Geen passages gevonden.</div>'
    out = []
    for h in hits:
        c = h.chunk
        head = (
            f"[{h.rank}] {html.escape(c.title)} "
            f'<span class="vb-score">score {h.score:.3f}</span>'
        )
        out.append(_passage_html(c, highlight(c.text), head=head, weak=weak, rank=h.rank))
    return '<div class="vb-hits">' + "".join(out) + "</div>"


def render_source(
    index: Index, source: str, start: int | None = None, end: int | None = None
) -> str:
    """A whole indexed source, with the passage ``start:end`` highlighted (id ``vb-focus``).

    Only sources in the index can be opened; offsets are checked against the text.

    Raises:
        InputError: the source is not in the index or the offsets are out of range.
    """
    known = {s.source: s for s in index.sources}
    info = known.get(source)
    if info is None:
        raise InputError(
            f"'{source}' staat niet in de index; alleen geïndexeerde bronnen kunnen open."
        )
    text = index.source_text(source)
    head = (
        f'<div class="vb-head">{html.escape(info.title)}</div>'
        f'<div class="vb-ref">{html.escape(source)}'
        + (f", {html.escape(info.date)}" if info.date else "")
        + f", {len(text)} tekens</div>"
    )
    if start is None or end is None:
        body = html.escape(text)
    else:
        if not (0 <= start < end <= len(text)):
            raise InputError(f"Passage {start}–{end} ligt buiten de tekst van {source}.")
        body = (
            html.escape(text[:start])
            + f'<mark id="vb-focus" class="vb-focus">{html.escape(text[start:end])}</mark>'
            + html.escape(text[end:])
        )
    return f'{head}<div class="vb-reader" data-source="{html.escape(source)}">{body}</div>'


def render_topic(result: TopicResult, highlight: TermHighlighter) -> str:
    """The topic view: per document its passages about the topic and their count."""
    if not result.groups:
        return (
            '<div class="vb-topic" data-count="0">'
            f"Geen passages over “{html.escape(result.topic)}” gevonden in de bronnen.</div>"
        )
    out = [
        f'<div class="vb-topic" data-count="{result.total}">'
        f"<p>“{html.escape(result.topic)}”: {result.total} passages in "
        f"{len(result.groups)} documenten.</p>"
    ]
    for g in result.groups:
        shown = f", {len(g.passages)} getoond" if len(g.passages) < g.count else ""
        dups = f", {g.duplicates} bijna-dubbel weggelaten" if g.duplicates else ""
        out.append(
            f'<div class="vb-group" data-source="{html.escape(g.source)}" data-count="{g.count}">'
            f"<h3>{html.escape(g.title)} "
            f'<span class="vb-badge vb-count">{g.count} passages{shown}{dups}</span></h3>'
        )
        for p in g.passages:
            head = f'<span class="vb-score">relevantie {p.relevance:.1f}</span>'
            out.append(_passage_html(p.chunk, highlight(p.chunk.text), head=head))
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


# -- the handlers (plain functions, testable without a browser) ------------------------


class Handlers:
    """What the page's events call. Each returns HTML; user errors become a message."""

    def __init__(self, vb: Vraagbaak, builder: IndexBuilder) -> None:
        self.vb = vb
        self.builder = builder

    def _ready(self) -> None:
        st = self.builder.state
        if st.error:
            raise VraagbaakError(st.error)
        if not st.ready:
            raise VraagbaakError("De index wordt nog gebouwd; probeer het zo opnieuw.")

    @staticmethod
    def _guard(fn: Callable[[], tuple[str, ...]], n: int) -> tuple[str, ...]:
        try:
            return fn()
        except VraagbaakError as e:
            return (render_error(e.user_message()),) + ("",) * (n - 1)
        except Exception as e:  # a bug: log it, but show a message, not a traceback
            logger.exception("the web app failed")
            return (render_error(f"Er ging iets mis ({type(e).__name__}: {e})."),) + ("",) * (n - 1)

    def ask(
        self,
        question: str,
        top_k: float,
        sources: Sequence[str] | None,
        min_confidence: float | None = None,
    ) -> tuple[str, ...]:
        """Answer a question: (answer HTML, passages HTML).

        ``min_confidence`` (0..1, None: the calibrated default) is the confidence below
        which the app abstains, as ``vraagbaak ask --min-confidence``.
        """

        def run() -> tuple[str, str]:
            if not (question or "").strip():
                raise InputError("Stel eerst een vraag, bijvoorbeeld: " + EXAMPLE_QUESTIONS[0])
            if min_confidence is not None and not 0.0 <= float(min_confidence) <= 1.0:
                raise InputError(
                    f"Minimale zekerheid moet tussen 0 en 1 liggen (nu {min_confidence})."
                )
            self._ready()
            k = max(1, min(MAX_PASSAGES, int(top_k or 5)))
            result = self.vb.ask(
                question, top_k=k, sources=list(sources or []) or None,
                min_confidence=None if min_confidence is None else float(min_confidence),
            )
            hl = TermHighlighter(self.vb.index.analyzer, result.question)
            return (
                render_answer(result, self.vb.index),
                render_hits(result.hits, hl, weak=result.abstained),
            )

        return self._guard(run, 2)

    def topic(self, topic: str, per_source: float, sources: Sequence[str] | None) -> str:
        """The topic view's HTML."""
        from ..qa.topic import topic_passages

        def run() -> tuple[str]:
            if not (topic or "").strip():
                raise InputError("Geef een onderwerp, bijvoorbeeld: " + EXAMPLE_TOPICS[0])
            self._ready()
            res = topic_passages(
                self.vb, topic, per_source=max(1, int(per_source or 5)),
                sources=list(sources or []) or None,
            )
            return (render_topic(res, TermHighlighter(self.vb.index.analyzer, topic)),)

        return self._guard(run, 1)[0]

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
            return (render_source(self.vb.index, str(source), s, e),)

        return self._guard(run, 1)[0]

    def source_choices(self) -> list[tuple[str, str]]:
        """(label, source) for every indexed source (empty while building)."""
        if not self.builder.state.ready:
            return []
        try:
            return [(f"{s.title} ({s.source})", s.source) for s in self.vb.index.sources]
        except VraagbaakError:
            return []


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

    with gr.Blocks(title="vraagbaak", analytics_enabled=False) as demo:
        gr.HTML("<h1 style='margin:0'>vraagbaak</h1>"
                "<div class='vb-ref'>Stel een vraag over de bronnen; het antwoord is een "
                "letterlijk citaat met bronvermelding.</div>", js_on_load=None)
        status = gr.HTML(render_status(vb, builder.state), elem_id="vb-status-box", js_on_load=None)
        with gr.Tabs(selected="vraag") as tabs:
            with gr.Tab("Vraag", id="vraag"):
                with gr.Row():
                    question = gr.Textbox(
                        label="Vraag", placeholder="Bijvoorbeeld: " + EXAMPLE_QUESTIONS[0],
                        lines=1, max_lines=3, scale=5, elem_id="vb-question", autofocus=True,
                    )
                    ask_btn = gr.Button("Vraag", variant="primary", scale=1, elem_id="vb-ask")
                gr.Examples(list(EXAMPLE_QUESTIONS), inputs=question, label="Voorbeeldvragen")
                with gr.Accordion("Opties", open=False):
                    top_k = gr.Slider(1, MAX_PASSAGES, value=vb.settings.top_k, step=1,
                                      label="Aantal passages", elem_id="vb-topk")
                    min_conf = gr.Number(
                        value=None, minimum=0, maximum=1, step=0.05, elem_id="vb-min-conf",
                        label="Minimale zekerheid om te antwoorden (0–1; leeg = standaard)",
                    )
                    sources = gr.CheckboxGroup(
                        choices=h.source_choices(), label="Zoek alleen in (leeg = alle bronnen)",
                        elem_id="vb-sources",
                    )
                answer = gr.HTML(elem_id="vb-answer", js_on_load=_OPEN_JS, label="Antwoord")
                gr.HTML("<h3 style='margin-bottom:0'>Passages</h3>", js_on_load=None)
                passages = gr.HTML(elem_id="vb-passages", js_on_load=_OPEN_JS)
            with gr.Tab("Onderwerp", id="onderwerp"):
                with gr.Row():
                    topic = gr.Textbox(label="Onderwerp", scale=5, elem_id="vb-topic",
                                       placeholder="Bijvoorbeeld: " + EXAMPLE_TOPICS[0])
                    topic_btn = gr.Button("Toon passages", variant="primary", scale=1,
                                          elem_id="vb-topic-btn")
                gr.Examples([[t] for t in EXAMPLE_TOPICS], inputs=topic, label="Voorbeelden")
                per_source = gr.Slider(1, 10, value=5, step=1, label="Passages per document",
                                       elem_id="vb-per-source")
                topic_out = gr.HTML(elem_id="vb-topic-out", js_on_load=_OPEN_JS)
            with gr.Tab("Bron lezen", id="bron"):
                reader_pick = gr.Dropdown(choices=h.source_choices(), label="Bron", value=None,
                                          elem_id="vb-reader-pick", interactive=True)
                reader = gr.HTML(elem_id="vb-reader", js_on_load=None)

        def on_load() -> Iterator[tuple[Any, ...]]:
            while True:
                st = builder.state
                done = st.ready or st.error is not None or not st.building
                choices = h.source_choices()
                yield (
                    render_status(vb, st),
                    gr.update(choices=choices),
                    gr.update(choices=choices),
                )
                if done:
                    return
                time.sleep(0.5)

        def on_open(evt: gr.EventData) -> tuple[Any, ...]:
            data = getattr(evt, "_data", None) or {}
            src = str(data.get("source") or "")
            return (
                h.open_source(src, data.get("start"), data.get("end")),
                gr.update(value=src) if src in {c[1] for c in h.source_choices()} else gr.update(),
                gr.Tabs(selected="bron"),
            )

        # resolved here: gradio reads the hint to pass the event's data
        on_open.__annotations__["evt"] = gr.EventData
        demo.load(on_load, outputs=[status, sources, reader_pick], concurrency_limit=None,
                  show_progress="hidden")
        for trig in (ask_btn.click, question.submit):
            trig(h.ask, inputs=[question, top_k, sources, min_conf], outputs=[answer, passages],
                 concurrency_limit=8, concurrency_id="ask")
        for trig in (topic_btn.click, topic.submit):
            trig(h.topic, inputs=[topic, per_source, sources], outputs=topic_out,
                 concurrency_limit=8, concurrency_id="ask")
        for box in (answer, passages, topic_out):
            box.click(on_open, outputs=[reader, reader_pick, tabs]).then(None, js=_SCROLL_JS)
        reader_pick.input(lambda s: h.open_source(s), inputs=reader_pick, outputs=reader)
    demo.queue(default_concurrency_limit=8)
    return demo


def launch_kwargs(host: str, port: int) -> dict[str, Any]:
    """The arguments every launch uses: localhost unless asked, never a share link."""
    return {
        "server_name": host, "server_port": port, "share": False, "ssr_mode": False,
        "css": CSS, "theme": _theme(), "footer_links": [], "quiet": True,
        "show_error": False,
    }


def serve(
    vb: Vraagbaak,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    block: bool = True,
) -> tuple[gr.Blocks, IndexBuilder]:
    """Serve the app at http://host:port (building the index in the background if needed).

    Args:
        vb: the library object whose index the app queries.
        host: interface to listen on (``127.0.0.1``: this computer only).
        port: TCP port.
        block: wait until the server stops (False: return at once; call ``app.close()``).

    Raises:
        VraagbaakError: the server could not start (e.g. the port is taken).
    """
    builder = IndexBuilder(vb)
    builder.start()
    demo = build_app(vb, builder)
    try:
        demo.launch(prevent_thread_lock=not block, **launch_kwargs(host, port))
    except OSError as e:
        raise VraagbaakError(
            f"Kan de app niet starten op {host}:{port} ({e}).",
            hint="Kies een andere poort met --port.",
        ) from None
    return demo, builder
