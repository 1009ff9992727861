"""PDF, Word and HTML: real files built from the bundled texts are read, indexed and
answered from, with exact offsets into the stored text and the right page numbers."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.errors import InputError
from vraagbaak.ingest.chunker import chunk_document
from vraagbaak.ingest.formats import _join
from vraagbaak.ingest.readers import read_document
from vraagbaak.ingest.structure import classify_blocks

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
VILLAGE = CORPUS / "movisie-2018-village-deals-rapport.txt"
HOUTEN = CORPUS / "movisie-houten-op-koers-dienend-beleid.txt"


# -- building test files from the bundled texts ---------------------------------


@dataclass(frozen=True)
class Part:
    """A piece of a source text: a heading (level >= 1) or a paragraph's lines."""

    level: int
    lines: tuple[str, ...]


def parts_of(text: str) -> list[Part]:
    """The text's headings and paragraphs, as the text chunker sees them."""
    out = []
    for b in classify_blocks(text):
        lines = [ln.strip() for ln in text[b.start : b.end].split("\n") if ln.strip()]
        if b.kind == "toc":
            continue
        if b.heading is not None and (b.kind == "heading" or b.heading.end < b.end):
            out.append(Part(max(1, b.heading.level) if b.heading.level else 3, (lines[0],)))
            lines = lines[1:]
        if lines:
            out.append(Part(0, tuple(lines)))
    return out


def drawable(text: str) -> str:
    """The text as reportlab's standard fonts can draw it (they cover cp1252)."""
    return text.encode("cp1252", "replace").decode("cp1252")


def make_pdf(text: str, path: Path, *, title: str | None = None, width: int = 88) -> list[str]:
    """Lay ``text`` out on A4 pages with reportlab: headings large and bold, paragraphs
    wrapped at ``width`` characters with long words hyphenated at line (and page) ends,
    page numbers in the footer.

    Returns:
        The text drawn on each page (hyphenated as drawn), to know where things are.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    if title:
        c.setTitle(title)
    top, bottom, left, lead = 800.0, 60.0, 56.0, 13.0
    y = top
    pages: list[list[str]] = [[]]

    def newline(step: float) -> None:
        nonlocal y
        y -= step
        if y < bottom:
            c.setFont("Helvetica", 9)
            c.drawString(290, 30, str(len(pages)))
            c.showPage()
            pages.append([])
            y = top

    def draw(line: str, font: str, size: float) -> None:
        c.setFont(font, size)
        c.drawString(left, y, line)
        pages[-1].append(line)

    for part in parts_of(text):
        if part.level:
            size = {1: 16.0, 2: 13.5}.get(part.level, 11.0)
            newline(size * 0.8)
            draw(part.lines[0], "Helvetica-Bold", size)
            newline(size + 6)
            continue
        for src in part.lines:
            line = ""
            for w in src.split():
                if not line:
                    line = w
                elif len(line) + 1 + len(w) <= width:
                    line += " " + w
                elif re.fullmatch(r"[a-zà-ÿ]{9,}", w) and len(line) + 6 <= width:
                    cut = min(len(w) - 4, width - len(line) - 2)
                    draw(line + " " + w[:cut] + "-", "Helvetica", 10)
                    newline(lead)
                    line = w[cut:]
                else:
                    draw(line, "Helvetica", 10)
                    newline(lead)
                    line = w
            if line:
                draw(line, "Helvetica", 10)
                newline(lead)
        newline(lead * 0.9)  # paragraph space
    c.setFont("Helvetica", 9)
    c.drawString(290, 30, str(len(pages)))
    c.save()
    return ["\n".join(p) for p in pages]


def make_docx(text: str, path: Path, *, title: str | None = None) -> None:
    """A Word file with heading styles, list styles, paragraphs and one table."""
    import docx

    d = docx.Document()
    if title:
        d.core_properties.title = title
    for part in parts_of(text):
        if part.level:
            d.add_heading(part.lines[0], level=min(part.level, 3))
        elif all(ln.startswith(("- ", "• ")) for ln in part.lines):
            for ln in part.lines:
                d.add_paragraph(ln[2:], style="List Bullet")
        else:
            d.add_paragraph(" ".join(part.lines))
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("Gemeente", "Thema", "Inwoners"), ("Teylingen", "Maatwerk", "36.000"),
                             ("Tubbergen", "Stille armoede", "21.000")]):
        for k, cell in enumerate(row):
            table.cell(r, k).text = cell
    d.save(str(path))


MENU = ["Home", "Over ons", "Publicaties", "Contact met de redactie"]
FOOTER = "Copyright Movisie. Alle rechten voorbehouden. Privacyverklaring en cookiebeleid."


def make_html(text: str, path: Path, *, title: str) -> None:
    """A web page: a menu, a header, the text as the article, a footer."""
    body = []
    for part in parts_of(text):
        if part.level:
            lvl = min(part.level + 1, 6)
            body.append(f"<h{lvl}>{html.escape(part.lines[0])}</h{lvl}>")
        elif all(ln.startswith(("- ", "• ")) for ln in part.lines):
            items = "".join(f"<li>{html.escape(ln[2:])}</li>" for ln in part.lines)
            body.append(f"<ul>{items}</ul>")
        else:
            body.append(f"<p>{html.escape(' '.join(part.lines))}</p>")
    menu = "".join(f'<li><a href="/{i}">{m}</a></li>' for i, m in enumerate(MENU))
    page = (
        f'<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title></head><body><nav><ul>{menu}</ul></nav><header><p>Zoeken op de site</p></header>"
        f"<main><article><h1>{html.escape(title)}</h1>{''.join(body)}</article></main>"
        f"<footer><p>{FOOTER}</p></footer></body></html>"
    )
    path.write_text(page, encoding="utf-8")


def norm_words(text: str) -> list[str]:
    """Words, with the source's own line-end hyphenation undone (``klank-`` + ``bord``)."""
    return re.sub(r"(?<=[a-z])- (?=[a-z])(?!en\b|of\b|tot\b)", "", " ".join(text.split())).split()


