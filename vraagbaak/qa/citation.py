"""Citations: one way to say where a quote comes from, for the CLI, the web app and exports.

A :class:`Citation` gathers what a policy note needs (title, organisation or author when
the source states them, date, section, page, the quote) plus where to check it (source
name, line, character offsets); :func:`cite` makes it for an answer or a passage.
:func:`citation_text` writes it as one line of plain text (through :func:`format_citation`),
the same in the CLI, the JSON output, the web app and exports; :func:`reference` is the
short form shown under an answer or a passage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..index.reader import Index
    from ..types import Answer, Chunk


@dataclass(frozen=True)
class Citation:
    """Where a quote comes from.

    Attributes:
        quote: the quoted text, exactly as in the source (``source_text[start:end]``).
        title: the document's title.
        source: the source name in the index.
        start: start offset of the quote in the source text.
        end: end offset (exclusive).
        line: 1-based line of the quote's passage.
        section: the heading breadcrumb, if any.
        page: the page, for paged formats.
        date: a date the document states (as written), if any.
        organisation: the organisation that published it, when known.
        author: the author, when known.
    """

    quote: str
    title: str
    source: str
    start: int
    end: int
    line: int
    section: str | None = None
    page: int | None = None
    date: str | None = None
    organisation: str | None = None
    author: str | None = None


def _source_info(index: Index | None, source: str) -> Any:
    if index is None:
        return None
    return next((s for s in index.sources if s.source == source), None)


def _meta(info: Any, name: str) -> str | None:
    """A metadata field of a source, when this version of the index records it."""
    value = getattr(info, name, None)
    return str(value).strip() or None if value else None


def cite(item: Answer | Chunk, index: Index | None = None) -> Citation:
    """The citation of an answer or a whole passage (date, organisation and author from
    the index's record of its source, when an index is given)."""
    info = _source_info(index, item.source)
    return Citation(
        quote=item.text, title=item.title, source=item.source, start=item.start,
        end=item.end, line=item.line, section=item.section, page=item.page,
        date=_meta(info, "date"), organisation=_meta(info, "organisation"),
        author=_meta(info, "author"),
    )


def citation_text(
    item: Answer | Chunk, index: Index | None = None, *, quote: bool = True
) -> str:
    """The one-line citation of an answer or a passage: what the CLI prints, the web app
    copies and an export writes (:func:`format_citation` of :func:`cite`)."""
    return format_citation(cite(item, index), quote=quote)


def last_section(section: str | None, title: str) -> str | None:
    """The innermost heading of a breadcrumb (None when it only repeats the title)."""
    if not section or section == title:
        return None
    return section.split(" › ")[-1]


def reference(
    title: str, section: str | None, line: int, page: int | None, source: str
) -> str:
    """The short reference shown under a quote: title › section (source, p. N, regel L)."""
    ref = title
    sec = last_section(section, title)
    if sec:
        ref += f" › {sec}"
    return ref + f" ({source}, " + (f"p. {page}, " if page else "") + f"regel {line})"


def format_citation(c: Citation, *, quote: bool = True, max_quote: int = 600) -> str:
    """A citation a policy note can use, as one line of plain text::

        “51 gemeenteraadsleden hebben …” — Movisie, VILLAGE DEALS: een verkenning …,
        8 mei 2018, § Centrale vraag, p. 3. (Bron: corpus/movisie-….txt, regel 107)

    The organisation (or else the author) and the date appear only when the source states
    them; a quote longer than ``max_quote`` characters is shortened with "…".
    """
    parts: list[str] = []
    who = c.organisation or c.author
    if c.organisation and c.author and c.author != c.organisation:
        who = f"{c.author} ({c.organisation})"
    if who:
        parts.append(who)
    parts.append(c.title)
    if c.date:
        parts.append(c.date)
    sec = last_section(c.section, c.title)
    if sec:
        parts.append(f"§ {sec}")
    if c.page:
        parts.append(f"p. {c.page}")
    body = ", ".join(parts) + f". (Bron: {c.source}, regel {c.line})"
    if not quote:
        return body
    text = " ".join(c.quote.split())
    if len(text) > max_quote:
        text = text[: max_quote - 1].rstrip() + "…"
    return f"“{text}” — {body}"
