"""Rendering for the web app: small pure functions that return escaped HTML.

The answer with how sure it is (*zeker* / *onzeker* / the abstention), passages with the
question's terms marked, a whole source with a passage in focus, the topic view, the
documents table and what an upload or removal did. Nothing here imports gradio.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..qa.citation import citation_text, reference
from ..qa.confidence import format_nl, judge
from ..types import Chunk, Hit, Result

if TYPE_CHECKING:
    from ..index.analysis import Analyzer
    from ..index.reader import Index
    from ..index.store import BuildReport
    from ..qa.topic import TopicResult

NO_ANSWER = "De bronnen geven hier geen antwoord op."

_WORD = re.compile(r"\w+(?:[-'’]\w+)*", re.UNICODE)


def _nl_datetime(stamp: str) -> str:
    """``2026-11-24T06:30:12`` as ``24-11-2026 06:30`` (as written when not in that form)."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::\d\d)?", stamp)
    if not m:
        return stamp
    y, mo, d, h, mi = m.groups()
    return f"{d}-{mo}-{y} {h}:{mi}"


# -- rendering ---------------------------------------------------------------------


def render_error(message: str) -> str:
    """A readable error block (never a traceback)."""
    return f'<div class="vb-error" role="alert">{html.escape(message)}</div>'


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


def _copy_button(citation: str, label: str = "Kopieer bronvermelding") -> str:
    return (
        f'<button class="vb-copy" data-vb-copy="{html.escape(citation)}" '
        f'data-label="{html.escape(label)}" title="{html.escape(citation)}">'
        f"{html.escape(label)}</button>"
    )


def _passage_html(
    chunk: Chunk,
    body: str,
    *,
    head: str,
    weak: bool = False,
    extra: str = "",
    rank: int | None = None,
    index: Index | None = None,
) -> str:
    cls = "vb-passage vb-weak" if weak else "vb-passage"
    badge = '<span class="vb-badge vb-weak-badge">zwak</span>' if weak else ""
    data_rank = f' data-rank="{rank}"' if rank is not None else ""
    copy = " " + _copy_button(citation_text(chunk, index), "Kopieer bron")
    return (
        f'<div class="{cls}"{data_rank} data-source="{html.escape(chunk.source)}">'
        f'<div class="vb-head">{head}{badge}{extra}</div>'
        f'<div class="vb-ref">{html.escape(location(chunk))}</div>'
        f'<div class="vb-passage-text">{body}</div>'
        f"{_open_button(chunk.source, chunk.start, chunk.end)}{copy}</div>"
    )


def render_answer(result: Result, index: Index, *, uncertain_below: float = 0.75) -> str:
    """The answer: the quoted sentence, highlighted in its passage, with its reference and
    how sure it is (``zeker``, or ``onzeker`` in its own look with a short explanation);
    or the abstention message. The result's notices (a question cut to length, one
    without words) come first."""
    ans = result.answer
    verdict = judge(result.confidence, abstained=ans is None, uncertain_below=uncertain_below)
    notes = "".join(f'<div class="vb-notice">{html.escape(n)}</div>' for n in result.notices)
    if ans is None:
        return (
            '<div class="vb-result vb-abstained" data-abstained="true" data-verdict="abstained">'
            f'{notes}<div class="vb-abstain">{html.escape(NO_ANSWER)}</div>'
            f'<div class="vb-explain">{html.escape(verdict.explanation)} De dichtstbijzijnde '
            "passages staan hieronder, gemarkeerd als <em>zwak</em>.</div></div>"
        )
    chunk = next((c for c in (h.chunk for h in result.hits) if c.id == ans.chunk_id), None)
    if chunk is None and 0 <= ans.chunk_id < len(index.chunks):
        chunk = index.chunks[ans.chunk_id]
    ref = html.escape(reference(ans.title, ans.section, ans.line, ans.page, ans.source))
    pct = format_nl(result.confidence)
    if verdict.verdict == "uncertain":
        head = (
            '<div class="vb-verdict">⚠ Onzeker antwoord '
            f'<span class="vb-badge vb-uncertain-badge">onzeker · zekerheid {pct}</span></div>'
            f'<div class="vb-explain">{html.escape(verdict.explanation)}</div>'
        )
    else:
        head = (
            '<div class="vb-verdict">Antwoord uit de bronnen '
            f'<span class="vb-badge vb-sure-badge">zeker · zekerheid {pct}</span></div>'
        )
    citation = citation_text(ans, index)
    parts = [
        f'<div class="vb-result vb-{verdict.verdict}" data-abstained="false" '
        f'data-verdict="{verdict.verdict}" data-confidence="{pct}">',
        notes,
        head,
        f'<div class="vb-answer-text">“{html.escape(ans.text)}”</div>',
        f'<div class="vb-ref" id="vb-answer-ref">— {ref}</div>',
        f'<div class="vb-actions" id="vb-answer-actions">{_copy_button(citation)}</div>',
    ]
    if chunk is not None and chunk.start < ans.end and ans.start < chunk.end:
        # the answer's context may reach into a neighbouring passage: mark what lies here
        a0, a1 = max(0, ans.start - chunk.start), min(len(chunk.text), ans.end - chunk.start)
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


