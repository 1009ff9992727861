"""Fit the abstention models: when do the sources answer a question?

Positives are questions asked of documents that answer them; negatives are the same kind
of questions asked of documents that do not. The Dutch model (all features) is fitted on

- XQuAD-nl questions on the XQuAD-nl index (positive), and on the same index with the
  question's own article filtered out (negative: same style, same kind of text, no answer);
- XQuAD-nl questions on the bundled corpus (negative);
- at a tenth of the weight, the same questions asked of only the other paragraphs of their
  own article (negative, the hard case: on topic, but the paragraph with the answer is out).

The cross-lingual model (dense features only) judges questions in another language than
the sources. It is fitted the same way on ``bench/data/xquad-en.jsonl``: 96 XQuAD-nl
questions (two per article) translated back into English for this project (the original
English XQuAD is not available offline here), asked of the Dutch paragraphs.

Held out, reported only: the sample questions (``../shared/eval/questions.jsonl``) and our
English translations of them (``bench/data/sample-en.jsonl``), on the bundled corpus and,
as negatives, on the XQuAD-nl index. XQuAD figures are two-fold cross-validated over
articles.

A logistic regression (class-balanced, fitted by Newton's method) over the evidence that
:func:`vraagbaak.qa.answer.features` extracts gives a probability; vraagbaak abstains below
0.5. The fitted coefficients go to ``vraagbaak/data/abstention.json``.

Usage:
    python bench/calibrate_abstention.py [--cache DIR] [--limit N] [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from vraagbaak import Settings, Vraagbaak
from vraagbaak.qa.abstain import FEATURES, evidence
from vraagbaak.qa.answer import candidates
from vraagbaak.qa.search import rank

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OUT = ROOT / "vraagbaak" / "data" / "abstention.json"


DUTCH_WEIGHTS = {
    "xquad+": 1.0,
    "xquad-other-articles": 1.0,
    "xquad-on-corpus": 1.0,
    # On-topic negatives at a tenth of the weight: more raise on-topic abstention further
    # but cost answerable questions (at a quarter, one more sample question abstained).
    "xquad-same-article": 0.1,
}
CROSS_WEIGHTS = {"xquad-en+": 1.0, "xquad-en-other-articles": 1.0, "xquad-en-on-corpus": 1.0}
N_DENSE = 3  # the first features are the dense ones (see vraagbaak.qa.abstain.Evidence)
EN_XQUAD = ROOT / "bench" / "data" / "xquad-en.jsonl"
EN_SAMPLE = ROOT / "bench" / "data" / "sample-en.jsonl"


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def squad_folder(path: Path, dest: Path) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Write each paragraph as a document; return (question, article, source) triples and
    each question id's source."""
    data = json.loads(path.read_text("utf-8"))["data"]
    dest.mkdir(parents=True, exist_ok=True)
    qs = []
    source_of = {}
    for art in data:
        title = art["title"]
        for i, para in enumerate(art["paragraphs"]):
            name = f"{''.join(c if c.isalnum() else '_' for c in title)}_{i:02d}.txt"
            f = dest / name
            text = f"{title}\n\n{para['context']}"
            if not f.exists() or f.read_text("utf-8") != text:
                f.write_text(text, "utf-8")
            for qa in para["qas"]:
                qs.append((qa["question"], title, f"{dest.name}/{name}"))
                source_of[qa["id"]] = f"{dest.name}/{name}"
    return qs, source_of


