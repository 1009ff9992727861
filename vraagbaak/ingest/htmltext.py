"""The text of a whole HTML page, read as a stream of tags (no tree), for the pages that
main-text detection cannot take: very large pages and very deep nesting (a tree parser
stops at 256 levels and loses the rest). Scripts, styles, forms, menus, headers, footers
and asides are left out; headings, paragraphs, list items and table rows become blocks.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from ..types import Heading
from .extract import TextBuilder, table_text

_SKIP = frozenset({
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "select", "button", "svg", "iframe", "object", "head",
})
_BLOCK = frozenset({
    "p", "div", "section", "article", "main", "blockquote", "pre", "dd", "dt", "dl", "ul",
    "ol", "figure", "figcaption", "address", "center", "fieldset", "details", "summary",
    "body", "html", "hr", "caption",
})
_HEADING = re.compile(r"^h([1-6])$")
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = TextBuilder()
        self.buf: list[str] = []
        self.skip: list[str] = []  # the skipped elements we are inside (innermost last)
        self.heading: int | None = None
        self.item = False
        self.tables: list[list[list[str]]] = []  # open tables: their rows of cells
        self.cell: list[str] | None = None
        self.title: list[str] | None = None
        self.page_title = ""

    def _flush(self) -> None:
        lines = ["".join(x).split() for x in _split_lines(self.buf)]
        text = "\n".join(" ".join(words) for words in lines if words)
        self.buf = []
        if not text:
            return
        if self.item:
            text = "- " + text
        self.out.block(text, heading_level=self.heading)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self.page_title and self.title is None:
            self.title = []
            return
        if self.skip:
            if tag == self.skip[-1] and tag not in _VOID:
                self.skip.append(tag)
            return
        if tag in _SKIP:
            self.skip.append(tag)
            return
        if tag == "table":
            self._flush()
            self.tables.append([])
        elif self.tables and tag == "tr":
            self.tables[-1].append([])
            self.cell = None
        elif self.tables and tag in ("td", "th"):
            if not self.tables[-1]:
                self.tables[-1].append([])
            self.cell = []
            self.tables[-1][-1].append("")
        elif self.tables and self.cell is not None:
            if tag == "br":
                self.cell.append(" ")
        elif tag == "br":
            self.buf.append("\n")
        elif (m := _HEADING.match(tag)) is not None:
            self._flush()
            self.heading = int(m.group(1))
        elif tag == "li":
            self._flush()
            self.item = True
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self.title is not None:
            self.page_title = " ".join("".join(self.title).split())
            self.title = None
            return
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if self.tables and tag in ("td", "th"):
            if self.cell is not None and self.tables[-1] and self.tables[-1][-1]:
                self.tables[-1][-1][-1] = " ".join("".join(self.cell).split())
            self.cell = None
        elif self.tables and tag == "table":
            rows = self.tables.pop()
            text = table_text(rows)
            if self.tables and self.cell is not None:
                self.cell.append(" " + text.replace("\n", " "))
            else:
                self.out.block(text)
        elif _HEADING.match(tag):
            self._flush()
            self.heading = None
        elif tag == "li":
            self._flush()
            self.item = False
        elif tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.title is not None:
            self.title.append(data)
        elif self.skip:
            return
        elif self.tables and self.cell is not None:
            self.cell.append(data)
        elif not self.tables:
            self.buf.append(data)


def _split_lines(parts: list[str]) -> list[list[str]]:
    lines: list[list[str]] = [[]]
    for p in parts:
        if p == "\n":
            lines.append([])
        else:
            lines[-1].append(p)
    return lines


def page_text(html: str) -> tuple[str, list[Heading], str]:
    """The text of the whole page (see the module's docstring).

    Returns:
        ``(text, headings, title)``.
    """
    p = _Extractor()
    p.feed(html)
    p.close()
    p._flush()
    return p.out.text, p.out.headings, p.page_title
