"""The sentence head: sentence vectors from their passage's pass that stand in for the
vectors of the sentences read alone (``sentence_vectors="upper"``)."""

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from vraagbaak.errors import EncoderError
from vraagbaak.index.embedding import sentence_mode
from vraagbaak.index.encoders import get_encoder
from vraagbaak.index.onnx_e5 import MID_LAYER, OnnxE5Encoder, build_graph
from vraagbaak.index.sentence_head import HEAD_DIR, HeadCard, HeadWeights, SentenceHead

# one passage of a municipal information page: sentences on different things
SENTENCES = [
    "U kunt een parkeervergunning aanvragen als u in het centrum woont.",
    "De vergunning kost 120 euro per jaar en is geldig voor één auto.",
    "Woont u buiten het centrum, dan heeft u geen vergunning nodig.",
    "Bezoekers betalen 2,50 euro per uur of gebruiken een bezoekerspas.",
]


@pytest.fixture(scope="module")
def e5() -> OnnxE5Encoder:
    enc = get_encoder("e5")
    assert isinstance(enc, OnnxE5Encoder)
    return enc


def _parts(sentences: list[str]) -> list[str]:
    parts = [""]
    for s in sentences:
        parts += [s, " "]
    parts[-1] = ""
    return parts


def test_head_vectors_stand_in_for_the_sentences_read_alone(e5: OnnxE5Encoder) -> None:
    parts = _parts(SENTENCES)
    (up,) = e5.encode_parts_upper([("", parts)])
    (late,) = e5.encode_parts([("", parts)])
    alone = e5.encode(SENTENCES)
    assert up.shape == late.shape == (1 + len(parts), 384)
    assert np.allclose(up[0], late[0])  # the passage's own vector is the same pass
    assert not up[1::2].any()  # white space between sentences: no tokens, no vector
    head_cos = (up[2::2] * alone).sum(1)
    late_cos = (late[2::2] * alone).sum(1)
    assert (head_cos > 0.93).all(), head_cos
    assert head_cos.mean() > late_cos.mean() + 0.03, (head_cos, late_cos)
    # each question picks the sentence it picks among the sentences read alone
    questions = [
        "Wat kost een parkeervergunning?",
        "Hoeveel kost de vergunning per jaar?",
        "Wat betalen bezoekers?",
    ]
    q = e5.encode(questions, is_query=True)
    assert ((up[2::2] @ q.T).argmax(0) == (alone @ q.T).argmax(0)).all()


def test_the_mid_output_does_not_change_the_graph() -> None:
    import onnxruntime as ort

    card = HeadCard.load()
    with resources.as_file(resources.files("vraagbaak").joinpath(HEAD_DIR, card.tensors_file)) as p:
        w = HeadWeights(card, Path(p))
    x = np.random.default_rng(0).standard_normal((2, 7, card.hidden)).astype(np.float32)
    mask = np.ones((2, 7), dtype=np.int32)
    mask[1, 5:] = 0
    runs = {}
    for mid in (None, MID_LAYER + 1):
        g = build_graph(w, layers=w.layers, mid=mid)
        s = ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"])
        names = ["h"] if mid is None else ["h", "mid"]
        runs[mid] = s.run(names, {"x": x, "mask": mask})
    assert np.array_equal(runs[None][0], runs[MID_LAYER + 1][0])
    one = build_graph(w, layers=range(MID_LAYER, MID_LAYER + 1))
    s = ort.InferenceSession(one.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.allclose(runs[MID_LAYER + 1][1], s.run(["h"], {"x": x, "mask": mask})[0], atol=1e-5)


def test_a_damaged_head_is_refused(tmp_path: Path) -> None:
    src = resources.files("vraagbaak").joinpath(HEAD_DIR)
    folder = tmp_path / "head"
    folder.mkdir()
    for name in ("sentence-head.json",):
        (folder / name).write_bytes(src.joinpath(name).read_bytes())
    card = json.loads((folder / "sentence-head.json").read_text())
    data = bytearray(src.joinpath(card["tensors_file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / card["tensors_file"]).write_bytes(bytes(data))
    head = SentenceHead(tmp_path / "cache", folder=folder)
    with pytest.raises(EncoderError, match="missing or damaged"):
        head([np.zeros((4, 384), dtype=np.float32)])
    shutil.rmtree(folder)


def test_only_an_encoder_with_a_head_reads_sentences_that_way() -> None:
    class Plain:
        id = "plain"
        dim = 3

        def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
            return np.ones((len(texts), 3), dtype=np.float32)

    assert sentence_mode(Plain(), "upper") == "bare"  # type: ignore[arg-type]
    assert sentence_mode(get_encoder("e5"), "upper") == "upper"


def test_the_within_passage_loss_sees_a_leaking_head() -> None:
    torch = pytest.importorskip("torch")
    from training.sentence_head.train import within_loss

    rng = np.random.default_rng(0)
    t = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((6, 8))), dim=-1)
    passage = np.array([0, 0, 0, 1, 1, 2])
    assert float(within_loss(t, t, passage)) == 0.0  # the sentences read alone
    # a head that mixes each sentence with its passage's mean leaks its context
    mean = torch.stack([t[torch.from_numpy(passage == p)].mean(0) for p in passage])
    leaky = torch.nn.functional.normalize(t + mean, dim=-1)
    assert float(within_loss(leaky, t, passage)) > 0.05
    # only sentences of one passage make pairs: each in its own passage, nothing to compare
    assert float(within_loss(t, t, np.arange(6))) == 0.0


def test_many_passages_are_read_in_groups(
    e5: OnnxE5Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vraagbaak.index import onnx_e5

    items = [("", _parts(SENTENCES[:2])), ("", _parts(SENTENCES[2:])), ("", _parts(SENTENCES))]
    whole = e5.encode_parts_upper(items)
    monkeypatch.setattr(onnx_e5, "UPPER_GROUP", 1)
    grouped = e5.encode_parts_upper(items)
    assert [m.shape for m in grouped] == [m.shape for m in whole]
    for a, b in zip(grouped, whole, strict=True):
        rows = np.linalg.norm(b, axis=1) > 0
        assert (np.linalg.norm(a, axis=1) > 0).tolist() == rows.tolist()
        assert ((a[rows] * b[rows]).sum(1) > 0.99).all()  # int8 scales differ per batch only


def test_head_similarities_are_brought_to_the_scale_of_sentences_read_alone(
    tmp_path: Path,
) -> None:
    """The head's vectors lie a little off the sentences read alone, so a question is
    less similar to them on average (by about the card's ``shrink``, measured on held-out
    training passages); an index of head vectors divides by it, and one of sentences read
    alone does not."""
    from vraagbaak import Settings, Vraagbaak
    from vraagbaak.qa.search import score_candidates

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "parkeren.txt").write_text(
        "Parkeren\n\n" + " ".join(SENTENCES) + "\n", encoding="utf-8"
    )
    card = HeadCard.load()
    assert 0.9 < card.shrink < 1.0
    q = get_encoder("e5").encode(["Wat kost een parkeervergunning?"], is_query=True)[0]
    for mode in ("upper", "bare"):
        vb = Vraagbaak(Settings(index_dir=tmp_path / mode, sentence_vectors=mode))
        vb.ingest([docs])
        index = vb.index
        ids = np.arange(len(index))
        sc = score_candidates(index, q, ids, np.zeros(len(ids)))
        raw = np.asarray(index.sentence_vectors @ q, dtype=np.float64)
        scale = card.shrink if mode == "upper" else 1.0
        assert index.sentence_scale == scale
        assert np.allclose(sc.sent_sims, raw / scale)
