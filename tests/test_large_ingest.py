"""Large ingests: resumable after an interruption, progress reported, BM25 built from
compact term ids."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import CORPUS, HashEncoder
from vraagbaak import Settings, Vraagbaak
from vraagbaak.index.analysis import Analyzer
from vraagbaak.index.encoders import register_encoder
from vraagbaak.index.reader import import_bm25s
from vraagbaak.index.store import term_ids


class FlakyEncoder(HashEncoder):
    """A hashing encoder that fails after ``fail_after`` calls (an interrupted ingest)."""

    fail_after: int | None = None

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        return super().encode(texts, is_query=is_query)


FLAKY: dict[str, FlakyEncoder] = {}


def _flaky(arg: str) -> FlakyEncoder:
    enc = FLAKY[arg] = FlakyEncoder(arg)
    return enc


register_encoder("flaky", _flaky)


def test_interrupted_ingest_resumes_without_reencoding(tmp_path, monkeypatch) -> None:
    """What an interrupted ingest committed to the cache (a slice of passages at a time)
    is not encoded again."""
    import sqlite3

    from vraagbaak.index import embedding

    monkeypatch.setattr(embedding, "SLICE", 32)
    settings = Settings(
        index_dir=tmp_path / "index", cache_dir=tmp_path / "cache", encoder="flaky:48"
    )
    vb = Vraagbaak(settings)
    enc = vb.encoder
    assert isinstance(enc, FlakyEncoder)
    enc.fail_after = 12
    with pytest.raises(KeyboardInterrupt):
        vb.ingest([CORPUS])
    assert not vb.has_index(), "an interrupted ingest leaves no half-written index"
    with sqlite3.connect(tmp_path / "cache" / "embeddings.sqlite") as db:
        cached = db.execute("SELECT count(*) FROM vec").fetchone()[0]
    assert enc.calls == 12 and 0 < cached < enc.texts  # the last slice was cut short

    enc.fail_after = None
    enc.texts = 0
    report = vb.ingest([CORPUS])
    assert report.encoded == enc.texts
    fresh = Vraagbaak(settings.with_(index_dir=tmp_path / "i2", cache_dir=tmp_path / "c2"))
    unique = fresh.ingest([CORPUS]).encoded
    assert 0 < cached < unique
    assert report.encoded == unique - cached  # only what was not committed was encoded
    assert vb.search("Village Deals gemeenten", top_k=1)


def test_progress_reaches_the_total(fake_settings: Settings) -> None:
    seen: list[tuple[str, int, int]] = []
    Vraagbaak(fake_settings).ingest([CORPUS], progress=lambda s, d, t: seen.append((s, d, t)))
    emb = [(d, t) for s, d, t in seen if s == "embedding"]
    assert emb[0][0] == 0
    assert [d for d, _ in emb] == sorted(d for d, _ in emb)
    assert emb[-1][0] == emb[-1][1] > 0


def test_term_ids_give_the_same_bm25_as_term_lists() -> None:
    bm25s = import_bm25s()
    analyzer = Analyzer()
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    texts = [t[i : i + 700] for t in texts for i in range(0, len(t), 700)] + ["", "de het een"]
    a = bm25s.BM25()
    a.index([analyzer.terms(t) or ["∅"] for t in texts], show_progress=False)
    ids, vocab = term_ids(analyzer, texts)
    assert all(x.dtype == np.int32 for x in ids)
    b = bm25s.BM25()
    b.index((ids, vocab), show_progress=False)
    for q in ["gemeenten village deals", "wethouder integraal werken", "∅", "50.000 inwoners"]:
        terms = [t for t in analyzer.terms(q) or [q] if t in a.vocab_dict]
        assert terms
        np.testing.assert_allclose(b.get_scores(terms), a.get_scores(terms), rtol=1e-6)


def test_bm25_loads_memory_mapped(fake_settings: Settings) -> None:
    vb = Vraagbaak(fake_settings)
    vb.ingest([CORPUS])
    bm25s = import_bm25s()
    m = bm25s.BM25.load(str(vb.index.root / "bm25"), load_vocab=True, mmap=True)
    assert isinstance(m.scores["data"], np.memmap)
    terms = [t for t in vb.index.analyzer.terms("village deals") if t in m.vocab_dict]
    np.testing.assert_allclose(m.get_scores(terms), vb.index.bm25.get_scores(terms))