def render_hits(
    hits: Sequence[Hit],
    highlight: TermHighlighter,
    *,
    weak: bool = False,
    index: Index | None = None,
) -> str:
    """The ranked passages with title, section, line and the question's terms marked."""
    if not hits:
        return '<div class="vb-ref">Geen passages gevonden.</div>'
    out = []
    for h in hits:
        c = h.chunk
        head = f"[{h.rank}] {html.escape(c.title)}"
        out.append(
            _passage_html(c, highlight(c.text), head=head, weak=weak, rank=h.rank, index=index)
        )
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


def render_topic(
    result: TopicResult, highlight: TermHighlighter, index: Index | None = None
) -> str:
    """The topic view: per document its passages about the topic and their count."""
    if not result.groups:
        return (
            '<div class="vb-topic" data-count="0">'
            f"Geen passages over “{html.escape(result.topic)}” gevonden in de bronnen.</div>"
        )
    out = [
        f'<div class="vb-topic" data-count="{result.total}">'
        f"<p>“{html.escape(result.topic)}”: {result.total} passages in "
        f"{len(result.groups)} {'document' if len(result.groups) == 1 else 'documenten'}.</p>"
    ]
    for g in result.groups:
        shown = f", {len(g.passages)} getoond" if len(g.passages) < g.count else ""
        dups = f", {g.duplicates} bijna-dubbel weggelaten" if g.duplicates else ""
        out.append(
            f'<div class="vb-group" data-source="{html.escape(g.source)}" data-count="{g.count}">'
            f"<h3>{html.escape(g.title)} "
            f'<span class="vb-badge vb-count">{g.count} passage{"" if g.count == 1 else "s"}'
            f"{shown}{dups}</span></h3>"
        )
        for p in g.passages:
            head = (
                '<span class="vb-score">noemt het onderwerp</span>' if p.matched
                else '<span class="vb-score">verwant</span>'
            )
            out.append(_passage_html(p.chunk, highlight(p.chunk.text), head=head, index=index))
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def render_examples(items: Sequence[str], target: str, label: str) -> str:
    """Example questions or topics as buttons that fill the field ``target`` (a CSS
    selector); empty when there are none."""
    if not items:
        return ""
    buttons = "".join(
        f'<button class="vb-example" data-vb-example="{html.escape(x)}">{html.escape(x)}</button>'
        for x in items
    )
    return (
        f'<div class="vb-examples" data-target="{html.escape(target)}">'
        f"{html.escape(label)}: {buttons}</div>"
    )


def render_sources_table(index: Index) -> str:
    """The indexed documents: title, date, format, passages, when added, source name."""
    rows = []
    for s in sorted(index.sources, key=lambda s: s.title.lower()):
        rows.append(
            f'<tr data-source="{html.escape(s.source)}">'
            f"<td>{html.escape(s.title)}</td><td>{html.escape(s.date or '—')}</td>"
            f"<td>{html.escape(s.kind)}</td><td>{s.chunks}</td>"
            f"<td>{html.escape(_nl_datetime(s.indexed_at))}</td>"
            f'<td class="vb-src">{html.escape(s.source)}</td></tr>'
        )
    return (
        f'<table class="vb-sources-table" data-count="{len(rows)}"><thead><tr>'
        "<th>Titel</th><th>Datum</th><th>Soort</th><th>Passages</th><th>Toegevoegd</th>"
        "<th>Bron</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def render_report(report: BuildReport, *, removed: bool = False) -> str:
    """What an upload or a removal did, in Dutch."""
    if removed:
        names = ", ".join(report.removed)
        return (
            '<div class="vb-status" id="vb-upload-done" data-done="removed">'
            f"Verwijderd: {html.escape(names)}. De index heeft nu {report.documents} "
            f"documenten, {report.chunks} passages.</div>"
        )
    parts = []
    if report.added:
        parts.append(f"toegevoegd: {', '.join(report.added)}")
    if report.changed:
        parts.append(f"bijgewerkt: {', '.join(report.changed)}")
    if report.up_to_date or not (report.added or report.changed):
        parts.append("al in de index, ongewijzigd")
    skipped = "".join(
        f"<div class='vb-error'>{html.escape(Path(p).name)} overgeslagen: {html.escape(why)}</div>"
        for p, why in report.skipped
    )
    return (
        '<div class="vb-status" id="vb-upload-done" data-done="added">'
        f"Klaar ({format_nl(report.seconds, 1)} s): {html.escape('; '.join(parts))}. "
        f"De index heeft nu {report.documents} documenten, {report.chunks} passages; "
        "vragen gebruiken ze meteen.</div>" + skipped
    )
