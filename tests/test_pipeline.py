"""The question pipeline and the facade around it: injected encoders and retrievers, one
analysis per question, the settings tree, the lazy index and its checks, serialisation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import HashEncoder
from vraagbaak import (
    AnalysisSettings,
    AnswerSettings,
    ChunkSettings,
    Index,
    InputError,
    Proposal,
    RetrievalSettings,
    Settings,
    Vraagbaak,
    VraagbaakError,
)
from vraagbaak.qa import abstain
from vraagbaak.qa.question import Question
from vraagbaak.qa.search import LocalRetriever
from vraagbaak.types import Answer, Chunk

QUESTION = "Hoeveel gemeenten doen mee aan de Village Deals?"


class CountingEncoder(HashEncoder):
    """The fake encoder, counting the questions it embeds."""

    def __init__(self) -> None:
        super().__init__("64")
        self.queries: list[str] = []

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        if is_query:
            self.queries.extend(texts)
        return super().encode(texts, is_query=is_query)


def test_the_facade_takes_an_encoder_and_embeds_a_question_once(small: Settings) -> None:
    enc = CountingEncoder()
    vb = Vraagbaak(small, encoder=enc)
    res = vb.ask(QUESTION)
    assert enc.queries == [QUESTION]
    assert res.hits == tuple(Vraagbaak(small).ask(QUESTION).hits)


@dataclass
class OnlyFirstSource:
    """A retriever that proposes the passages of one source, counting its calls."""

    calls: int = 0

    def propose(self, index: Index, question: Question, sources: list[str] | None) -> Proposal:
        self.calls += 1
        mask = index.source_mask([index.sources[0].source])
        ids = np.flatnonzero(mask)
        return Proposal(ids, index.lexical_scores(question.terms)[ids])


def test_the_facade_takes_a_retriever(small: Settings) -> None:
    r = OnlyFirstSource()
    vb = Vraagbaak(small, retriever=r)
    first = vb.index.sources[0].source
    hits = vb.search(QUESTION, top_k=5)
    assert r.calls == 1 and hits and all(h.chunk.source == first for h in hits)


def test_local_retriever_proposes_candidates_beyond_the_exact_limit(small: Settings) -> None:
    vb = Vraagbaak(small)
    pipe = vb.pipeline()
    q = pipe.question(QUESTION)
    every = LocalRetriever(small.retrieval).propose(vb.index, q, None)
    assert len(every.ids) == len(vb.index)
    few = LocalRetriever(small.retrieval.with_(exact_limit=10, candidates=20))
    p = few.propose(vb.index, q, None)
    assert 0 < len(p.ids) < len(vb.index)
    assert np.all(np.diff(p.ids) > 0)
    assert np.allclose(p.lexical, every.lexical[p.ids])


def test_question_is_analysed_once(small: Settings) -> None:
    pipe = Vraagbaak(small).pipeline()
    q = pipe.question("  Hoeveel   gemeenten\tdoen mee?  ")
    assert q.text == "Hoeveel gemeenten doen mee?"
    assert q.terms == tuple(pipe.index.analyzer.terms(q.text))
    assert set(q.idf) == set(q.terms) and not q.cut
    assert pipe.question("x" * 3000).cut


@pytest.mark.parametrize(
    "make",
    [
        lambda: RetrievalSettings(method="bm42"),
        lambda: RetrievalSettings(candidates=0),
        lambda: AnswerSettings(window="both"),
        lambda: AnswerSettings(passages=0),
        lambda: AnswerSettings(kind_gate="sometimes"),
        lambda: AnalysisSettings(stemmer="porter"),
        lambda: ChunkSettings(min_chars=0),
        lambda: Settings(top_k=0),
        lambda: Settings(max_question_chars=0),
        lambda: Settings(retrieval="hybrid"),  # type: ignore[arg-type]
        lambda: Settings().with_(answering=AnswerSettings().with_(read=0)),
    ],
)
def test_every_setting_is_checked_with_an_input_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=r"must (be|satisfy)"):
        make()


def test_top_k_is_checked_by_the_library(small: Settings) -> None:
    vb = Vraagbaak(small)
    for bad in (0, -3):
        with pytest.raises(InputError, match="top_k must be"):
            vb.ask(QUESTION, top_k=bad)
        with pytest.raises(InputError, match="top_k must be"):
            vb.search(QUESTION, top_k=bad)


def test_the_library_takes_one_name_as_a_string_and_refuses_a_question_not_text(
    small: Settings, tmp_path: Path
) -> None:
    """A string where a list is expected is one name, not its characters; a question that
    is not text is one clear error, not str() of it answered."""
    vb = Vraagbaak(small)
    source = vb.index.sources[0].source
    hits = vb.search(QUESTION, sources=source)
    assert hits and {h.chunk.source for h in hits} == {source}
    with pytest.raises(InputError, match=r"Not in the index: nergens\.txt"):
        vb.ask(QUESTION, sources="nergens.txt")
    for bad in (5, b"Wat is een Village Deal?", ["Wat?"]):
        with pytest.raises(InputError, match="The question must be text"):
            vb.ask(bad)  # type: ignore[arg-type]
    one, two = tmp_path / "een.txt", tmp_path / "twee.txt"
    one.write_text("Soest\n\nDe gemeente Soest telt 47.000 inwoners.\n", encoding="utf-8")
    two.write_text("Baarn\n\nDe gemeente Baarn telt 25.000 inwoners.\n", encoding="utf-8")
    other = Vraagbaak(small.with_(index_dir=tmp_path / "index"))
    assert other.ingest(str(one)).added == ["een.txt"]
    assert other.ingest(two, add=True).added == ["twee.txt"]
    other.remove("een.txt")
    assert [s.source for s in other.index.sources] == ["twee.txt"]


def test_result_serialises_itself(small: Settings) -> None:
    vb = Vraagbaak(small)
    res = vb.ask(QUESTION, min_confidence=0.0)
    d = json.loads(json.dumps(res.to_dict(vb.index)))
    assert d["question"] == QUESTION and d["abstained"] is False
    assert [p["rank"] for p in d["passages"]] == [h.rank for h in res.hits]
    a = d["answer"]
    assert vb.index.source_text(a["source"])[a["start"] : a["end"]] == a["text"]
    assert a["citation"].startswith("“") and a["chunk_rank"] is not None


def test_opening_reads_no_passage(small: Settings) -> None:
    ix = Index.open(small.index_dir)
    try:
        assert ix._chunks is None and ix._bm25 is None and ix._pass is None
        assert len(ix) == ix.manifest["counts"]["chunks"]
        c = ix.chunks[3]
        assert c.id == 3 and ix.chunks[-1].id == len(ix) - 1
        report = ix.verify()
        assert report.passages == len(ix) and report.files == len(ix.manifest["checksums"])
    finally:
        ix.close()


def test_abstention_models_are_checked_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.loads(
        (Path(abstain.__file__).parent.parent / "data" / "abstention.json").read_text("utf-8")
    )
    cases = [
        {**good, "features": [*good["features"][:-1], "renamed"]},
        {**good, "cross_lingual": {**good["cross_lingual"], "features": ["top_bm25"]}},
        {**good, "coef": good["coef"][:-1]},
    ]
    real = abstain.resources.files
    for bad in cases:

        class _Files:
            def joinpath(self, name: str):  # type: ignore[no-untyped-def]
                class _F:
                    def read_text(self, enc: str) -> str:
                        return json.dumps(bad)  # noqa: B023

                return _F()

        monkeypatch.setattr(abstain.resources, "files", lambda pkg: _Files())
        abstain.model.cache_clear()
        with pytest.raises(VraagbaakError, match="fitted on other evidence") as e:
            abstain.model()
        assert "calibrate_abstention.py --write" in (e.value.hint or "")
    monkeypatch.setattr(abstain.resources, "files", real)
    abstain.model.cache_clear()
    ev = abstain.Evidence(*[0.5] * len(abstain.FEATURES))
    assert 0.0 <= abstain.confidence(ev) <= 1.0
    assert 0.0 <= abstain.confidence(ev, lexical=False) <= 1.0


def test_a_dropped_index_lets_its_generation_go_at_once(small: Settings) -> None:
    """No reference cycle keeps an opened index (and its generation's lock) alive until
    the cyclic garbage collector runs: an ingest may then remove the generation."""
    import gc
    import weakref

    gc.disable()
    try:
        vb = Vraagbaak(small)
        vb.ask(QUESTION)
        _ = list(vb.index.chunks)
        ref = weakref.ref(vb.index)
        del vb
        assert ref() is None
    finally:
        gc.enable()


def _english_collection(settings: Settings, tmp_path: Path) -> Settings:
    """``settings`` with an index of one short English document, ingested."""
    doc = tmp_path / "docs" / "river.txt"
    doc.parent.mkdir()
    doc.write_text("The Rhine flows through Germany and the Netherlands into the North Sea. "
                   "It enters the Netherlands near Lobith, where the river is measured "
                   "every day by the water authority of the country.\n", encoding="utf-8")
    en = settings.with_(index_dir=tmp_path / "index")
    Vraagbaak(en).ingest([doc.parent])
    return en


def test_bm25_weighs_less_for_a_question_in_another_language_than_the_collection(
    small: Settings, tmp_path: Path
) -> None:
    from vraagbaak.qa.pipeline import Pipeline

    settings = small.with_(retrieval=small.retrieval.with_(w_lexical=0.9,
                                                           w_lexical_crosslingual=0.2))
    vb = Vraagbaak(settings)
    pipe = Pipeline(vb.index, vb.encoder, settings)
    english = "How many municipalities take part in the Village Deals?"
    assert pipe.dutch_collection()
    assert pipe.retrieval(None, pipe.question(QUESTION)).w_lexical == 0.9
    assert pipe.retrieval(None, pipe.question(english)).w_lexical == 0.2
    assert pipe.retrieval("bm25", pipe.question(english)).method == "bm25"
    # the weight changes the ranking an English question gets
    assert [h.score for h in pipe.search(english)] != [
        h.score for h in Pipeline(vb.index, vb.encoder, small).search(english)
    ]

    # an English collection: an English question keeps BM25's weight, a Dutch one not
    en = _english_collection(settings, tmp_path)
    vb_en = Vraagbaak(en)
    pipe_en = Pipeline(vb_en.index, vb_en.encoder, en)
    assert not pipe_en.dutch_collection()
    assert pipe_en.retrieval(None, pipe_en.question("Where does the Rhine enter?")).w_lexical == 0.9
    assert pipe_en.retrieval(None, pipe_en.question(QUESTION)).w_lexical == 0.2


def test_the_abstention_model_follows_the_languages_of_question_and_sources(
    small: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared words are evidence when question and sources share a language (Dutch over
    Dutch, English over English): the same-language model judges; across languages the
    cross-lingual one does. Before, the question's language alone decided, so a Dutch
    question over English text was judged on words it cannot share with it."""
    from vraagbaak.qa.pipeline import Pipeline

    seen: list[bool] = []
    judge = abstain.confidence

    def spy(ev: abstain.Evidence, *, lexical: bool = True) -> float:
        seen.append(lexical)
        return judge(ev, lexical=lexical)

    monkeypatch.setattr(abstain, "confidence", spy)
    en = _english_collection(small, tmp_path)
    nl_vb, en_vb = Vraagbaak(small), Vraagbaak(en)
    nl_pipe = Pipeline(nl_vb.index, nl_vb.encoder, small)
    en_pipe = Pipeline(en_vb.index, en_vb.encoder, en)
    english, dutch = "Where does the Rhine enter the Netherlands?", QUESTION
    cases = ((nl_pipe, dutch, True), (nl_pipe, english, False),
             (en_pipe, english, True), (en_pipe, dutch, False))
    for pipe, question, same in cases:
        seen.clear()
        pipe.ask(question)
        assert seen == [same], question
    assert [p.same_language(p.question(q)) for p, q, _ in cases] == [c[2] for c in cases]


def _one_document(tmp_path: Path, name: str, text: str, **settings: Any) -> Vraagbaak:
    """A Vraagbaak (fake encoder) over one document ``name`` holding ``text``."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / name).write_text(text, "utf-8")
    vb = Vraagbaak(Settings(index_dir=tmp_path / "index", cache_dir=tmp_path / "cache",
                            encoder="fake:64", **settings))
    vb.ingest([docs])
    return vb


def test_an_answer_that_points_back_takes_the_sentence_before_it(tmp_path: Path) -> None:
    """"Hij is de oudste …" quoted alone does not say who; with ``window="context"`` the
    answer starts at the sentence it points back to (and still quotes the source exactly),
    with ``next`` it does not, and a sentence that names its subject is left as it is."""
    from vraagbaak.qa.answer import Candidate, make_answer, points_back

    text = (
        "Quarterbacks\n\n"
        "Peyton Manning speelde in 2016 voor de Denver Broncos. Hij is de oudste "
        "quarterback ooit in een Super Bowl. Het vorige record stond op naam van John "
        "Elway.\n"
    )
    ix = _one_document(tmp_path, "qb.txt", text).index
    chunk = next(c for c in ix.chunks if "Hij is" in c.text)
    k = next(i for i, (a, _) in enumerate(chunk.sentences) if text[a:].startswith("Hij is"))

    def answer(i: int, window: str) -> str:
        a, b = chunk.sentences[i]
        cand = Candidate(chunk.id, i, a, b, 0.5, 0.5, 1, 1.0)
        ans = make_answer(ix, cand, 1.0, AnswerSettings(window=window))
        assert ix.source_text(ans.source)[ans.start : ans.end] == ans.text
        return ans.text

    assert answer(k, "context").startswith("Peyton Manning speelde")
    assert answer(k, "context").endswith("John Elway.")  # all three fit in 400 characters
    assert answer(k, "next").startswith("Hij is")
    assert answer(k - 1, "context").startswith("Peyton Manning")
    assert answer(k + 1, "context").startswith("Het vorige record")  # "Het" is an article
    short = make_answer(
        ix, Candidate(chunk.id, k, *chunk.sentences[k], 0.5, 0.5, 1, 1.0),
        1.0, AnswerSettings(window="context", max_answer_chars=120),
    )
    assert short.text.startswith("Peyton") and not short.text.endswith("Elway.")
    assert points_back("“Dit leidde tot …") and points_back("They won.")
    assert not points_back("Hijskranen staan …") and not points_back("")
    assert points_back("Dan kunt u een vergunning aanvragen.") and not points_back("Danny.")


def test_an_answer_reaches_into_the_neighbouring_passage_of_its_paragraph(
    tmp_path: Path,
) -> None:
    """A paragraph too long for one passage is split between sentences; the answer's
    context (the next sentence, or the one a pointing-back sentence needs) is taken from
    the neighbouring passage all the same, quoted exactly from the document, with the
    line it starts on; a passage of another paragraph is not reached into."""
    from vraagbaak.qa.answer import Candidate, make_answer

    sentences = [
        f"De gemeente Teylingen plaatste in {2000 + i} precies {10 + i} nieuwe bankjes "
        f"langs de route nummer {i}."
        for i in range(8)
    ]
    sentences[4] = "Zij betaalde daarvoor zelf, zonder subsidie van de provincie Zuid-Holland."
    text = "Bankjes\n\n" + " ".join(sentences) + (
        "\n\nEen ander verhaal begint hier, over de bibliotheek van Sassenheim en haar "
        "nieuwe openingstijden. De bibliotheek is voortaan ook op zondagmiddag open, van "
        "twaalf tot vijf uur, behalve in de zomervakantie.\n"
    )
    ix = _one_document(
        tmp_path, "bank.txt", text,
        chunking=ChunkSettings(target_chars=200, max_chars=300, min_chars=50),
    ).index
    (src,) = {c.source for c in ix.chunks}
    doc = ix.source_text(src)
    chunks = [c for c in ix.chunks if c.source == src]
    with_zij = next(c for c in chunks if "Zij betaalde" in c.text)
    assert with_zij.text.startswith("Zij betaalde")  # the split falls right before it
    before = ix.chunks[with_zij.id - 1]

    def answer(chunk: Chunk, i: int, window: str = "context") -> Answer:
        cand = Candidate(chunk.id, i, *chunk.sentences[i], 0.5, 0.5, 1, 1.0)
        ans = make_answer(ix, cand, 1.0, AnswerSettings(window=window))
        assert doc[ans.start : ans.end] == ans.text
        return ans

    last = answer(before, len(before.sentences) - 1)  # the next sentence is in the next one
    assert last.text.endswith("provincie Zuid-Holland.") and last.start >= before.start
    zij = answer(with_zij, 0)  # points back: takes the last sentence of the passage before
    assert zij.text.startswith("De gemeente Teylingen") and zij.start < with_zij.start
    assert zij.line == 3 and zij.chunk_id == with_zij.id
    assert answer(with_zij, 0, "none").text.startswith("Zij betaalde")
    closing = chunks[-1]
    assert closing.text.startswith("Een ander verhaal")
    end_of_paragraph = ix.chunks[closing.id - 1]
    assert "Een ander" not in answer(end_of_paragraph, len(end_of_paragraph.sentences) - 1).text


def test_an_answer_in_a_list_quotes_the_list(tmp_path: Path) -> None:
    """One list item quoted alone does not say what the list is of: with ``context`` the
    answer is the list around it, with the lead-in ("…:") that opens it but never a
    heading, as much as fits, and nothing of the next paragraph."""
    from vraagbaak.qa.answer import Candidate, make_answer

    text = (
        "# Paspoort aanvragen\n\n"
        "## Wat moet ik meenemen?\n\n"
        "- een goedgelijkende pasfoto\n"
        "- uw huidige paspoort of identiteitskaart\n\n"
        "Een paspoort aanvragen kost tijd. Neem bij de balie het volgende mee:\n"
        "- het formulier. Vul het vooraf in.\n"
        "- een bewijs van betaling\n"
        "- uw DigiD-gegevens\n\n"
        "Daarna krijgt u binnen vijf werkdagen bericht van de gemeente.\n"
    )
    ix = _one_document(tmp_path, "paspoort.md", text).index
    (src,) = {c.source for c in ix.chunks}
    doc = ix.source_text(src)

    def answer(opening: str, window: str = "context", limit: int = 400) -> str:
        c = next(c for c in ix.chunks if opening in c.text)
        i = next(j for j, (a, _) in enumerate(c.sentences) if doc[a:].startswith(opening))
        cand = Candidate(c.id, i, *c.sentences[i], 0.5, 0.5, 1, 1.0)
        ans = make_answer(ix, cand, 1.0, AnswerSettings(window=window, max_answer_chars=limit))
        assert doc[ans.start : ans.end] == ans.text
        return ans.text

    assert answer("- uw huidige") == (
        "- een goedgelijkende pasfoto\n- uw huidige paspoort of identiteitskaart"
    )  # the heading above the list is not quoted
    bewijs = answer("- een bewijs")
    assert bewijs.startswith("Neem bij de balie het volgende mee:")
    assert bewijs.endswith("- uw DigiD-gegevens") and "Daarna" not in bewijs
    assert "Vul het vooraf in." in bewijs and "kost tijd" not in bewijs
    assert answer("- een bewijs", "next") == "- een bewijs van betaling\n- uw DigiD-gegevens"
    short = answer("- een bewijs", limit=60)  # as much as fits, the chosen item in it
    assert "- een bewijs van betaling" in short and len(short) <= 60


def test_no_sentence_of_a_heading_is_an_answer(tmp_path: Path) -> None:
    """A heading of two sentences ("Mijn container is niet geleegd. Wat nu?", as on a
    municipality's FAQ page) is no answer candidate, neither whole nor by its sentences:
    the answer comes from the text under it."""
    from vraagbaak.qa.answer import candidates

    vb = _one_document(
        tmp_path,
        "afval.md",
        "# Veelgestelde vragen over afval\n\n"
        "## Mijn container is niet geleegd. Wat nu?\n\n"
        "Meld dit binnen 2 werkdagen via het meldingsformulier. Wij legen hem dan alsnog.\n\n"
        "## Mag frituurvet bij het restafval?\n\n"
        "Nee. Lever frituurvet in bij de milieustraat.\n",
    )
    question = "Mijn container is niet geleegd, wat nu?"
    pipe = vb.pipeline()
    q = pipe.question(question)
    scores = pipe.scores(q, None)
    hits = vb.search(question, top_k=5)
    texts = [
        (c := vb.index.chunks[x.chunk_id]).text[x.start - c.start : x.end - c.start]
        for x in candidates(vb.index, q, hits, scores, vb.settings.answering)
    ]
    assert "Meld dit binnen 2 werkdagen via het meldingsformulier." in texts
    assert not {"Mijn container is niet geleegd.", "Wat nu?"} & set(texts)
    result = vb.ask(question, min_confidence=0.0)
    assert result.answer is not None and "Wat nu?" not in result.answer.text


def test_a_sentence_without_the_number_asked_for_is_no_answer(tmp_path: Path) -> None:
    """"Hoeveel kost …?" is not answered by a sentence without a number, however close it
    comes: the judgement's confidence is 0, vraagbaak abstains and says why; with the gate
    off the same sentence keeps its confidence; with ``rechoose`` the best sentence that
    holds a number is judged instead."""
    text = (
        "Paspoort\n\n"
        "De kosten van een paspoort voor volwassenen staan op de website van de gemeente. "
        "De gemeente int de kosten bij de aanvraag van het paspoort.\n\n"
        "Spoed\n\nEen spoedaanvraag is binnen 2 werkdagen klaar.\n"
    )
    question = "Hoeveel kosten betaalt een volwassene voor een paspoort?"
    base = _one_document(tmp_path, "paspoort.txt", text).settings
    asked = {}
    for gate in ("abstain", "off", "rechoose"):
        vb = Vraagbaak(base.with_(answering=AnswerSettings(reader=False, kind_gate=gate)))
        # min_confidence 0: always an answer, so that the sentence chosen shows
        asked[gate] = (vb.ask(question), vb.ask(question, min_confidence=0.0))
    (gated, gated_any), (off, off_any), (_, rechosen) = asked.values()
    assert gated.abstained and gated.confidence == 0.0
    assert any("asks for a number" in n for n in gated.notices)
    assert off.confidence > 0.0 and not off.notices
    assert off_any.answer is not None and "website" in off_any.answer.text
    assert gated_any.answer is not None and gated_any.answer.text == off_any.answer.text
    assert rechosen.answer is not None and "2 werkdagen" in rechosen.answer.text
    # a question that asks for no number keeps its confidence
    plain = vb.ask("Waar staan de kosten van een paspoort?")
    assert plain.confidence > 0.0 and not plain.notices