# -- PDF ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def village_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("pdf") / "village-deals.pdf"
    pages = make_pdf(drawable(VILLAGE.read_text(encoding="utf-8")), path, title="Village Deals")
    return path, pages


def test_pdf_text_is_complete_and_dehyphenated(village_pdf: tuple[Path, list[str]]) -> None:
    path, drawn = village_pdf
    doc = read_document(path)
    assert doc.kind == "pdf"
    assert doc.title == "Village Deals"
    text = drawable(VILLAGE.read_text(encoding="utf-8"))
    source_text = " ".join(" ".join(p.lines) for p in parts_of(text))
    assert norm_words(doc.text) == norm_words(source_text)
    # words were really broken at line ends when drawn, and are whole again
    broken = [ln for page in drawn for ln in page.split("\n") if ln.endswith("-")]
    assert len(broken) > 20
    assert "51 gemeenteraadsleden hebben vragenlijst (deels) ingevuld" in doc.text
    assert not re.search(r"[a-z]- [a-z]{3,}", doc.text.replace("- en ", "").replace("- of ", ""))


def test_pdf_pages_headings_and_furniture(village_pdf: tuple[Path, list[str]]) -> None:
    path, drawn = village_pdf
    doc = read_document(path)
    assert len(doc.pages) == len(drawn) > 5
    assert list(doc.pages) == sorted(doc.pages) and doc.pages[0] == 0
    for number, page_text in enumerate(drawn, start=1):
        # the first whole word drawn on a page lies on that page in the extracted text
        first_line = page_text.split("\n")[0]
        if drawn[number - 2].endswith("-") and number > 1:
            continue
        at = doc.text.find(first_line.rstrip("-"), doc.pages[number - 1] - 2)
        assert doc.page_at(at) == number, (number, first_line)
    # page numbers in the footer are not text
    assert not re.search(r"\n\n\d{1,2}\n\n", doc.text)
    heads = {h.text: h for h in doc.headings}
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.text
    assert any(t.startswith("2 ") or t.startswith("1 ") for t in heads)
    levels = {h.level for h in doc.headings}
    assert 1 in levels and 2 in levels


