"""Ablations: which Dutch analysis and which fusion win, on training and evaluation sets.

Builds one index per analysis variant of each question set's documents (embeddings come
from the cache, so only BM25 is rebuilt) and prints recall@1/@5 of BM25 alone and of the
full hybrid, so every choice in ``AnalysisSettings`` and ``RetrievalSettings`` is a
measured one. Choices are made on the two *training* sets: the Dutch Debian FAQ (117
questions asked of an index of its answers; Debian's ``debian-faq-nl``) and 400 questions
of the SQuAD articles held out by ``training/reader/prepare.py`` (English), with the
development sets written for the project (``bench/data/README.md``: paraphrased questions
over the bundled reports, government-style pages) beside them. The evaluation sets (the
sample questions over the bundled corpus, XQuAD-nl) are printed too, to report, never to
choose.

Usage:
    python bench/ablation.py [--cache DIR] [--xquad-limit N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from vraagbaak import AnalysisSettings, RetrievalSettings, Settings, Vraagbaak
from vraagbaak.evaluation import load_eval, load_for_index, prepare_squad_index, run_eval

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
from training.data import FAQ, faq_answers, heldout_groups  # noqa: E402

SETS = ("faq", "squad", "reports", "gov", "sample", "xquad")  # training, development, evaluation
DEV = ROOT / "bench" / "data"
JSONL = {  # the question files asked of an index of a folder
    "reports": (ROOT / "corpus", DEV / "reports-dev.jsonl"),
    "gov": (DEV / "gov-dev" / "pages", DEV / "gov-dev" / "questions.jsonl"),
    "sample": (ROOT / "corpus", SHARED / "eval/questions.jsonl"),
}


def faq_squad(dest: Path) -> Path:
    """The Dutch Debian FAQ as a SQuAD-style file: one paragraph per answer, its question
    (a heading that asks) as the paragraph's question, the answer's first words as the
    answer text (retrieval is what the ablation scores)."""
    data = []
    for num, (question, answer, chapter) in faq_answers(FAQ / "debian-faq.nl.txt.gz").items():
        qas = []
        if question.endswith("?"):
            qas.append({"id": f"faq-{num}", "question": question,
                        "answers": [{"text": answer[:40].rsplit(" ", 1)[0], "answer_start": 0}]})
        data.append({"title": chapter, "paragraphs": [{"context": answer, "qas": qas}]})
    dest.write_text(json.dumps({"data": data}, ensure_ascii=False), "utf-8")
    return dest


def squad_heldout(dest: Path, limit: int = 400) -> Path:
    """Answerable questions of the held-out SQuAD articles as a SQuAD-style file, every
    paragraph of those articles kept (their sentences as vraagbaak splits them)."""
    held = heldout_groups()
    rng = random.Random(13)
    asked = {id(g) for g in rng.sample([g for g in held if any(g["labels"])], limit)}
    arts: dict[str, dict[str, list[dict]]] = {}
    for i, g in enumerate(held):
        context = " ".join(g["sents"])
        paras = arts.setdefault(g["article"].split("/", 1)[1], {})
        qas = paras.setdefault(context, [])
        if id(g) in asked:
            gold = next(s for s, y in zip(g["sents"], g["labels"], strict=True) if y)
            qas.append({"id": f"squad-{i}", "question": g["q"],
                        "answers": [{"text": gold, "answer_start": context.index(gold)}]})
    data = [{"title": t.replace("_", " "),
             "paragraphs": [{"context": c, "qas": q} for c, q in ps.items()]}
            for t, ps in arts.items()]
    dest.write_text(json.dumps({"data": data}, ensure_ascii=False), "utf-8")
    return dest

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
    args.cache.mkdir(parents=True, exist_ok=True)
    squad_sets = {}
    for label, path in (
        ("faq", faq_squad(args.cache / "faq.json")),
        ("squad", squad_heldout(args.cache / "squad-heldout.json")),
        ("xquad", SHARED / "data/external/xquad-nl/xquad.nl.json"),
    ):
        _, es, _ = prepare_squad_index(load_eval(path), base)
        squad_sets[label] = (es, args.cache / "emb" / "eval" / es.sha256[:16] / "docs")

    def evaluate(
        name: str,
        analysis: AnalysisSettings,
        retrieval: RetrievalSettings,
        methods: tuple[str, ...],
    ) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for label in SETS:
            paths = [JSONL[label][0]] if label in JSONL else [squad_sets[label][1]]
            slug = "".join(c if c.isalnum() else "-" for c in name)[:40]
            vb = Vraagbaak(base.with_(
                index_dir=args.cache / f"{label}-{slug}", retrieval=retrieval, analysis=analysis
            ))
            vb.ingest(paths)
            es = load_for_index(JSONL[label][1], vb) if label in JSONL else squad_sets[label][0]
            limit = args.xquad_limit if label == "xquad" else None
            rep = run_eval(vb, es, methods=methods, limit=limit)
            for m in methods:
                f = rep.method(m).figures()
                out[f"{label}:{m}"] = {"r1": f["recall@1"], "r5": f["recall@5"]}
        return out

    def cells(r: dict[str, dict[str, float]], method: str) -> str:
        return "  ".join(f"{r[f'{s}:{method}']['r1']:.3f}/{r[f'{s}:{method}']['r5']:.3f}"
                         for s in SETS)

    t0 = time.perf_counter()
    head = "  ".join(f"{s:>11s}" for s in SETS)
    print("Dutch analysis, recall@1 / recall@5 (training: faq, squad; development: reports, "
          "gov; evaluation: sample, xquad)")
    print(f"{'variant':52s} {'':6s} {head}")
    for name, an in ANALYSES.items():
        r = evaluate(name, an, RetrievalSettings(), ("bm25", "hybrid"))
        print(f"{name:52s} bm25   {cells(r, 'bm25')}", flush=True)
        print(f"{'':52s} hybrid {cells(r, 'hybrid')}", flush=True)
    print("\nFusion (default analysis), recall@1 / recall@5")
    print(f"{'variant':52s} {head}")
    for name, rs in FUSIONS.items():
        r = evaluate(
            "default",
            AnalysisSettings(),
            replace(rs, method="hybrid") if rs.method == "hybrid" else rs,
            ("hybrid",) if rs.method == "hybrid" else (rs.method,),
        )
        key = "hybrid" if rs.method == "hybrid" else rs.method
        print(f"{name:52s} {cells(r, key)}", flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
