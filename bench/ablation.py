"""Ablations: which Dutch analysis and which fusion win, on both question sets.

Builds one index per analysis variant of the bundled corpus and of XQuAD-nl (embeddings
come from the cache, so only BM25 is rebuilt) and prints recall@1/@5 of BM25 alone and of
the full hybrid, so every choice in ``AnalysisSettings`` and ``RetrievalSettings`` is a
measured one. Settings are chosen on both sets together; neither set is tuned alone.

Usage:
    python bench/ablation.py [--cache DIR] [--xquad-limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from vraagbaak import AnalysisSettings, RetrievalSettings, Settings, Vraagbaak
from vraagbaak.evaluation import load_eval, load_for_index, prepare_squad_index, run_eval

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

ANALYSES = {
    "default (fold, stopwords, light stem, compounds)": AnalysisSettings(),
    "no stemming": AnalysisSettings(stemmer="none"),
    "Snowball (PyStemmer) stemming": AnalysisSettings(stemmer="snowball"),
    "no compound splitting": AnalysisSettings(compounds=False),
    "no stopwords": AnalysisSettings(stopwords=False),
    "no accent folding": AnalysisSettings(fold_accents=False),
    "plain (lower case only)": AnalysisSettings(
        fold_accents=False, stopwords=False, stemmer="none", compounds=False
    ),
}
FUSIONS = {
    "z-score sum, passage+sentence+BM25 (default)": RetrievalSettings(),
    "z-score sum, passage+BM25": RetrievalSettings(w_sentence=0.0),
    "min-max sum, passage+sentence+BM25": RetrievalSettings(fusion="minmax"),
    "RRF, passage+sentence+BM25": RetrievalSettings(fusion="rrf"),
    "RRF, passage+BM25 (the standard recipe)": RetrievalSettings(method="rrf"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vraagbaak-ablation"))
    ap.add_argument("--xquad-limit", type=int, default=None)
    args = ap.parse_args()
    base = Settings(index_dir=args.cache / "x", cache_dir=args.cache / "emb")
    xq_set = load_eval(SHARED / "data/external/xquad-nl/xquad.nl.json")
    _, xq_set, _ = prepare_squad_index(xq_set, base)
    xq_docs = args.cache / "emb" / "eval" / xq_set.sha256[:16] / "docs"

    def evaluate(
        name: str,
        analysis: AnalysisSettings,
        retrieval: RetrievalSettings,
        methods: tuple[str, ...],
    ) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for label, paths, loader in (
            ("sample", [ROOT / "corpus"], "jsonl"),
            ("xquad", [xq_docs], "squad"),
        ):
            slug = "".join(c if c.isalnum() else "-" for c in name)[:40]
            vb = Vraagbaak(base.with_(
                index_dir=args.cache / f"{label}-{slug}", retrieval=retrieval, analysis=analysis
            ))
            vb.ingest(paths)
            es = (
                load_for_index(SHARED / "eval/questions.jsonl", vb) if loader == "jsonl" else xq_set
            )
            limit = args.xquad_limit if label == "xquad" else None
            rep = run_eval(vb, es, methods=methods, limit=limit)
            for m in methods:
                f = rep.method(m).figures()
                out[f"{label}:{m}"] = {"r1": f["recall@1"], "r5": f["recall@5"]}
        return out

    t0 = time.perf_counter()
    print("Dutch analysis (BM25 alone | full hybrid), recall@1 / recall@5")
    print(
        f"{'variant':52s} {'sample bm25':>13s} {'sample hybrid':>14s} "
        f"{'xquad bm25':>12s} {'xquad hybrid':>13s}"
    )
    for name, an in ANALYSES.items():
        r = evaluate(name, an, RetrievalSettings(), ("bm25", "hybrid"))
        cells = [
            f"{r[k]['r1']:.3f}/{r[k]['r5']:.3f}"
            for k in ("sample:bm25", "sample:hybrid", "xquad:bm25", "xquad:hybrid")
        ]
        print(
            f"{name:52s} {cells[0]:>13s} {cells[1]:>14s} {cells[2]:>12s} {cells[3]:>13s}",
            flush=True,
        )
    print("\nFusion (default analysis), recall@1 / recall@5")
    for name, rs in FUSIONS.items():
        r = evaluate(
            "default",
            AnalysisSettings(),
            replace(rs, method="hybrid") if rs.method == "hybrid" else rs,
            ("hybrid",) if rs.method == "hybrid" else (rs.method,),
        )
        key = "hybrid" if rs.method == "hybrid" else rs.method
        print(
            f"{name:52s} sample {r['sample:' + key]['r1']:.3f}/{r['sample:' + key]['r5']:.3f}"
            f"   xquad {r['xquad:' + key]['r1']:.3f}/{r['xquad:' + key]['r5']:.3f}",
            flush=True,
        )
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
