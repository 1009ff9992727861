"""Citations, confidence words and Dutch numbers: what the CLI and the web app show."""

from __future__ import annotations

from pathlib import Path

import pytest

from vraagbaak import InputError, Settings, Vraagbaak
from vraagbaak.qa.citation import Citation, cite, format_citation, reference
from vraagbaak.qa.confidence import format_nl, judge, parse_confidence
from vraagbaak.types import Answer


def _citation(**kw: object) -> Citation:
    base: dict[str, object] = dict(
        quote="51 gemeenteraadsleden hebben de vragenlijst ingevuld.", title="Village Deals",
        source="corpus/vd.txt", start=10, end=62, line=107, section="1 Inleiding › Centrale vraag",
        page=None, date="7 juni 2018",
    )
    base.update(kw)
    return Citation(**base)  # type: ignore[arg-type]


def test_format_citation_has_what_a_policy_note_needs() -> None:
    text = format_citation(_citation(page=3, organisation="Movisie"))
    assert text == (
        "“51 gemeenteraadsleden hebben de vragenlijst ingevuld.” — Movisie, Village Deals, "
        "7 juni 2018, § Centrale vraag, p. 3. (Bron: corpus/vd.txt, regel 107)"
    )
    # unknown organisation and date are left out, not invented
    bare = format_citation(_citation(date=None, section=None))
    assert bare == (
        "“51 gemeenteraadsleden hebben de vragenlijst ingevuld.” — Village Deals. "
        "(Bron: corpus/vd.txt, regel 107)"
    )
    assert format_citation(_citation(author="A. de Vries", organisation="Movisie"),
                           quote=False).startswith("A. de Vries (Movisie), Village Deals")
    long = format_citation(_citation(quote="woord " * 500), max_quote=50)
    assert "…”" in long and len(long) < 200


def test_reference_is_the_short_form() -> None:
    assert reference("T", "T", 3, None, "a.txt") == "T (a.txt, regel 3)"
    assert reference("T", "1 A › 1.2 B", 3, 7, "a.pdf") == "T › 1.2 B (a.pdf, p. 7, regel 3)"


def test_cite_answer_takes_the_date_from_the_index(fake_settings: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "nota.txt"
    doc.write_text("Nota over bibliotheken\n\nDatum: 8 mei 2018\n\nDe bibliotheek verhuist "
                   "in 2027 naar het cultuurhuis aan het plein.\n", encoding="utf-8")
    vb = Vraagbaak(fake_settings)
    vb.ingest([doc])
    ix = vb.index
    c = ix.chunks[0]
    ans = Answer(text=c.text[:20], source=c.source, start=c.start, end=c.start + 20, score=0.9,
                 title=c.title, section=c.section, line=c.line, page=None, chunk_id=c.id)
    cit = cite(ans, ix)
    assert cit.date == "8 mei 2018" and cit.organisation is None
    assert "8 mei 2018" in format_citation(cit)


def test_dutch_numbers() -> None:
    assert format_nl(0.97) == "0,97"
    assert format_nl(19.356, 3) == "19,356"
    assert format_nl(1234.5, 1) == "1.234,5"


def test_judge_three_verdicts() -> None:
    assert judge(0.97, abstained=False, uncertain_below=0.75).verdict == "sure"
    unsure = judge(0.57, abstained=False, uncertain_below=0.75)
    assert unsure.verdict == "uncertain" and unsure.label == "onzeker"
    assert "0,57" in unsure.explanation and "bron" in unsure.explanation
    assert judge(0.2, abstained=True, uncertain_below=0.75).label == "geen antwoord"


@pytest.mark.parametrize(("text", "value"), [
    ("", None), ("  ", None), (None, None), ("0,7", 0.7), ("0.7", 0.7), ("1", 1.0), (0.5, 0.5),
])
def test_parse_confidence(text: str | float | None, value: float | None) -> None:
    assert parse_confidence(text) == value


@pytest.mark.parametrize("text", ["1,5", "-0.1", "nan", "veel", "inf"])
def test_parse_confidence_rejects_with_a_clear_message(text: str) -> None:
    with pytest.raises(InputError, match="Minimale zekerheid"):
        parse_confidence(text)


def test_uncertain_band_is_a_setting() -> None:
    assert Settings().uncertain_below == 0.75
    with pytest.raises(InputError, match="uncertain_below must be between 0 and 1"):
        Settings(uncertain_below=1.5)
