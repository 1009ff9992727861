"""The documents Dutch public bodies publish and keep: scanned PDFs (OCR), OpenDocument
text, e-mail with attachments, tables, PDFs made from one template, big and deeply nested
HTML pages, and zip bombs. Files are made in the tests."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.errors import InputError
from vraagbaak.ingest import ocr
from vraagbaak.ingest.chunker import chunk_document
from vraagbaak.ingest.extract import table_text
from vraagbaak.ingest.readers import read_document

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


# -- builders ----------------------------------------------------------------------


def scanned_pdf(pages: list[list[str]], path: Path, *, text_layer: dict[int, str] | None = None
                ) -> None:
    """An image-only PDF: each page's lines drawn into a picture (no text layer), small
    pages so OCR stays quick. ``text_layer`` gives pages (1-based) real text instead."""
    from PIL import Image, ImageDraw, ImageFont
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfgen import canvas

    font = ImageFont.truetype(str(FONT), 30) if FONT.exists() else ImageFont.load_default(30)
    images = []
    for lines in pages:
        img = Image.new("L", (1400, 120 + 48 * len(lines)), 255)
        draw = ImageDraw.Draw(img)
        for i, line in enumerate(lines):
            draw.text((60, 60 + 48 * i), line, fill=0, font=font)
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=200)
    if not text_layer:
        path.write_bytes(buf.getvalue())
        return
    writer = PdfWriter()
    scans = PdfReader(io.BytesIO(buf.getvalue()))
    for number, page in enumerate(scans.pages, start=1):
        if number in text_layer:
            plain = io.BytesIO()
            c = canvas.Canvas(plain, pagesize=(504, 200))
            for i, line in enumerate(text_layer[number].split("\n")):
                c.drawString(30, 160 - 16 * i, line)
            c.save()
            writer.add_page(PdfReader(io.BytesIO(plain.getvalue())).pages[0])
        else:
            writer.add_page(page)
    with path.open("wb") as f:
        writer.write(f)


def make_odt(path: Path, body_xml: str, *, title: str = "", creator: str = "",
             date: str = "") -> None:
    """A minimal OpenDocument text file (as LibreOffice writes one: zip, mimetype first)."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"'
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
        f'office:version="1.3"><office:body><office:text>{body_xml}</office:text>'
        "</office:body></office:document-content>"
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ns}><office:meta>'
        f"<dc:title>{title}</dc:title><meta:initial-creator>{creator}</meta:initial-creator>"
        f"<meta:creation-date>{date}</meta:creation-date></office:meta></office:document-meta>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content)
        z.writestr("meta.xml", meta)


ODT_BODY = """
<text:h text:outline-level="1">Subsidies 2024</text:h>
<text:p>De gemeente Hillegom verdeelt in 2024 subsidies over de verenigingen in het dorp.</text:p>
<text:list><text:list-item><text:p>aanvragen voor 1 maart</text:p></text:list-item>
<text:list-item><text:p>besluit voor 1 mei</text:p></text:list-item></text:list>
<text:h text:outline-level="2">Verdeling</text:h>
<table:table>
 <table:table-header-rows><table:table-row>
  <table:table-cell><text:p>Vereniging</text:p></table:table-cell>
  <table:table-cell><text:p>Subsidie (euro)</text:p></table:table-cell>
  <table:table-cell><text:p>Leden</text:p></table:table-cell>
 </table:table-row></table:table-header-rows>
 <table:table-row><table:table-cell><text:p>Muziekvereniging Excelsior</text:p></table:table-cell>
  <table:table-cell><text:p>14.500</text:p></table:table-cell>
  <table:table-cell><text:p>86</text:p></table:table-cell></table:table-row>
 <table:table-row><table:table-cell><text:p>Voetbalclub HBC</text:p></table:table-cell>
  <table:table-cell><text:p>9.750</text:p></table:table-cell>
  <table:table-cell><text:p>412</text:p></table:table-cell></table:table-row>
</table:table>
<text:p>De raad<text:note><text:note-body><text:p>Voetnoot.</text:p></text:note-body></text:note>
stemde op 3 april in met de verdeling.</text:p>
"""


