from pathlib import Path

import pytest

from vraagbaak.ingest import chunk_document, read_document
from vraagbaak.ingest.structure import classify_blocks, detect_date, detect_title
from vraagbaak.settings import ChunkSettings

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
REPORT = CORPUS / "movisie-2018-village-deals-rapport.txt"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.name)
def test_every_chunk_is_an_exact_slice(path: Path) -> None:
    doc = read_document(path, source=f"corpus/{path.name}")
    assert doc.text == path.read_bytes().decode("utf-8")
    chunks = chunk_document(doc)
    assert chunks
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.line == doc.text.count("\n", 0, c.start) + 1
        assert len(c.text) <= ChunkSettings().max_chars + 100
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)


def test_report_structure() -> None:
    doc = read_document(REPORT, source="r")
    assert doc.title.startswith("VILLAGE DEALS")
    assert doc.date == "8 mei 2018"
    chunks = chunk_document(doc)
    sections = {c.section for c in chunks if c.section}
    assert any(
        s.endswith("2.1 Bestuurlijke context: verschillende niveaus en sturingsinstrumenten")
        for s in sections
    )
    # numbered sub-sections nest under their chapter
    assert any(
        s.startswith("2 De rol van wethouders") and "2.3 Bestuursstijlen" in s for s in sections
    )
    # a footnote "2 Wat werk bij ..." is not taken for chapter 2
    assert not any(s.startswith("2 Wat werk") for s in sections)


def test_table_of_contents_is_skipped() -> None:
    doc = read_document(REPORT, source="r")
    toc_start = doc.text.index("Inhoudsopgave")
    toc_end = doc.text.index("Bijlage II: Geraadpleegde literatuur\t28")
    assert any(b.kind == "toc" for b in classify_blocks(doc.text))
    for c in chunk_document(doc):
        assert not (c.start <= toc_end and c.end > toc_end), "the TOC must not be answer material"
    assert toc_start  # the TOC exists in the source


def test_heading_is_attached_to_the_passage_beneath() -> None:
    text = "Titel van het stuk\n\nWat is een Village Deal?\n\nEen Village Deal is een deal tussen college en raad.\n"  # noqa: E501
    p = Path("/tmp") / "vb_heading_test.txt"
    p.write_text(text, encoding="utf-8")
    doc = read_document(p)
    chunks = chunk_document(doc)
    c = next(c for c in chunks if "Een Village Deal is" in c.text)
    assert c.text.startswith("Wat is een Village Deal?")
    assert c.section and c.section.endswith("Wat is een Village Deal?")


def test_lead_in_stays_with_list(tmp_path: Path) -> None:
    para = "Dit is een lange inleidende alinea over het onderwerp. " * 11
    text = f"Kop\n\n{para}\n\nDe drie thema's zijn:\n\n- grenzenwerk\n- informeel\n- geduld\n"
    p = tmp_path / "a.txt"
    p.write_text(text, encoding="utf-8")
    chunks = chunk_document(
        read_document(p), ChunkSettings(target_chars=400, max_chars=800, min_chars=100)
    )
    lead = next(c for c in chunks if "De drie thema's zijn:" in c.text)
    assert "- geduld" in lead.text


def test_long_paragraph_split_at_sentences(tmp_path: Path) -> None:
    text = " ".join(f"Zin nummer {i} gaat over integraal werken in de gemeente." for i in range(60))
    p = tmp_path / "lang.txt"
    p.write_text(text, encoding="utf-8")
    cfg = ChunkSettings(target_chars=300, max_chars=500, min_chars=100)
    chunks = chunk_document(read_document(p), cfg)
    assert len(chunks) > 3
    for c in chunks:
        assert len(c.text) <= cfg.max_chars
        assert c.text.endswith(".")


def test_markdown_headings(tmp_path: Path) -> None:
    p = tmp_path / "n.md"
    p.write_text(
        "# Nota\n\n## Doelen\n\nWe willen minder regels.\n\n## Budget\n\nHet budget is 1 miljoen.\n",  # noqa: E501
        "utf-8",
    )
    chunks = chunk_document(read_document(p))
    budget = next(c for c in chunks if "1 miljoen" in c.text)
    assert budget.section == "Nota › Budget"


def test_title_and_date_detection() -> None:
    assert detect_title("\n \nkennis en aanpak\n\nRAPPORT: de titel\n") == "RAPPORT: de titel"
    assert detect_date("Kop\n\n7 juni 2018\n\nTekst") == "7 juni 2018"
    assert detect_date("Kop\n\nDatum: 8 mei 2018\n") == "8 mei 2018"
    assert detect_date("Geen datum hier, alleen 2020.") is None
