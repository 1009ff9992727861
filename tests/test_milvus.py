"""The Milvus backend (tested on Milvus Lite, a local file) against the local index."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CORPUS, SHARED
from vraagbaak import Settings, Vraagbaak
from vraagbaak.backends.milvus import MilvusBackend, MilvusRetriever, milvus_term, milvus_terms
from vraagbaak.errors import InputError, VraagbaakError
from vraagbaak.evaluation import Returned, load_eval, score_method
from vraagbaak.index.analysis import Analyzer

QUESTIONS = [
    "Hoeveel gemeenten doen mee aan de Village Deals?",
    "Wat is integraal werken?",
    "Welke rol spelen wethouders bij dienend beleid?",
]


def test_terms_become_single_plain_words() -> None:
    assert milvus_term("gemeent") == "gemeent"
    words = [milvus_term(t) for t in ["50.000", "12%", "quota", "q", "ĳs", "gemeent"]]
    assert all(w.isascii() and w.isalnum() and w == w.lower() for w in words)
    assert len(set(words)) == len(words)
    assert milvus_term("50.000") != milvus_term("50000")
    assert milvus_terms(Analyzer(), "De gemeenten en 50.000 inwoners").split() == [
        milvus_term(t) for t in Analyzer().terms("De gemeenten en 50.000 inwoners")
    ]


def test_constructor_validates() -> None:
    with pytest.raises(InputError, match="URI"):
        MilvusBackend("")
    with pytest.raises(InputError, match="candidates"):
        MilvusBackend("x.db", candidates=0)


pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def fake_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vraagbaak, MilvusBackend]:
    root = tmp_path_factory.mktemp("milvus-fake")
    vb = Vraagbaak(Settings(index_dir=root / "index", cache_dir=root / "cache", encoder="fake:64"))
    vb.ingest([CORPUS])
    mb = MilvusBackend(str(root / "milvus.db"))
    assert mb.sync(vb.index) == len(vb.index.chunks)
    yield vb, mb
    mb.close()


def _through(vb: Vraagbaak, mb: MilvusBackend) -> Vraagbaak:
    """The same index and settings, with the candidates proposed by Milvus."""
    return Vraagbaak(vb.settings, retriever=MilvusRetriever(mb))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["rrf", "hybrid", "bm25", "dense"])
def test_same_ranking_as_local(fake_pair: tuple[Vraagbaak, MilvusBackend], method: str) -> None:
    vb, mb = fake_pair
    assert mb.count() == len(vb.index.chunks)
    milvus = _through(vb, mb)
    for q in QUESTIONS:
        local = vb.search(q, top_k=8, method=method)
        remote = milvus.search(q, top_k=8, method=method)
        assert [h.chunk.id for h in remote] == [h.chunk.id for h in local]
        assert [h.chunk.text for h in remote] == [h.chunk.text for h in local]
        for a, b in zip(remote, local, strict=True):
            assert a.dense == pytest.approx(b.dense, abs=1e-5)


@pytest.mark.slow
def test_sources_filter(fake_pair: tuple[Vraagbaak, MilvusBackend]) -> None:
    vb, mb = fake_pair
    src = vb.index.sources[0].source
    hits = _through(vb, mb).search(QUESTIONS[1], top_k=5, sources=[src])
    assert hits and all(h.chunk.source == src for h in hits)


def test_missing_collection_is_a_clear_error(tmp_path: Path) -> None:
    from tests.conftest import HashEncoder

    mb = MilvusBackend(str(tmp_path / "empty.db"))
    q = "Wat is integraal werken?"
    with pytest.raises(VraagbaakError, match="No vraagbaak collections"):
        mb.retrieve(HashEncoder().encode([q], is_query=True)[0], q)
    mb.close()


def _spans(hits: list) -> list[tuple[str, int, int]]:
    return [(h.chunk.source, h.chunk.start, h.chunk.end) for h in hits]


@pytest.mark.slow
def test_quality_matches_local_on_sample_questions(vb: Vraagbaak, tmp_path: Path) -> None:
    """Recall@k of Milvus (e5, the sample questions) within 0.02 of the local backend."""
    questions = SHARED / "eval" / "questions.jsonl"
    if not questions.is_file():
        pytest.skip(f"needs the sample questions at {questions} (not part of the repository)")
    ix = vb.index
    texts = {s.source: ix.source_text(s.source) for s in ix.sources}
    qs = load_eval(questions, texts).questions
    mb = MilvusBackend(str(tmp_path / "milvus.db"))
    mb.sync(ix)
    milvus = _through(vb, mb)
    try:
        for method in ("rrf", "hybrid"):
            local, remote = [], []
            for q in qs:
                mine = vb.search(q.question, top_k=10, method=method)
                theirs = milvus.search(q.question, top_k=10, method=method)
                local.append(Returned(tuple(_spans(mine))))
                remote.append(Returned(tuple(_spans(theirs))))
            a, b = score_method(method, qs, local), score_method(method, qs, remote)
            for k in (1, 5, 10):
                print(f"{method} recall@{k}: local {a.recall[k]:.3f} milvus {b.recall[k]:.3f}")
                assert abs(a.recall[k] - b.recall[k]) <= 0.02, (method, k, a.recall, b.recall)
    finally:
        mb.close()