def make_docx_table(path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Begroting sociaal domein 2024", level=1)
    d.add_paragraph("Het college begroot voor 2024 de volgende bedragen per taak.")
    t = d.add_table(rows=1, cols=3)
    for c, h in zip(t.rows[0].cells, ["Taak", "Bedrag (euro)", "Cliënten"], strict=True):
        c.text = h
    for row in [("Jeugdzorg", "1.250.000", "312"), ("Schuldhulpverlening", "480.000", "95"),
                ("Wmo-vervoer", "96.500", "1.140")]:
        for c, v in zip(t.add_row().cells, row, strict=True):
            c.text = v
    d.core_properties.author = "Afdeling Financiën"
    d.save(str(path))


def make_eml(path: Path, *, attachment: tuple[str, bytes] | None = None) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Jan de Vries <j.devries@teylingen.nl>"
    msg["To"] = "griffie@teylingen.nl"
    msg["Subject"] = "Planning raadsvergadering over het zwembad"
    msg["Date"] = "Tue, 12 Mar 2024 09:30:00 +0100"
    msg["Organization"] = "Gemeente Teylingen"
    msg.set_content(
        "Beste griffie,\n\nDe raad bespreekt het nieuwe zwembad in Sassenheim op 18 april "
        "in de raadzaal. De bouw van het zwembad kost volgens de raming 7,2 miljoen euro.\n\n"
        "Met vriendelijke groet,\nJan de Vries\n"
    )
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    path.write_bytes(msg.as_bytes())


# -- tables ------------------------------------------------------------------------


def test_table_rows_carry_their_headers() -> None:
    rows = [["Gemeente", "Inwoners", "Raadsleden"], ["Lisse", "23.000", "19"],
            ["Hillegom", "22.500", ""]]
    assert table_text(rows) == (
        "Gemeente: Lisse; Inwoners: 23.000; Raadsleden: 19.\nGemeente: Hillegom; Inwoners: 22.500."
    )
    # numbers in the first row: no header; a caption spanning the row stays a line
    assert table_text([["2023", "12"], ["2024", "14"]]) == "2023; 12.\n2024; 14."
    assert table_text([["Tabel 1", ""], ["Jaar", "Aantal"], ["2024", "7"]]) == (
        "Tabel 1\nJaar: 2024; Aantal: 7."
    )


def test_docx_numeric_table_rows_are_sentences_of_a_passage(tmp_path: Path) -> None:
    """The numeric table was once skipped as a table of contents (tab + number at the
    line end): now every row is in a passage, as a sentence of its own, with headers."""
    path = tmp_path / "begroting.docx"
    make_docx_table(path)
    doc = read_document(path)
    row = "Taak: Schuldhulpverlening; Bedrag (euro): 480.000; Cliënten: 95."
    assert row in doc.text
    assert doc.author == "Afdeling Financiën"
    chunks = chunk_document(doc)
    holding = [c for c in chunks if row in c.text]
    assert len(holding) == 1
    start = doc.text.index(row)
    assert (start, start + len(row)) in holding[0].sentences


def test_odt_headings_lists_tables_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "subsidies.odt"
    make_odt(path, ODT_BODY, title="Subsidieverdeling Hillegom", creator="Team Subsidies",
             date="2024-02-01T10:00:00")
    doc = read_document(path)
    assert doc.kind == "odt" and doc.title == "Subsidieverdeling Hillegom"
    assert doc.author == "Team Subsidies" and doc.date == "2024-02-01"
    assert [(h.level, h.text) for h in doc.headings] == [(1, "Subsidies 2024"), (2, "Verdeling")]
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.text
    assert "- aanvragen voor 1 maart\n- besluit voor 1 mei" in doc.text
    assert "Vereniging: Voetbalclub HBC; Subsidie (euro): 9.750; Leden: 412." in doc.text
    assert "De raad stemde op 3 april in met de verdeling." in doc.text  # no footnote
    assert "Voetnoot" not in doc.text
    chunks = chunk_document(doc)
    assert any("Voetbalclub HBC" in c.text and c.section and "Verdeling" in c.section
               for c in chunks)


# -- e-mail --------------------------------------------------------------------------


def test_eml_headers_body_and_attachment_as_own_source(tmp_path: Path) -> None:
    att = tmp_path / "begroting.docx"
    make_docx_table(att)
    folder = tmp_path / "woo"
    folder.mkdir()
    mail = folder / "mail.eml"
    make_eml(mail, attachment=("begroting.docx", att.read_bytes()))
    doc = read_document(mail)
    assert doc.kind == "eml"
    assert doc.title == "Planning raadsvergadering over het zwembad"
    assert doc.author == "Jan de Vries <j.devries@teylingen.nl>"
    assert doc.organisation == "Gemeente Teylingen"
    assert doc.date == "12 maart 2024"
    assert doc.text.startswith("Van: Jan de Vries <j.devries@teylingen.nl>\nAan: griffie@")
    assert "Bijlagen: begroting.docx" in doc.text and "7,2 miljoen euro" in doc.text
    [bijlage] = doc.attachments
    assert bijlage.source == "mail.eml#begroting.docx" and bijlage.kind == "docx"

    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c",
                            encoder="fake:64"))
    report = vb.ingest([folder])
    assert sorted(report.added) == ["woo/mail.eml", "woo/mail.eml#begroting.docx"]
    ix = vb.index
    for c in ix.chunks:
        assert ix.source_text(c.source)[c.start : c.end] == c.text
    assert vb.ingest([folder]).up_to_date  # the attachment is carried over, not lost
    assert {s.source for s in vb.sources()} == {"woo/mail.eml", "woo/mail.eml#begroting.docx"}
    vb.ingest([folder, att])
    vb.remove(["woo/mail.eml"])
    assert {s.source for s in vb.sources()} == {"begroting.docx"}


