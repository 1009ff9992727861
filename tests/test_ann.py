"""The dense index by collection size: exact below a threshold, IVF-SQ8 beyond."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CORPUS
from vraagbaak import Settings, Vraagbaak
from vraagbaak.index import ann
from vraagbaak.index.ann import (
    AnnParams,
    choose_params,
    load_dense_index,
    make_dense_index,
    save_dense_index,
    set_search_params,
    vector_dtype,
)
from vraagbaak.index.layout import live_generation


def clustered(
    n: int, dim: int = 32, centres: int = 50, noise: float = 0.3, seed: int = 0
) -> np.ndarray:
    """Normalised vectors in ``centres`` clusters (like embeddings of related passages)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]


def test_small_collections_are_exact() -> None:
    assert choose_params(0).kind == "flat"
    assert choose_params(ann.EXACT_MAX).kind == "flat"
    assert vector_dtype(ann.EXACT_MAX) is np.float32


@pytest.mark.parametrize("n", [ann.EXACT_MAX + 1, 200_000, 1_000_000, 10_000_000])
def test_large_collections_get_ivf_sized_by_n(n: int) -> None:
    p = choose_params(n)
    assert p.kind == "ivf_sq8"
    assert p.nlist & (p.nlist - 1) == 0, "nlist is a power of two"
    assert np.sqrt(n) <= p.nlist <= 4 * np.sqrt(n)
    assert p.train_size >= 39 * p.nlist
    assert 32 <= p.nprobe <= p.nlist
    assert vector_dtype(n) is np.float16


def test_params_validate_kind() -> None:
    with pytest.raises(ValueError, match="flat, ivf_sq8"):
        AnnParams("hnsw")


def test_flat_index_is_exact() -> None:
    x = clustered(2000)
    q = clustered(20, seed=1)
    index = make_dense_index(x)
    assert index.ntotal == 2000
    _, ids = index.search(q, 10)
    assert (ids == exact_top(x, q, 10)).all()


def test_ivf_recall_and_mmap_roundtrip(tmp_path: Path) -> None:
    x = clustered(20_000)
    q = clustered(50, seed=1)
    params = choose_params(len(x), exact_max=1000)
    assert params.kind == "ivf_sq8"
    index = make_dense_index(x, params)
    assert index.ntotal == len(x)
    _, ids = index.search(q, 50)
    truth = exact_top(x, q, 10)
    # candidates: the true top 10 are among the index's top 50 (search rescores exactly)
    recall = np.mean([len(set(t) & set(i)) / 10 for t, i in zip(truth, ids, strict=True)])
    assert recall >= 0.95

    path = tmp_path / "passages.faiss"
    save_dense_index(index, path)
    loaded = load_dense_index(path, params.to_dict())
    import faiss

    assert faiss.extract_index_ivf(loaded).nprobe == params.nprobe
    _, ids2 = loaded.search(q, 50)
    assert (ids2 == ids).all()


def test_nprobe_changes_what_is_searched() -> None:
    x = clustered(5000)
    params = choose_params(len(x), exact_max=100)
    index = make_dense_index(x, params)
    import faiss

    set_search_params(index, AnnParams("ivf_sq8", nlist=params.nlist, nprobe=1))
    assert faiss.extract_index_ivf(index).nprobe == 1
    set_search_params(index, {**params.to_dict(), "nprobe": 3})
    assert faiss.extract_index_ivf(index).nprobe == 3


def test_float16_input_is_accepted() -> None:
    x = clustered(3000)
    index = make_dense_index(x.astype(np.float16), choose_params(3000, exact_max=100))
    _, ids = index.search(x[:5], 1)
    assert list(ids[:, 0]) == [0, 1, 2, 3, 4]


def _manifest(settings: Settings) -> dict:
    gen = live_generation(settings.index_dir)
    assert gen is not None
    return json.loads((gen / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_records_dense_index(fake_settings: Settings) -> None:
    Vraagbaak(fake_settings).ingest([CORPUS])
    m = _manifest(fake_settings)
    assert m["dense"]["kind"] == "flat"
    assert m["vectors_dtype"] == "float32"


def test_large_index_path_gives_the_same_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the thresholds lowered, the bundled corpus gets an IVF index and float16
    vectors, and search over FAISS candidates returns what exact search returns."""
    questions = [
        "Hoeveel gemeenten doen mee aan de Village Deals?",
        "Wat is integraal werken?",
        "Welke rol spelen wethouders?",
    ]
    small = Settings(index_dir=tmp_path / "a", cache_dir=tmp_path / "cache", encoder="fake:64")
    vb_small = Vraagbaak(small)
    vb_small.ingest([CORPUS])
    expected = {q: vb_small.search(q, top_k=5, method="dense") for q in questions}

    monkeypatch.setattr(ann, "EXACT_MAX", 10)
    large = small.with_(index_dir=tmp_path / "b", retrieval=small.retrieval.with_(exact_limit=10))
    vb_large = Vraagbaak(large)
    vb_large.ingest([CORPUS])
    m = _manifest(large)
    assert m["dense"]["kind"] == "ivf_sq8"
    assert m["vectors_dtype"] == "float16"
    assert vb_large.index.passage_vectors.dtype == np.float16
    for q in questions:
        got = vb_large.search(q, top_k=5, method="dense")
        assert [h.chunk.id for h in got][:3] == [h.chunk.id for h in expected[q]][:3]
        for a, b in zip(got, expected[q], strict=True):
            assert a.dense == pytest.approx(b.dense, abs=2e-3)
