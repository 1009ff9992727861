"""The data types that flow through vraagbaak: documents, chunks, hits and answers.

All are frozen dataclasses. Every citation is recoverable: for a chunk or an answer,
``document.text[start:end] == text``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Heading:
    """A section heading found in a document.

    Attributes:
        start: character offset of the heading line in the document text.
        end: offset just past the heading text.
        level: 1 for a chapter ("2 …", "# …"), 2 for "2.1 …", and so on.
        text: the heading as written (without Markdown ``#`` marks).
    """

    start: int
    end: int
    level: int
    text: str


@dataclass(frozen=True)
class Document:
    """A source as vraagbaak read it.

    Attributes:
        source: the name citations use (a path relative to where it was ingested from,
            e.g. ``corpus/rapport.txt``).
        text: the full text; every offset points into it. For .txt/.md this is the file
            decoded as UTF-8 (or the detected encoding), unchanged; for PDF/DOCX/HTML it
            is the extracted text, which the index stores.
        title: the document's title (first non-empty line, or the format's own title).
        date: a date the text states (as written), if any.
        sha256: checksum of the file's bytes.
        kind: the format (``txt``, ``md``, ``pdf``, ``docx``, ``html``).
        pages: for paged formats, the start offset of each page (page 1 first).
        headings: headings found by the reader itself (for formats with styles); text
            formats leave this empty and the chunker detects headings.
        notices: things the reader wants the user to know (e.g. "read as cp1252").
        author: who wrote or sent it, where the format records it (PDF and Office
            metadata, an e-mail's sender, an HTML page's ``author``).
        organisation: the organisation it comes from, where recorded.
        ocr_pages: pages whose text was read from the page image by OCR (it may hold
            recognition errors).
        attachments: documents carried inside this one (an e-mail's attachments), each
            read as a source of its own (``mail.eml#bijlage.pdf``). Not stored.
    """

    source: str
    text: str
    title: str
    sha256: str
    kind: str = "txt"
    date: str | None = None
    pages: tuple[int, ...] = ()
    headings: tuple[Heading, ...] = ()
    notices: tuple[str, ...] = ()
    author: str | None = None
    organisation: str | None = None
    ocr_pages: tuple[int, ...] = ()
    attachments: tuple[Document, ...] = field(default=(), repr=False, compare=False)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page number that contains ``offset``, or None for unpaged text."""
        if not self.pages:
            return None
        page = 1
        for i, start in enumerate(self.pages):
            if start <= offset:
                page = i + 1
            else:
                break
        return page


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: the unit that is indexed and returned.

    Attributes:
        id: position of the chunk in the index.
        source: the document's ``source``.
        title: the document's title.
        section: the heading breadcrumb (``"2 De rol … › 2.1 Bestuurlijke context …"``).
        start: start offset in the document text.
        end: end offset (exclusive).
        text: ``document.text[start:end]``.
        line: 1-based line number of ``start``.
        page: 1-based page number for paged formats.
        sentences: the (start, end) offsets of the sentences inside the chunk.
    """

    id: int
    source: str
    title: str
    section: str | None
    start: int
    end: int
    text: str
    line: int
    page: int | None = None
    sentences: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Chunk:
        d = dict(d)
        d["sentences"] = tuple(tuple(s) for s in d.get("sentences", ()))
        return cls(**d)


@dataclass(frozen=True)
class Hit:
    """A chunk returned by search, with its scores.

    Attributes:
        chunk: the passage.
        score: the fused score the ranking used (higher is better).
        rank: 1-based rank.
        dense: the dense (cosine) similarity, if computed.
        lexical: the BM25 score, if computed.
    """

    chunk: Chunk
    score: float
    rank: int
    dense: float | None = None
    lexical: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The passage as ``ask --json`` gives it (``text == source_text[start:end]``)."""
        c = self.chunk
        return {
            "rank": self.rank, "source": c.source, "title": c.title, "section": c.section,
            "start": c.start, "end": c.end, "line": c.line, "page": c.page, "text": c.text,
            "score": round(self.score, 6), "dense": self.dense, "lexical": self.lexical,
        }


@dataclass(frozen=True)
class Answer:
    """The sentence(s) that answer a question, quoted exactly.

    ``text == document.text[start:end]`` for the document ``source``.
    """

    text: str
    source: str
    start: int
    end: int
    score: float
    title: str
    section: str | None
    line: int
    page: int | None
    chunk_id: int

    def to_dict(self) -> dict[str, Any]:
        """The answer as ``ask --json`` gives it (``text == source_text[start:end]``)."""
        return {
            "text": self.text, "source": self.source, "start": self.start, "end": self.end,
            "score": round(self.score, 6), "title": self.title, "section": self.section,
            "line": self.line, "page": self.page,
        }


@dataclass(frozen=True)
class Result:
    """The whole reply to a question: the answer (or an abstention) and the passages."""

    question: str
    hits: tuple[Hit, ...]
    answer: Answer | None
    abstained: bool
    confidence: float = 0.0
    notices: tuple[str, ...] = field(default=())

    def to_dict(self, index: Any = None) -> dict[str, Any]:
        """The JSON contract of ``ask --json`` (README): the passages, the answer with the
        rank of its passage and its citation (with the date, organisation and author the
        ``index`` records for its source, when given), and whether it abstained."""
        from .qa.citation import citation_text

        ans = self.answer
        answer = None
        if ans is not None:
            answer = {
                **ans.to_dict(),
                "chunk_rank": next((h.rank for h in self.hits if h.chunk.id == ans.chunk_id), None),
                "citation": citation_text(ans, index),
            }
        return {
            "question": self.question,
            "passages": [h.to_dict() for h in self.hits],
            "answer": answer,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 6),
            "notices": list(self.notices),
        }
