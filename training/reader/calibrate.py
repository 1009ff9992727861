"""Fit the reader's abstention model on held-out training data (never on an evaluation set).

The held-out articles of ``prepare.py`` (SQuAD, English) become an index, one document per
paragraph (``<title>\\n\\n<paragraph>``). Their questions are asked

- of the whole index (positive: the paragraph with the answer is there);
- of only the other paragraphs of their own article (negative: on topic, answer left out);
- of only the other articles (negative);
- of the bundled Dutch corpus (negative: another subject, another language);
- and SQuAD 2.0's unanswerable questions of the whole index (negative: on topic, the text
  does not say it).

The evidence is the reader's logit for the answer it picked and the dense similarities
(language-neutral; the lexical features of a Dutch analyser mean little on English text).
A class-balanced logistic regression (``bench/calibrate_abstention.fit_logistic``) gives the
probability; vraagbaak abstains below the threshold. Figures are two-fold cross-validated
over articles. ``--write`` stores the model in ``vraagbaak/data/reader/reader.json``.

    python -m training.reader.calibrate [--limit 300] [--write]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from vraagbaak import AnswerSettings, Settings, Vraagbaak
from vraagbaak.qa.abstain import evidence as retrieval_evidence
from vraagbaak.qa.answer import candidates, read
from vraagbaak.qa.search import rank

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from calibrate_abstention import fit_logistic, hash_fold  # noqa: E402

CARD = ROOT / "vraagbaak" / "data" / "reader" / "reader.json"
USE = ("reader_logit", "top_passage_dense", "top_sentence_dense", "answer_dense")
WEIGHTS = {"heldout+": 1.0, "heldout-same-article": 1.0, "heldout-other-articles": 0.5,
           "heldout-on-corpus": 0.5, "heldout-unanswerable": 0.5}


def write_docs(groups: list[dict], dest: Path) -> list[tuple[str, str, str, bool]]:
    """One document per held-out SQuAD paragraph; (question, article, source, answerable)."""
    dest.mkdir(parents=True, exist_ok=True)
    paras: dict[tuple[str, str], str] = {}
    out = []
    for g in groups:
        text = " ".join(g["sents"])
        key = (g["article"], text)
        if key not in paras:
            art = g["article"].split("/", 1)[1]
            name = f"{''.join(c if c.isalnum() else '_' for c in art)}_{len(paras):04d}.txt"
            (dest / name).write_text(f"{art.replace('_', ' ')}\n\n{text}", "utf-8")
            paras[key] = f"{dest.name}/{name}"
        out.append((g["q"], g["article"], paras[key], any(g["labels"])))
    return out


def evidence(vb: Vraagbaak, q: str, sources: list[str] | None = None) -> dict[str, float]:
    """The evidence of the pipeline's steps for ``q``, with the reader's logit."""
    pipe = vb.pipeline()
    ix, cfg = pipe.index, vb.settings.answering
    question = pipe.question(q)
    scores = pipe.scores(question, sources)
    pool = rank(ix, scores, pipe.retrieval(), top_k=cfg.passages)
    cands = candidates(ix, question, pool, scores, cfg)
    reader = vb.reader
    assert reader is not None, "no reading model in vraagbaak/data/reader"
    readings = read(reader, ix, question, cands, cfg.read) if cands else []
    best = readings[0].candidate if readings else None
    ev = retrieval_evidence(ix, question, scores, best).to_dict()
    ev["reader_logit"] = readings[0].logit if readings else -10.0
    return ev


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=Path, default=ROOT / "training/out/groups.jsonl")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vraagbaak-reader-calibration"))
    ap.add_argument("--limit", type=int, default=300, help="answerable questions to use")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    groups = [json.loads(line) for line in a.groups.open(encoding="utf-8")]
    held = [g for g in groups if g["split"] == "heldout" and g["set"].startswith("squad")]
    qs = write_docs(held, a.cache / "docs")
    emb = a.cache / "emb"
    reading = AnswerSettings(reader=True)  # the reader reads; its verdict is the evidence
    vb = Vraagbaak(Settings(index_dir=a.cache / "index", cache_dir=emb, answering=reading))
    vb.ingest([a.cache / "docs"])
    corpus = Vraagbaak(Settings(index_dir=a.cache / "corpus", cache_dir=emb, answering=reading))
    corpus.ingest([ROOT / "corpus"])
    by_article: dict[str, list[str]] = {}
    for _q, art, src, _ in qs:
        by_article.setdefault(art, [])
        if src not in by_article[art]:
            by_article[art].append(src)
    rng = random.Random(13)
    pos = rng.sample([x for x in qs if x[3]], min(a.limit, sum(x[3] for x in qs)))
    neg = rng.sample([x for x in qs if not x[3]], min(a.limit // 2, sum(not x[3] for x in qs)))
    rows: list[tuple[dict[str, float], int, str, str]] = []
    for i, (q, art, src, _) in enumerate(pos):
        rows.append((evidence(vb, q), 1, "heldout+", art))
        siblings = [s for s in by_article[art] if s != src]
        if siblings:
            rows.append((evidence(vb, q, siblings), 0, "heldout-same-article", art))
        others = [s for a2, ss in by_article.items() if a2 != art for s in ss]
        rows.append((evidence(vb, q, others), 0, "heldout-other-articles", art))
        if i % 2 == 0:
            rows.append((evidence(corpus, q), 0, "heldout-on-corpus", art))
        if i % 50 == 0:
            print(f"{i}/{len(pos)} {time.perf_counter() - t0:.0f} s", flush=True)
    for q, art, _src, _ in neg:
        rows.append((evidence(vb, q), 0, "heldout-unanswerable", art))
    x = np.array([[r[0][n] for n in USE] for r in rows])
    y = np.array([r[1] for r in rows], dtype=np.float64)
    grp = [r[2] for r in rows]
    fold = np.array([hash_fold(r[3]) for r in rows])
    w = np.array([WEIGHTS[g] for g in grp])
    coef, intercept = fit_logistic(x, y, weights=w)
    p = np.zeros(len(y))
    for f in (0, 1):
        c_f, i_f = fit_logistic(x[fold == f], y[fold == f], weights=w[fold == f])
        held_m = fold == 1 - f
        p[held_m] = 1 / (1 + np.exp(-(x[held_m] @ c_f + i_f)))
    correct = {}
    for g in WEIGHTS:
        m = np.array([gg == g for gg in grp])
        if m.any():
            acc = float(((p[m] >= 0.5) == (y[m] == 1)).mean())
            correct[g] = round(acc, 3)
            print(f"  {g:26s} n={int(m.sum()):4d} correct at 0.5 (2-fold CV): {acc:.3f}")
    cal = {"features": list(USE), "coef": [round(float(c), 6) for c in coef],
           "intercept": round(float(intercept), 6), "threshold": 0.5,
           "fitted_on": {g: int(sum(1 for gg in grp if gg == g)) for g in WEIGHTS},
           "weights": WEIGHTS, "correct_at_threshold_cv": correct,
           "created": time.strftime("%Y-%m-%d")}
    print(json.dumps(cal, indent=1))
    print(f"{len(rows)} examples in {time.perf_counter() - t0:.0f} s")
    if a.write:
        card = json.loads(CARD.read_text("utf-8"))
        card["calibration"] = cal
        CARD.write_text(json.dumps(card, indent=1) + "\n", "utf-8")
        print(f"wrote the calibration into {CARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