def test_pdf_hyphen_across_page_break(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "split.pdf"
    c = canvas.Canvas(str(path))
    c.setFont("Helvetica", 10)
    c.drawString(72, 700, "Op deze pagina begint een zin over de gemeente-")
    c.showPage()
    c.setFont("Helvetica", 10)
    c.drawString(72, 700, "raadsleden van Teylingen, die verder gaat.")
    c.save()
    doc = read_document(path)
    assert doc.text == (
        "Op deze pagina begint een zin over de gemeenteraadsleden van Teylingen, die verder gaat."
    )
    assert doc.page_at(doc.text.index("gemeenteraadsleden")) == 1
    assert doc.page_at(doc.text.index("Teylingen")) == 2


@pytest.mark.parametrize(
    ("prev", "nxt", "expected"),
    [
        ("een afge-", "broken woord", "een afgebroken woord"),
        ("het Jeugd-", "en Gezinsteam", "het Jeugd- en Gezinsteam"),
        ("provincie Noord-", "Holland", "provincie Noord-Holland"),
        ("stuur een e-", "mail", "stuur een e-mail"),
        ("een zin.", "Nog een", "een zin. Nog een"),
        ("de punten:", "- eerste", "de punten:\n- eerste"),
    ],
)
def test_join_lines(prev: str, nxt: str, expected: str) -> None:
    add, drop = _join(prev, nxt)
    assert prev[: len(prev) - drop] + add == expected


def test_pdf_chunks_carry_pages(village_pdf: tuple[Path, list[str]]) -> None:
    path, drawn = village_pdf
    doc = read_document(path)
    chunks = chunk_document(doc)
    assert chunks and all(c.page is not None for c in chunks)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    ton = next(c for c in chunks if "Teylingse Ton" in c.text)
    expected = next(i for i, p in enumerate(drawn, start=1) if "Teylingse" in p)
    assert ton.page == expected


# -- DOCX -----------------------------------------------------------------------


def test_docx_headings_lists_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "houten.docx"
    text = HOUTEN.read_text(encoding="utf-8")
    make_docx(text, path, title="Houten op koers")
    doc = read_document(path)
    assert doc.kind == "docx" and doc.title == "Houten op koers"
    expected_heads = [p.lines[0] for p in parts_of(text) if p.level]
    assert [h.text for h in doc.headings] == expected_heads
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.text
    assert (
        "Gemeente: Teylingen; Thema: Maatwerk; Inwoners: 36.000.\n"
        "Gemeente: Tubbergen; Thema: Stille armoede; Inwoners: 21.000."
    ) in doc.text
    marks = {"-", "•"}
    source_words = [w for p in parts_of(text) for ln in p.lines for w in ln.split()]
    source_words = [w for w in source_words if w not in marks]
    got = [w for w in doc.text.split() if w not in marks]
    assert got[: len(source_words)] == source_words
    chunks = chunk_document(doc)
    assert any(c.section and expected_heads[1] in c.section for c in chunks)


def test_docx_heading_levels(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Hoofdstuk een", level=1)
    d.add_paragraph("Eerste alinea.")
    d.add_heading("Paragraaf een punt een", level=2)
    d.add_paragraph("Tweede alinea.")
    path = tmp_path / "lv.docx"
    d.save(str(path))
    doc = read_document(path)
    assert [(h.level, h.text) for h in doc.headings] == [
        (1, "Hoofdstuk een"), (2, "Paragraaf een punt een")
    ]
    assert doc.text == "Hoofdstuk een\n\nEerste alinea.\n\nParagraaf een punt een\n\nTweede alinea."
    assert doc.title == "Hoofdstuk een"


# -- HTML -----------------------------------------------------------------------


def test_html_main_text_without_menus(tmp_path: Path) -> None:
    path = tmp_path / "village.html"
    text = VILLAGE.read_text(encoding="utf-8")
    make_html(text, path, title="Village Deals: een verkenning")
    doc = read_document(path)
    assert doc.kind == "html"
    assert doc.title == "Village Deals: een verkenning"
    assert FOOTER not in doc.text and "Contact met de redactie" not in doc.text
    assert "Zoeken op de site" not in doc.text
    assert "de 'Teylingse Ton'" in doc.text
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.text
    assert len(doc.headings) > 10


def test_html_in_legacy_encoding(tmp_path: Path) -> None:
    page = (
        "<html><head><meta charset='windows-1252'><title>Één café</title></head><body>"
        "<article><p>De wethouder zei: ‘Wij werken integraal aan het sociaal domein, "
        "samen met de inwoners van de gemeente en de ketenpartners.’</p></article></body></html>"
    )
    path = tmp_path / "oud.htm"
    path.write_bytes(page.encode("cp1252"))
    doc = read_document(path)
    assert doc.title == "Één café"
    assert "‘Wij werken integraal" in doc.text


# -- bad inputs of these formats ------------------------------------------------


def test_corrupt_pdf_is_an_input_error(tmp_path: Path, village_pdf: tuple[Path, list[str]]) -> None:
    bad = tmp_path / "kapot.pdf"
    bad.write_bytes(village_pdf[0].read_bytes()[:3000])
    with pytest.raises(InputError, match=r"kapot\.pdf"):
        read_document(bad)
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 10)
    with pytest.raises(InputError, match=r"junk\.pdf"):
        read_document(junk)


def test_encrypted_pdf_is_an_input_error(tmp_path: Path) -> None:
    from pypdf import PdfWriter
    from reportlab.pdfgen import canvas

    plain = io.BytesIO()
    c = canvas.Canvas(plain)
    c.drawString(72, 700, "Geheime tekst over de gemeente.")
    c.save()
    w = PdfWriter(clone_from=io.BytesIO(plain.getvalue()))
    w.encrypt(user_password="geheim", owner_password="eigenaar", algorithm="RC4-128")
    path = tmp_path / "slot.pdf"
    with path.open("wb") as f:
        w.write(f)
    with pytest.raises(InputError, match="password"):
        read_document(path)


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(path))
    c.rect(100, 100, 200, 200, fill=1)
    c.save()
    with pytest.raises(InputError, match="OCR"):
        read_document(path)


