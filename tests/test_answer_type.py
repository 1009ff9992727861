"""The kind of answer a question asks for (a number, a date), and its weight in the answer."""

from pathlib import Path

import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.qa.answer import candidates
from vraagbaak.qa.answer_type import asked_kind, explicit_kind, holds_kind, kind_mismatch
from vraagbaak.qa.search import rank


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Hoeveel raadsleden hebben de enquête ingevuld?", "number"),
        ("Tot hoeveel jaar cel kan dat leiden?", "number"),
        ("Hoe oud was hij toen hij stierf?", "number"),
        ("Welk percentage van de inwoners stemde?", "number"),
        ("How many people live in Utrecht?", "number"),
        ("In welk jaar werd de Wmo ingevoerd?", "date"),
        ("In welke eeuw werd de kerk gebouwd?", "date"),
        ("De bouw begon in welk jaar?", "date"),
        ("What year was the treaty signed?", "date"),
        ("When did the war end?", "date"),
        # wanneer asks for a condition as often as for a time
        ("Wanneer heb ik recht op huurtoeslag?", None),
        ("What happens when the council disagrees?", None),
        ("Wat is een Village Deal?", None),
        ("Welke prijs won de film?", None),  # a prize as often as a price
        ("Wie ondersteunde de gemeente Houten?", None),
        ("Hoe betrekken wethouders de raad?", None),
    ],
)
def test_the_kind_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asked_kind(question) == kind


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Hoeveel raadsleden hebben de enquête ingevuld?", "number"),
        ("In welk jaar werd de Wmo ingevoerd?", "date"),
        ("What year was the treaty signed?", "date"),
        ("How many people live in Utrecht?", "number"),
        # "When did/was …" may ask for a condition: no explicit ask
        ("When did the war end?", None),
        ("When does it become difficult to find partners?", None),
        ("When did the council decide how many members it has?", "number"),
        ("Wanneer heb ik recht op huurtoeslag?", None),
    ],
)
def test_the_kind_a_question_asks_for_in_so_many_words(question: str, kind: str | None) -> None:
    assert explicit_kind(question) == kind


@pytest.mark.parametrize(
    ("text", "number", "date"),
    [
        ("Slechts één op de vier raadsleden vindt dat.", True, False),
        ("Het kostte vijfentwintig euro.", True, False),
        ("Tientallen inwoners kwamen naar de avond.", True, False),
        ("Dat is vele malen gebeurd.", True, False),
        ("De zesvoudig winnares zong het lied.", True, False),
        ("Geen van de verdragen noemt het.", True, False),
        ("Dat is eenvoudig, er is geen bezwaar.", False, False),
        ("Het gebouw is uit 1998.", True, True),
        ("Het begon op 5 mei.", True, True),
        ("Dat was in de negentiende eeuw.", True, True),
        ("It was built in the 1990s.", True, True),
        ("In maart besloot de raad anders.", False, True),
        ("Een groot deel van de inwoners was tevreden.", False, False),
        ("De wethouder sprak met een ambtenaar.", False, False),
    ],
)
def test_whether_a_sentence_holds_a_number_or_a_date(text: str, number: bool, date: bool) -> None:
    assert holds_kind(text, "number") is number
    assert holds_kind(text, "date") is date


def test_a_mismatch_only_counts_when_a_kind_is_asked() -> None:
    assert kind_mismatch(None, "Geen getal.") == 0.0
    assert kind_mismatch("number", "Geen getal.") == 1.0
    assert kind_mismatch("number", "Wel 12 getallen.") == 0.0


def test_a_sentence_without_the_number_asked_for_loses_to_one_with_it(
    tmp_path: Path, fake_settings: Settings
) -> None:
    """Two sentences that repeat the question's words alike; the one with a number wins
    a 'hoeveel' question only through the kind's weight."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "enquete.txt").write_text(
        "De enquête\n\nVeel raadsleden hebben de enquête over het sociaal domein ingevuld. "
        "Raadsleden hebben de enquête over het sociaal domein met 212 ingevuld.\n",
        encoding="utf-8",
    )
    question = "Hoeveel raadsleden hebben de enquête over het sociaal domein ingevuld?"
    chosen = {}
    for w in (0.0, 0.15):
        settings = fake_settings.with_(answering=fake_settings.answering.with_(w_kind=w))
        vb = Vraagbaak(settings)
        vb.ingest([docs])
        pipe = vb.pipeline()
        q = pipe.question(question)
        scores = pipe.scores(q)
        pool = rank(pipe.index, scores, pipe.retrieval(None, q), top_k=5)
        cands = candidates(pipe.index, q, pool, scores, settings.answering)
        misses = {c.index: c.kind_miss for c in cands}
        assert sorted(misses.values()) == [0.0, 1.0]
        best = cands[0]
        chosen[w] = misses[best.index]
    assert chosen == {0.0: 1.0, 0.15: 0.0}