def test_eml_unsupported_attachment_is_a_notice(tmp_path: Path) -> None:
    mail = tmp_path / "foto.eml"
    make_eml(mail, attachment=("foto.jpg", b"\xff\xd8\xff"))
    doc = read_document(mail)
    assert doc.attachments == ()
    assert any("foto.jpg" in n and "not read" in n for n in doc.notices)


def test_not_an_email(tmp_path: Path) -> None:
    path = tmp_path / "x.eml"
    path.write_bytes(b"gewoon wat tekst zonder kopregels\n")
    with pytest.raises(InputError, match="e-mail"):
        read_document(path)


# -- PDF: furniture that never takes the body ------------------------------------


def _pdf(path: Path, pages: list[list[tuple[float, str]]]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        c.setFont("Helvetica", 10)
        for y, text in lines:
            c.drawString(60, y, text)
        c.showPage()
    c.save()


def test_template_pdf_keeps_its_body(tmp_path: Path) -> None:
    """Pages made from one template (the same lines, other numbers) are body, not
    running headers and footers."""
    path = tmp_path / "beschikkingen.pdf"
    _pdf(path, [
        [(780, f"Beschikking subsidie nummer {n}"), (760, f"Toegekend bedrag: {n * 100} euro")]
        for n in range(1, 7)
    ])
    doc = read_document(path)
    for n in range(1, 7):
        assert f"Beschikking subsidie nummer {n}" in doc.text
        assert f"Toegekend bedrag: {n * 100} euro" in doc.text


def test_running_header_and_footer_go_body_stays(tmp_path: Path) -> None:
    body = "Het college stelt voor om de subsidie voor de bibliotheek in {} te verhogen."
    pages = [
        [(815, "Gemeente Noordwijk | Raadsvoorstel"), (700, body.format(2020 + n)),
         (686, "Dit voorstel is besproken in de commissie Samenleving."), (20, f"Pagina {n}")]
        for n in range(1, 6)
    ]
    pages.append([(815, "Gemeente Noordwijk | Raadsvoorstel"), (20, "Pagina 6")])
    path = tmp_path / "voorstel.pdf"
    _pdf(path, pages)
    doc = read_document(path)
    assert "Raadsvoorstel" not in doc.text and "Pagina" not in doc.text
    assert doc.text.count("Dit voorstel is besproken in de commissie Samenleving.") == 5
    assert any("page(s) 6" in n and "header or footer" in n for n in doc.notices)


def test_pdf_metadata_author_and_date(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "meta.pdf"
    c = canvas.Canvas(str(path))
    c.setAuthor("Griffie Katwijk")
    c.drawString(72, 700, "De raad vergadert over de begroting van de gemeente Katwijk.")
    c.save()
    doc = read_document(path)
    assert doc.author == "Griffie Katwijk"
    assert doc.date and doc.date[:2] == "20"


# -- OCR ---------------------------------------------------------------------------

needs_ocr = pytest.mark.skipif(
    ocr.unavailable() is not None, reason=f"OCR not available: {ocr.unavailable()}"
)

SCAN_PAGES = [
    ["Raadsinformatiebrief gemeente Lisse", "", "Het college informeert de raad over",
     "de nieuwe bibliotheek aan de Heereweg."],
    ["Kosten en planning", "", "De bouw van de bibliotheek kost 2,4 miljoen",
     "euro. De opening is gepland in september 2025."],
]


def test_scan_without_ocr_says_what_to_install(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "scan.pdf"
    scanned_pdf(SCAN_PAGES[:1], path)
    monkeypatch.setattr(ocr, "unavailable", lambda: "the Tesseract program is not installed")
    with pytest.raises(InputError, match=r"no text layer.*pip install 'vraagbaak\[ocr\]'"):
        read_document(path)


@needs_ocr
def test_mixed_pdf_reads_only_the_scanned_page_by_ocr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    path = tmp_path / "gemengd.pdf"
    scanned_pdf(SCAN_PAGES, path, text_layer={
        1: "Raadsinformatiebrief gemeente Lisse\nHet college informeert de raad.",
    })
    doc = read_document(path)
    assert doc.ocr_pages == (2,)
    assert any("read by OCR" in n for n in doc.notices)
    assert doc.page_at(doc.text.index("informeert")) == 1
    assert doc.page_at(doc.text.index("miljoen")) == 2


# -- HTML: big and deep pages ---------------------------------------------------------


def test_deeply_nested_html_keeps_its_text(tmp_path: Path) -> None:
    path = tmp_path / "diep.html"
    path.write_text(
        "<html><head><title>Diep</title></head><body>" + "<div>" * 10_000
        + "<p>De gemeenteraad van Lisse besloot het zwembad te renoveren.</p>"
        + "</div>" * 10_000 + "</body></html>",
        encoding="utf-8",
    )
    doc = read_document(path)
    assert "De gemeenteraad van Lisse besloot het zwembad te renoveren." in doc.text
    assert doc.title == "Diep"


def test_5_mb_html_page_keeps_its_body(tmp_path: Path) -> None:
    para = ("<p>In vergadering {} besprak de raad de begroting, het zwembad, de "
            "bibliotheek en de woningbouw in de kernen van de gemeente.</p>\n")
    n = 5_000_000 // len(para)
    path = tmp_path / "groot.html"
    path.write_text(
        "<html><head><title>Notulen</title><meta name='DCTERMS.publisher' "
        "content='Gemeente Lisse'></head><body><nav><a href='/'>Home</a> <a>Zoeken op de "
        "site</a></nav><header>Gemeente Lisse</header><main><h1>Notulen</h1>"
        + "".join(para.format(i) for i in range(n))
        + "</main><footer>Privacyverklaring</footer></body></html>",
        encoding="utf-8",
    )
    doc = read_document(path)
    assert len(doc.text) > 0.9 * n * (len(para) - 10)
    assert f"In vergadering {n - 1} besprak de raad" in doc.text
    assert "Zoeken op de site" not in doc.text and "Privacyverklaring" not in doc.text
    assert doc.organisation == "Gemeente Lisse"


# -- zip bombs ------------------------------------------------------------------------


def test_zip_bomb_docx_is_refused_with_little_memory(tmp_path: Path) -> None:
    """A .docx whose document.xml unpacks to 2 GB is refused before it is unpacked;
    reading it (in a fresh process) stays far below 1 GB peak memory."""
    path = tmp_path / "bom.docx"
    chunk = b"<w:t>" + b"a" * (1 << 20) + b"</w:t>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            for _ in range(2048):
                f.write(chunk)
    script = textwrap.dedent(f"""
        import sys
        from vraagbaak.errors import InputError
        from vraagbaak.ingest.readers import read_document
        try:
            read_document({str(path)!r})
        except InputError as e:
            print("refused:", e)
        # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's peak)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        print("peak_kb", int(hwm.split()[1]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    assert "refused:" in out and "zip bomb" in out
    peak_kb = int(out.rsplit("peak_kb", 1)[1])
    assert peak_kb < 1_000_000, out


def test_zip_bomb_odt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bom.odt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", b"<x>" + b" " * (200 << 20) + b"</x>")
    with pytest.raises(InputError, match="zip bomb"):
        read_document(path)


# -- end to end, with the real encoder ------------------------------------------------


@pytest.mark.slow
def test_answers_from_scan_odt_eml_and_tables(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scanned PDF (answered and cited on page 2), an .odt, an .eml, and a number in
    a DOCX and an ODT table row, each answered with an exact quote."""
    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    folder = tmp_path / "stukken"
    folder.mkdir()
    make_docx_table(folder / "begroting.docx")
    make_odt(folder / "subsidies.odt", ODT_BODY, title="Subsidieverdeling Hillegom")
    make_eml(folder / "mail.eml")
    if ocr.unavailable() is None:
        scanned_pdf(SCAN_PAGES, folder / "scan.pdf")
    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=shared_cache))
    vb.ingest([folder])
    ix = vb.index
    cases = [
        ("Hoeveel geld is begroot voor schuldhulpverlening?", "stukken/begroting.docx",
         "480.000", None),
        ("Hoeveel subsidie krijgt Voetbalclub HBC?", "stukken/subsidies.odt", "9.750", None),
        ("Wat kost de bouw van het zwembad in Sassenheim?", "stukken/mail.eml",
         "7,2 miljoen", None),
    ]
    if ocr.unavailable() is None:
        cases.append(("Wat kost de bouw van de bibliotheek?", "stukken/scan.pdf", "2,4 miljoen",
                      2))
    for question, source, needle, page in cases:
        res = vb.ask(question)
        ans = res.answer
        assert ans is not None and not res.abstained, question
        assert ans.source == source, (question, ans.source, ans.text)
        assert needle in ans.text, (question, ans.text)
        assert ix.source_text(source)[ans.start : ans.end] == ans.text
        assert ans.page == page