@pytest.mark.parametrize("name", ["kapot.docx", "leeg.html"])
def test_broken_docx_and_empty_html(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 not a zip" if name.endswith("docx") else b"  \n ")
    with pytest.raises(InputError, match=name):
        read_document(path)


# -- end to end: index the three formats and answer from them ----------------------


def excerpt(text: str) -> str:
    """The Village Deals report's introduction and its section 2.2 (to keep the real
    encoder's work small): enough for a few pages and both sample questions."""
    intro_end = text.index("\n2 De rol van wethouders")
    sec_start = text.index("\n2.2 Centrale thema")
    sec_end = text.index("\nHet belang van informeel", sec_start)
    return text[:intro_end] + "\n" + text[sec_start:sec_end] + "\n"


@pytest.fixture(scope="module")
def formats_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("docs") / "docs"
    (folder / "sub").mkdir(parents=True)
    text = excerpt(VILLAGE.read_text(encoding="utf-8"))
    drawn = make_pdf(drawable(text), folder / "village.pdf", title="Village Deals")
    make_docx(text, folder / "sub" / "village.docx", title="Village Deals")
    make_html(text, folder / "sub" / "village.html", title="Village Deals")
    (folder / "sub" / "foto.jpg").write_bytes(b"\xff\xd8\xff")
    return folder, drawn


def test_formats_index_with_fake_encoder(
    tmp_path: Path, formats_folder: tuple[Path, list[str]]
) -> None:
    folder, _ = formats_folder
    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c", encoder="fake:64"))
    report = vb.ingest([folder])
    names = ["docs/sub/village.docx", "docs/sub/village.html", "docs/village.pdf"]
    assert sorted(report.added) == names
    assert [Path(p).name for p, _ in report.skipped] == ["foto.jpg"]
    kinds = {s.source: s.kind for s in vb.sources()}
    assert kinds == dict(zip(names, ["docx", "html", "pdf"], strict=True))
    ix = vb.index
    for c in ix.chunks:
        assert ix.source_text(c.source)[c.start : c.end] == c.text
        assert (c.page is not None) == c.source.endswith(".pdf")


@pytest.mark.slow
def test_answers_from_pdf_docx_html(tmp_path: Path, shared_cache: Path,
                                    formats_folder: tuple[Path, list[str]]) -> None:
    """The real encoder answers sample questions from each format, with exact offsets
    into the stored text and, for the PDF, the page the answer is printed on."""
    folder, drawn = formats_folder
    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=shared_cache))
    vb.ingest([folder])
    ix = vb.index
    cases = {
        "Wat is de Teylingse Ton?": "Teylingse Ton",
        "Hoeveel raadsleden hebben de enquête ingevuld?": "51 gemeenteraadsleden",
    }
    for question, needle in cases.items():
        for source in ("docs/village.pdf", "docs/sub/village.docx", "docs/sub/village.html"):
            res = vb.ask(question, sources=[source], min_confidence=0.0)
            ans = res.answer
            assert ans is not None, (question, source)
            assert ans.source == source
            assert ix.source_text(source)[ans.start : ans.end] == ans.text
            hit_texts = " ".join(h.chunk.text for h in res.hits[:3])
            assert needle in ans.text or needle in hit_texts, (question, source, ans.text)
            if source.endswith(".pdf"):
                drawn_page = next(i for i, p in enumerate(drawn, start=1) if _on_page(ans.text, p))
                assert ans.page == drawn_page, (question, ans.text)


def _on_page(answer: str, page_text: str) -> bool:
    """Whether the start of ``answer`` was drawn on this page (line breaks aside)."""
    flat = re.sub(r"-\n", "", page_text).replace("\n", " ")
    return " ".join(answer.split()[:6]) in flat
