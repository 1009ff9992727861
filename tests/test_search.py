"""Search and answers over the real e5 index of the bundled corpus."""

import itertools

from vraagbaak import Vraagbaak


def test_hits_are_exact_citations(vb: Vraagbaak) -> None:
    hits = vb.search("Hoeveel raadsleden hebben de enquête ingevuld?", top_k=5)
    assert len(hits) == 5
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    for h in hits:
        assert vb.index.source_text(h.chunk.source)[h.chunk.start : h.chunk.end] == h.chunk.text
    assert "51 gemeenteraadsleden" in hits[0].chunk.text


def test_source_filter(vb: Vraagbaak) -> None:
    src = "corpus/movisie-houten-op-koers-dienend-beleid.txt"
    hits = vb.search("Hoeveel gemeenten doen mee aan de Village Deals?", top_k=3, sources=[src])
    assert hits and all(h.chunk.source == src for h in hits)


def test_methods_differ_but_all_return(vb: Vraagbaak) -> None:
    q = "Wat is de Teylingse Ton?"
    for m in ("hybrid", "rrf", "bm25", "dense"):
        hits = vb.search(q, top_k=3, method=m)
        assert len(hits) == 3
        assert any("Teylingse Ton" in h.chunk.text for h in hits), m
