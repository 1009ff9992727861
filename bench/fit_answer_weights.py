"""Fit the cheap answer score's weights on held-out training data (never on an evaluation set).

Without the reader, vraagbaak's answer is the candidate sentence (from the top passages)
with the best ``w_dense * similarity + w_lexical * shared-word coverage - w_rank *
log(passage rank) - w_kind * (lacks the number or date asked for)``
(:func:`vraagbaak.qa.answer.candidates`). ``w_dense`` is 1; this script chooses
``w_lexical``, ``w_rank`` and ``w_kind`` on a grid as the ones that answer best on two
training sets, weighted alike (the mean of their hit rates):

- the questions of the SQuAD articles that ``training/reader/prepare.py`` holds out (English,
  asked of an index of those articles' paragraphs, as ``training/reader/calibrate.py``
  builds it): the answer must be the sentence holding the gold answer;
- the Dutch Debian FAQ's questions (``training.data.debian_faq``), asked of
  an index of its answers: the answer must come from the question's own answer text
  (Dutch text through the Dutch analysis, and documents of several passages).

Only questions whose right answer is a candidate at all count. Two-fold cross-validation
over articles and FAQ chapters says how well the choice generalises; the sample
questions and XQuAD-nl are never read here.

    python -m training.reader.prepare   # once: the held-out split
    python bench/fit_answer_weights.py [--cache DIR]

It prints the fitted weights; put them in ``AnswerSettings`` (``vraagbaak/settings.py``) and
refit what depends on the cheap score: ``bench/calibrate_abstention.py --write`` and
``python -m training.reader.calibrate --write``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibrate_abstention import hash_fold  # noqa: E402

from training.data import debian_faq, heldout_groups, missing, write_docs  # noqa: E402
from training.reader.calibrate import is_gold  # noqa: E402
from vraagbaak import Settings, Vraagbaak  # noqa: E402
from vraagbaak.qa.answer import candidates  # noqa: E402
from vraagbaak.qa.search import rank  # noqa: E402
from vraagbaak.settings import SENTENCE_VECTORS  # noqa: E402

LEXICAL = tuple(round(0.02 * i, 2) for i in range(26))  # 0 .. 0.5
RANK = tuple(round(0.01 * i, 2) for i in range(21))  # 0 .. 0.2
KIND = tuple(round(0.05 * i, 2) for i in range(7))  # 0 .. 0.3

# dense, lexical, log rank, kind mismatch, gold
Row = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Weights = tuple[float, float, float]  # w_lexical, w_rank, w_kind


def hit_rate(rows: list[Row], w: Weights) -> float:
    """The share of ``rows`` whose best candidate at weights ``w`` holds the answer."""
    w_lex, w_rank, w_kind = w
    return float(np.mean([g[np.argmax(d + w_lex * lx - w_rank * lr - w_kind * k)]
                          for d, lx, lr, k, g in rows]))


def mean_rate(sets: list[list[Row]], w: Weights) -> float:
    return float(np.mean([hit_rate(rows, w) for rows in sets if rows]))


def best(sets: list[list[Row]]) -> tuple[Weights, float]:
    """The grid's best weights on the mean hit rate of ``sets``, and that rate; ties go
    to the smaller weights."""
    scored = [(mean_rate(sets, (a, b, c)), -a, -b, -c)
              for a in LEXICAL for b in RANK for c in KIND]
    h, a, b, c = max(scored)
    return (-a, -b, -c), h


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vraagbaak-reader-calibration"))
    ap.add_argument("--sentence-vectors", default="bare", choices=SENTENCE_VECTORS,
                    help="how the indexes embed sentences (default bare: what the shipped "
                    "weights were fitted on)")
    a = ap.parse_args()
    problem = missing()
    if problem:
        print(problem)
        return 1

    t0 = time.perf_counter()
    qs = [x for x in write_docs(heldout_groups(), a.cache / "docs") if x[3] is not None]
    mode = a.sentence_vectors
    settings = Settings(sentence_vectors=mode)
    emb = a.cache / "emb"
    vb = Vraagbaak(settings.with_(index_dir=a.cache / f"index-{mode}", cache_dir=emb))
    vb.ingest([a.cache / "docs"])
    faq_qs, _ = debian_faq(a.cache / "faq")
    faq = Vraagbaak(settings.with_(index_dir=a.cache / f"faq-{mode}", cache_dir=emb))
    faq.ingest([a.cache / "faq"])

    def collect(v: Vraagbaak, asked: list[tuple[str, str, str, str | None]]) -> tuple[
        list[Row], list[str]]:
        pipe = v.pipeline()
        cfg = settings.answering
        rows: list[Row] = []
        arts: list[str] = []
        for q, art, src, gold in asked:
            question = pipe.question(q)
            scores = pipe.scores(question, None)
            pool = rank(pipe.index, scores, pipe.retrieval(None, question), top_k=cfg.passages)
            cands = candidates(pipe.index, question, pool, scores, cfg)
            flags = []
            for c in cands:
                chunk = pipe.index.chunks[c.chunk_id]
                text = chunk.text[c.start - chunk.start : c.end - chunk.start]
                flags.append(is_gold(chunk.source, text, src, gold) if gold is not None
                             else chunk.source == src)
            if any(flags):
                rows.append((
                    np.array([c.dense for c in cands]),
                    np.array([c.lexical for c in cands]),
                    np.array([math.log(c.passage_rank) for c in cands]),
                    np.array([c.kind_miss for c in cands]),
                    np.array(flags, dtype=np.float64),
                ))
                arts.append(art)
        print(f"  {len(asked)} questions, the answer among the candidates for {len(rows)}")
        return rows, arts

    sq_rows, sq_arts = collect(vb, qs)
    faq_rows, faq_arts = collect(
        faq, [(q, "faq-" + num.split(".")[0], src, None) for num, q, _en, src in faq_qs]
    )
    print(f"{time.perf_counter() - t0:.0f} s")
    cfg = settings.answering
    sets = [sq_rows, faq_rows]
    current = (cfg.w_lexical, cfg.w_rank, cfg.w_kind)
    for name, w in (("similarity alone", (0.0, 0.0, 0.0)),
                    (f"current weights {current}", current),
                    ("current without the kind", (cfg.w_lexical, cfg.w_rank, 0.0))):
        print(f"{name}: SQuAD {hit_rate(sq_rows, w):.3f}, FAQ {hit_rate(faq_rows, w):.3f}")
    fitted, h = best(sets)
    cv: list[tuple[int, float]] = []
    for f in (0, 1):
        train = [[r for r, art in zip(rows, arts, strict=True) if hash_fold(art) == f]
                 for rows, arts in ((sq_rows, sq_arts), (faq_rows, faq_arts))]
        test = [[r for r, art in zip(rows, arts, strict=True) if hash_fold(art) != f]
                for rows, arts in ((sq_rows, sq_arts), (faq_rows, faq_arts))]
        w, _ = best(train)
        cv.append((len(test[0]) + len(test[1]), mean_rate(test, w)))
        print(f"  fold {f}: fitted {w}, on the other fold {cv[-1][1]:.3f}")
    cv_rate = sum(n * r for n, r in cv) / sum(n for n, _ in cv)
    print(f"fitted: w_lexical={fitted[0]}, w_rank={fitted[1]}, w_kind={fitted[2]}: mean "
          f"{h:.3f} (SQuAD {hit_rate(sq_rows, fitted):.3f}, FAQ "
          f"{hit_rate(faq_rows, fitted):.3f}; 2-fold CV {cv_rate:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
