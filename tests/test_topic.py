"""The topic view's library logic: relevance from the pool, MMR, grouping per document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vraagbaak import ChunkSettings, InputError, Settings, Vraagbaak
from vraagbaak.index.analysis import Analyzer
from vraagbaak.qa.topic import (
    mmr_order,
    overlap,
    passage_terms,
    relevant,
    topic_passages,
    topic_terms,
)

FILL = "Dit is een gewone zin over het werk van de gemeente en de inwoners in het dorp."
DUP = (
    "Informeel overleg met de raad zorgt voor draagvlak bij nieuwe plannen. "
    f"Wethouders bespreken voorstellen eerst informeel met raadsleden. {FILL} {FILL}"
)


def _doc(title: str, *paras: str) -> str:
    return "\n\n".join([title, *(f"{p} {FILL} {FILL}" for p in paras)])


@pytest.fixture
def topic_vb(tmp_path: Path) -> Vraagbaak:
    """Three small documents, one passage per paragraph, indexed with the fake encoder.

    a.txt holds a passage about informal consultation twice (the second copy changed by a
    few words: a near-duplicate) and one more distinct passage about it; b.txt one; c.txt none.
    """
    root = tmp_path / "c"
    root.mkdir()
    a = "\n\n".join([
        "Rapport A", DUP, DUP.replace("nieuwe plannen", "nieuwe plannen zoals altijd"),
        _doc("", "Ook het informeel overleg met inwoners helpt, want zo horen wethouders wat "
             "er leeft in de kernen.").strip(),
        _doc("", "De begroting voor jeugdzorg steeg in het afgelopen jaar.").strip(),
        _doc("", "Het sportpark krijgt nieuwe kleedkamers en een kunstgrasveld.").strip(),
    ])
    (root / "a.txt").write_text(a, encoding="utf-8")
    (root / "b.txt").write_text(_doc(
        "Artikel B",
        "Volgens de onderzoekers is informeel overleg tussen ambtenaren onmisbaar.",
        "De bibliotheek verhuist naar het nieuwe cultuurhuis aan het plein.",
    ), encoding="utf-8")
    (root / "c.txt").write_text(_doc(
        "Nota C", "Het parkeerbeleid in het centrum wordt herzien na klachten van winkeliers."
    ), encoding="utf-8")
    settings = Settings(
        index_dir=tmp_path / "index", cache_dir=tmp_path / "cache", encoder="fake:64",
        chunking=ChunkSettings(target_chars=150, max_chars=400, min_chars=50),
    )
    vb = Vraagbaak(settings)
    vb.ingest([root])
    return vb


# -- pure parts -----------------------------------------------------------------------


def test_topic_terms_meet_inflected_and_compound_forms_but_not_word_parts() -> None:
    an = Analyzer()
    assert topic_terms(an, "informeel") & passage_terms(an, "Zij hadden informele contacten.")
    assert topic_terms(an, "gemeenteraad") & passage_terms(an, "De gemeenteraadsleden stemden.")
    # "kernen" shares a part with "kernenergie", but is not the topic
    assert not topic_terms(an, "kernenergie") & passage_terms(an, "Wat leeft er in de kernen?")
    assert topic_terms(an, "de en het") == frozenset()


def test_overlap_is_jaccard() -> None:
    assert overlap(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert overlap(frozenset(), frozenset()) == 0.0
    assert overlap(frozenset("ab"), frozenset("ab")) == 1.0


def test_mmr_puts_a_distinct_item_before_a_near_copy_of_the_best() -> None:
    rel = [1.0, 0.95, 0.5]
    sim = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    order, dropped = mmr_order(rel, sim, lam=0.5)
    assert order == [0, 2, 1]
    assert dropped == []
    # relevance only: plain ranking
    assert mmr_order(rel, sim, lam=1.0)[0] == [0, 1, 2]


def test_mmr_drops_near_duplicates() -> None:
    rel = [1.0, 0.95, 0.5]
    sim = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    order, dropped = mmr_order(rel, sim, duplicate=0.8)
    assert order == [0, 2]
    assert dropped == [1]


def test_mmr_validates_and_handles_empty_input() -> None:
    assert mmr_order([], np.zeros((0, 0))) == ([], [])
    with pytest.raises(InputError, match="lam must be between 0 and 1"):
        mmr_order([1.0], np.ones((1, 1)), lam=1.5)


def test_relevant_uses_the_pools_own_distribution() -> None:
    dense = [0.90, 0.86, 0.84, 0.83, 0.83, 0.82, 0.82, 0.81]
    matched = [True, False, True, False, False, False, False, True]
    keep = dict(relevant(dense, matched, min_z=1.5, min_z_matched=0.0))
    # 0: matched and far above the mean; 2: matched, above the mean; 7: matched but below
    assert set(keep) == {0, 2}
    assert keep[0] > keep[2] > 0
    # without matches, nothing counts, however far a passage stands out
    assert relevant(dense, [False] * len(dense)) == []
    # a semantic-only passage that stands out clearly counts when the topic occurs at all
    assert 0 in dict(relevant(dense, [False, False, True, *[False] * 5], min_z=1.5))
    # shifting every similarity changes nothing: no absolute number is involved
    shifted = dict(relevant([d - 0.3 for d in dense], matched))
    assert shifted.keys() == keep.keys()
    with pytest.raises(ValueError, match="same length"):
        relevant([0.1, 0.2], [True])


# -- on an index ----------------------------------------------------------------------


def test_topic_passages_groups_per_document_and_drops_near_duplicates(topic_vb: Vraagbaak) -> None:
    res = topic_vb.topic("informeel overleg")
    by_source = {g.source: g for g in res.groups}
    assert set(by_source) == {"c/a.txt", "c/b.txt"}
    a = by_source["c/a.txt"]
    assert a.count == 2 and a.duplicates == 1
    texts = [p.chunk.text for p in a.passages]
    assert sum("draagvlak" in t for t in texts) == 1  # only one copy of the duplicated passage
    assert any("kernen" in t for t in texts)
    assert by_source["c/b.txt"].count == 1
    assert res.groups[0].source == "c/a.txt"  # most passages first
    assert res.total == 3
    for g in res.groups:
        for p in g.passages:
            assert p.matched and p.chunk.source == g.source
            assert topic_vb.index.source_text(g.source)[p.chunk.start : p.chunk.end] == p.chunk.text


def test_topic_passages_caps_per_source_but_counts_all(topic_vb: Vraagbaak) -> None:
    res = topic_vb.topic("informeel overleg", per_source=1)
    a = next(g for g in res.groups if g.source == "c/a.txt")
    assert len(a.passages) == 1 and a.count == 2


def test_topic_passages_restricted_to_sources(topic_vb: Vraagbaak) -> None:
    res = topic_vb.topic("informeel overleg", sources=["c/b.txt"])
    assert [g.source for g in res.groups] == ["c/b.txt"]


def test_topic_the_sources_never_mention_is_empty(topic_vb: Vraagbaak) -> None:
    res = topic_vb.topic("kernenergie")
    assert res.groups == () and res.total == 0 and res.pool > 0


def test_topic_passages_rejects_bad_input(topic_vb: Vraagbaak) -> None:
    with pytest.raises(InputError):
        topic_vb.topic("   ")
    with pytest.raises(InputError, match="per_source must be greater than 0"):
        topic_vb.topic("overleg", per_source=0)
    with pytest.raises(InputError, match="duplicate_overlap"):
        topic_passages(topic_vb.pipeline(), "overleg", duplicate_overlap=0)


@pytest.mark.slow
def test_topic_on_the_bundled_corpus(vb: Vraagbaak) -> None:
    res = vb.topic("informeel overleg")
    assert res.groups, "the bundled corpus discusses informal consultation"
    top = res.groups[0]
    assert top.source.endswith("movisie-2018-village-deals-rapport.txt")
    assert top.count >= 3
    assert any("informeel" in p.chunk.text.lower() for p in top.passages)
    # no two shown passages of a document are near-duplicates
    an = vb.index.analyzer
    for g in res.groups:
        terms = [passage_terms(an, p.chunk.text) for p in g.passages]
        for i in range(len(terms)):
            for j in range(i):
                assert overlap(terms[i], terms[j]) < 0.5


# -- every document that states the topic, topic questions, the CLI ---------------------


def test_topic_finds_every_passage_that_states_the_phrase_wherever_it_ranks(
    topic_vb: Vraagbaak,
) -> None:
    # a pool of one passage: the search alone would see a single document
    res = topic_vb.topic("Informeel  overleg", pool=1)
    assert {g.source for g in res.groups} == {"c/a.txt", "c/b.txt"}
    ix = topic_vb.index
    stating = {c.source for c in ix.chunks if "informeel overleg" in c.text.lower()}
    assert {g.source for g in res.groups} == stating


def test_topic_phrase_is_matched_without_case_or_accents_as_whole_words() -> None:
    from vraagbaak.qa.topic import fold, phrase_pattern

    pat = phrase_pattern("ontschotte budgetten")
    assert pat is not None
    assert pat.search(fold("Met Ontschotte\nbudgetten werken gemeenten samen."))
    assert not pat.search(fold("ontschotte budgettenplan"))
    assert phrase_pattern("  ?? ") is None
    pat = phrase_pattern("enquête")
    assert pat is not None and pat.search(fold("de ENQUETE")) and len(fold("Ë é")) == 3


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Wat zeggen de bronnen over ontschotte budgetten?", "ontschotte budgetten"),
        ("wat zeggen de documenten over informeel overleg", "informeel overleg"),
        ("Wat staat er in de bronnen over de rol van de gemeenteraad?",
         "de rol van de gemeenteraad"),
        ("Wat wordt er gezegd over “jeugdzorg”?", "jeugdzorg"),
        ("Wat is de Teylingse Ton?", None),
        ("Wat zeggen de raadsleden over de enquête?", None),
        ("", None),
    ],
)
def test_topic_of_question(question: str, topic: str | None) -> None:
    from vraagbaak.qa.topic import topic_of_question

    assert topic_of_question(question) == topic


def test_topic_cli_text_and_json(
    topic_vb: Vraagbaak, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from vraagbaak.cli import main

    index = str(topic_vb.settings.index_dir)
    assert main(["--index", index, "--encoder", "fake:64", "topic", "informeel", "overleg"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Onderwerp: informeel overleg: 3 passages in 2 documenten")
    assert "Rapport A (c/a.txt): 2 passages" in out
    assert main(["--index", index, "--encoder", "fake:64", "topic", "informeel overleg",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["topic"] == "informeel overleg" and d["total"] == 3
    assert [g["source"] for g in d["documents"]] == ["c/a.txt", "c/b.txt"]
    p = d["documents"][0]["passages"][0]
    text = topic_vb.index.source_text(p["source"])
    assert text[p["start"] : p["end"]] == p["text"]
    assert p["citation"].startswith("Rapport A") and "(Bron: c/a.txt, regel" in p["citation"]
    assert main(["--index", index, "--encoder", "fake:64", "topic", " "]) == 1
    assert "Give a topic" in capsys.readouterr().err


@pytest.mark.slow
def test_topic_on_the_bundled_corpus_finds_every_document_with_the_phrase(vb: Vraagbaak) -> None:
    """"ontschotte budgetten" occurs in two documents; the search pool alone missed one."""
    import re

    ix = vb.index
    stating = {
        s.source for s in ix.sources
        if re.search(r"ontschotte\W+budgetten", ix.source_text(s.source).lower())
    }
    assert len(stating) == 2
    res = vb.topic("ontschotte budgetten")
    assert stating <= {g.source for g in res.groups}
