import unicodedata

import pytest

from vraagbaak.index.analysis import Analyzer, decompound, fold, light_stem
from vraagbaak.qa.question import looks_dutch
from vraagbaak.settings import AnalysisSettings


def test_accent_folding_is_symmetric() -> None:
    a = Analyzer()
    assert a.terms("enquête") == a.terms("enquete")
    assert fold("Geïnterviewde") == "geinterviewde"


def test_compounds_meet_their_parts() -> None:
    a = Analyzer()
    doc = set(a.terms("51 gemeenteraadsleden hebben de vragenlijst ingevuld"))
    q = set(a.terms("Hoeveel raadsleden?"))
    assert q & doc, (q, doc)
    assert "raadsleden" in decompound("gemeenteraadsleden")
    assert decompound("ondersteuning") == ()


def test_stopwords_and_question_words_dropped() -> None:
    plain = Analyzer(AnalysisSettings(compounds=False))
    assert plain.terms("Wat is de hoofdstad van het land?") == [light_stem("hoofdstad"), "land"]


def test_light_stemmer_merges_plural_and_singular() -> None:
    assert light_stem("gemeenten") == light_stem("gemeente")
    assert light_stem("regels") == light_stem("regel")
    assert light_stem("wethouders") == light_stem("wethouder")


def test_steps_can_be_switched_off() -> None:
    plain = Analyzer(
        AnalysisSettings(fold_accents=False, stopwords=False, stemmer="none", compounds=False)
    )
    assert plain.terms("De enquête") == ["de", "enquête"]
    snow = Analyzer(AnalysisSettings(stemmer="snowball", compounds=False))
    assert snow.terms("gemeenten") == snow.terms("gemeente")


@pytest.mark.parametrize(
    ("text", "dutch"),
    [
        ("Hoeveel raadsleden hebben de enquête ingevuld?", True),
        ("Wie won Super Bowl XLIX?", True),
        ("Wat is DECnet", True),
        ("Which municipality started the Op Koers project?", False),
        ("How many council members filled in the survey?", False),
        ("What is a Village Deal?", False),
        ("What is septicemia?", False),
        ("Welke stakeholders zijn betrokken bij de pilot?", True),
        ("Wie is de CEO?", True),
        ("", True),
    ],
)
def test_looks_dutch(text: str, dutch: bool) -> None:
    assert looks_dutch(text) is dutch


def test_folding_drops_every_combining_mark_and_nothing_else() -> None:
    """Folding is NFKD, lower case and the combining marks dropped, whatever the script
    (the table behind it is filled per character on first sight)."""
    text = "Één Café naïef ﬁets ½ Ångström Ελληνικά עִבְרִית x_y"
    expected = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )
    assert fold(text) == expected == fold(text)
    assert fold("gewoon ascii") == "gewoon ascii"


def test_terms_are_worked_out_once_per_token_but_never_shared() -> None:
    a = Analyzer()
    first = a.terms("De gemeenteraadsleden vergaderden over de gemeenteraad.")
    first.append("extra")  # a caller's list is its own
    again = a.terms("De gemeenteraadsleden vergaderden over de gemeenteraad.")
    assert "extra" not in again and again == first[:-1]
    assert "gemeenteraad" in again and "raad" in again


def test_a_texts_term_set_is_its_terms_remembered() -> None:
    from vraagbaak.index.analysis import Analyzer

    a = Analyzer()
    text = "De gemeenteraad besloot over de jeugdzorg en de Wmo."
    got = a.term_set(text)
    assert got == frozenset(a.terms(text))
    assert a.term_set(text) is got  # remembered, not worked out again
    assert a.term_set("Iets anders.") == frozenset(a.terms("Iets anders."))


def test_zipf_reads_wordfreq_table_as_wordfreq_does() -> None:
    """The direct table lookup for lower-case ASCII words gives wordfreq's own figure,
    rounding included; other words go through wordfreq."""
    import re
    from pathlib import Path

    from wordfreq import zipf_frequency

    from vraagbaak.index.analysis import zipf

    text = (Path(__file__).resolve().parent.parent / "corpus").rglob("*.txt")
    words = sorted({w for p in text for w in re.findall(r"\w+", p.read_text("utf-8").lower())})
    words = words[::3] + [w[:i] for w in words[::29] for i in range(3, len(w))]
    words += ["gemeenteraad", "xqzvw", "café", "Paspoort", "a1b", "zo'n", "ß", ""]
    assert len(words) > 1000
    assert [zipf(w) for w in words] == [float(zipf_frequency(w, "nl")) for w in words]
    assert zipf("de") > 7 and zipf("xqzvw") == 0.0