def row(vb: Vraagbaak, question: str, sources: list[str] | None = None) -> np.ndarray:
    """The abstention evidence for ``question``, as :class:`Pipeline` computes it."""
    pipe = vb.pipeline()
    q = pipe.question(question)
    scores = pipe.scores(q, sources)
    cfg = vb.settings.answering
    pool = rank(pipe.index, scores, pipe.retrieval(), top_k=cfg.passages)
    cands = candidates(pipe.index, q, pool, scores, cfg)
    return evidence(pipe.index, q, scores, cands[0] if cands else None).values(list(FEATURES))


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    l2: float = 1e-3,
    iters: int = 50,
) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by Newton's method, with optional example
    weights (each class's weights sum to half); returns (coef, intercept) on the original
    feature scale."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w0 = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    pos, neg = w0[y == 1].sum() / len(y), w0[y == 0].sum() / len(y)
    w = w0 * np.where(y == 1, 0.5 / pos, 0.5 / neg)
    beta = np.zeros(z.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-z @ beta))
        grad = z.T @ (w * (p - y)) + l2 * np.r_[beta[:-1], 0]
        h = (z * (w * p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(beta))
        beta -= np.linalg.solve(h, grad)
    coef = beta[:-1] / sd
    intercept = beta[-1] - float((beta[:-1] * mu / sd).sum())
    return coef, intercept


def hash_fold(article: str) -> int:
    """The cross-validation fold of an article (stable across runs)."""
    return int(hashlib.sha256(article.encode("utf-8")).hexdigest(), 16) % 2


def report(p: np.ndarray, y: np.ndarray, groups: list[str]) -> dict[str, float]:
    """Print and return, per group, the share handled right at the 0.5 threshold."""
    correct = {}
    for g in sorted(set(groups)):
        m = np.array([gg == g for gg in groups])
        want = y[m][0]
        acc = float(((p[m] >= 0.5) == (want == 1)).mean())
        correct[g] = round(acc, 3)
        print(
            f"  {g:24s} n={int(m.sum()):4d}  correct at 0.5: {acc:.3f}  "
            f"median p={np.median(p[m]):.3f}"
        )
    return correct


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vraagbaak-calibration"))
    ap.add_argument("--limit", type=int, default=600, help="XQuAD questions to use (sampled)")
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cache = args.cache / "emb"
    corpus = Vraagbaak(Settings(index_dir=args.cache / "corpus", cache_dir=cache))
    corpus.ingest([ROOT / "corpus"])
    folder = args.cache / "xquad"
    xq_qs, source_of = squad_folder(SHARED / "data/external/xquad-nl/xquad.nl.json", folder)
    xq = Vraagbaak(Settings(index_dir=args.cache / "xquad-index", cache_dir=cache))
    xq.ingest([folder])
    by_article: dict[str, list[str]] = {}
    for s in xq.index.sources:
        by_article.setdefault(s.source.rsplit("_", 1)[0], []).append(s.source)
    random.seed(13)
    sample = random.sample(xq_qs, min(args.limit, len(xq_qs)))

    xs, ys, groups, articles = [], [], [], []

    def add(features: np.ndarray, label: int, group: str, article: str) -> None:
        xs.append(features)
        ys.append(label)
        groups.append(group)
        articles.append(article)

    def other_articles(art: str) -> list[str]:
        return [s for a, ss in by_article.items() if a != art for s in ss]

    for q, _title, src in sample:
        art = src.rsplit("_", 1)[0]
        add(row(xq, q), 1, "xquad+", art)
        add(row(xq, q, other_articles(art)), 0, "xquad-other-articles", art)
        siblings = [s for s in by_article[art] if s != src]
        if siblings:
            add(row(xq, q, siblings), 0, "xquad-same-article", art)
    for q, _t, src in sample[:200]:
        add(row(corpus, q), 0, "xquad-on-corpus", src.rsplit("_", 1)[0])
    for d in read_jsonl(EN_XQUAD):  # English questions over the Dutch paragraphs
        q, art = str(d["question"]), source_of[str(d["id"])].rsplit("_", 1)[0]
        add(row(xq, q), 1, "xquad-en+", art)
        add(row(xq, q, other_articles(art)), 0, "xquad-en-other-articles", art)
        add(row(corpus, q), 0, "xquad-en-on-corpus", art)
    for label, path in (("sample", SHARED / "eval/questions.jsonl"), ("sample-en", EN_SAMPLE)):
        for d in read_jsonl(path):
            q = str(d["question"])
            add(row(corpus, q), int(bool(d["answerable"])),
                label + ("+" if d["answerable"] else "-"), "")
            add(row(xq, q), 0, f"{label}-on-xquad", "")
    x, y = np.array(xs), np.array(ys, dtype=np.float64)
    fold = np.array([hash_fold(a) if a else -1 for a in articles])
    print(f"{len(y)} examples in {time.perf_counter() - t0:.0f} s")

    # Each model is fitted on its XQuAD-derived groups only; the sample questions (Dutch,
    # and our English translations of them) are never fitted on. The XQuAD figures come
    # from two-fold cross-validation over articles (fit on half of the articles, judge the
    # other half), so none is judged by a model that saw its article.
    fitted = {}
    for name, cols, weights in (
        ("dutch", slice(None), DUTCH_WEIGHTS),
        ("cross_lingual", slice(0, N_DENSE), CROSS_WEIGHTS),
    ):
        w = np.array([weights.get(g, 0.0) for g in groups])
        train = w > 0
        coef, intercept = fit_logistic(x[train][:, cols], y[train], weights=w[train])
        p = 1 / (1 + np.exp(-(x[:, cols] @ coef + intercept)))
        for f in (0, 1):
            m = train & (fold == f)
            c_f, i_f = fit_logistic(x[m][:, cols], y[m], weights=w[m])
            held = fold == 1 - f
            p[held] = 1 / (1 + np.exp(-(x[held][:, cols] @ c_f + i_f)))
        print(f"{name} model, fitted on {', '.join(weights)}:")
        fitted[name] = {
            "features": list(FEATURES[cols]),
            "coef": [round(float(c), 6) for c in coef],
            "intercept": round(float(intercept), 6),
            "fitted_on": {
                g: {"examples": int(sum(1 for gg in groups if gg == g)), "weight": wt}
                for g, wt in weights.items()
            },
            "correct_at_threshold": report(p, y, groups),
        }
    model = {
        **fitted["dutch"],
        "threshold": 0.5,
        "cross_lingual": fitted["cross_lingual"],
        "created": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(model, indent=1))
    if args.write:
        OUT.write_text(json.dumps(model, indent=1) + "\n", "utf-8")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
