"""Fit the reader's abstention model on held-out training data (never on an evaluation set).

The held-out articles of ``prepare.py`` (SQuAD, English) become an index, one document per
paragraph (``<title>\\n\\n<paragraph>``). Their questions are asked

- of the whole index (positive: the paragraph with the answer is there);
- of only the other paragraphs of their own article (negative: on topic, answer left out);
- of only the other articles (negative);
- of the bundled Dutch corpus (negative: another subject, another language);
- and SQuAD 2.0's unanswerable questions of the whole index (negative: on topic, the text
  does not say it).

The Dutch Debian FAQ (one document per answer, ``training/data.debian_faq``) adds Dutch
questions of Dutch text, the same groups as vraagbaak's own abstention model
(``bench/calibrate_abstention.py``) has: asked of the whole FAQ (positive), of only its
unrelated sections (negative: on topic) and of the bundled corpus (negative).

The on-topic negatives are weighted down by the same stated rule as in that model (the
largest scale at which the positives are still answered 93% of the time, cross-validated).
With them weighted fully the reader refused about one answerable question in five
(0.807 on held-out SQuAD; on XQuAD-nl, measured only, 166 of 1,190 questions against 44
for the default pipeline).

The FAQ's English questions on the same Dutch answers give the language shift: the mean
difference of the evidence between a Dutch and an English question, added at run time to
the evidence of a question that is not Dutch (``vraagbaak.qa.abstain.reader_confidence``).

The answer is chosen among the candidates the reader read by its logit plus a weight times
the cheap score plus a weight times its passage's gap below the best passage's fused
retrieval score (``vraagbaak.qa.answer.choice_score``). The two weights are the pair (on a
grid) that chooses best on the questions asked of the whole index, averaged over the two
training sets: the sentence holding the answer (held-out SQuAD) and a sentence of the
answering document (the Dutch Debian FAQ, which has no sentence labels; it is where the
choice between documents shows), each over its questions whose answer is among the
candidates read; two-fold cross-validated over articles and chapters, then fitted on all.
The evidence is the reader's logit for the answer so chosen and the dense similarities
(language-neutral; the lexical features of a Dutch analyser mean little on English text).
A class-balanced logistic regression (``bench/calibrate_abstention.fit_logistic``) gives the
probability; vraagbaak abstains below the threshold. Figures are two-fold cross-validated
over articles. ``--write`` stores the model in ``vraagbaak/data/reader/reader.json``.

    python -m training.reader.calibrate [--limit 300] [--write]
        [--features reader_logit,top_passage_dense,...] [--choice W,WP] [--reuse]

``--features`` fits the model on other evidence (the reader's logit and any of
``vraagbaak.qa.abstain.Evidence``), ``--choice`` keeps the choice weights given instead of
fitting them, ``--reuse`` refits from the last run's readings (saved in ``--cache`` per
sentence-vector mode, reading model and ``--limit``) without asking the questions again
(3–4 minutes saved).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vraagbaak import AnswerSettings, Settings, Vraagbaak
from vraagbaak.qa.abstain import FEATURES
from vraagbaak.qa.abstain import evidence as retrieval_evidence
from vraagbaak.qa.answer import candidates, choice_score, read
from vraagbaak.qa.reader import ReaderCard
from vraagbaak.qa.search import rank
from vraagbaak.settings import SENTENCE_VECTORS

from ..data import (
    GROUPS,
    debian_faq,
    heldout_groups,
    missing,
    other_sources,
    related,
    sample_questions,
    sources_by_article,
    write_docs,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from calibrate_abstention import fit_logistic, hash_fold, on_topic_search  # noqa: E402

CARD = ROOT / "vraagbaak" / "data" / "reader" / "reader.json"
WEIGHT_GRID = (0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0)
PASSAGE_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
USE = ("reader_logit", "top_passage_dense", "top_sentence_dense", "answer_dense")
WEIGHTS = {"heldout+": 1.0, "heldout-same-article": 1.0, "heldout-other-articles": 0.5,
           "heldout-on-corpus": 0.5, "heldout-unanswerable": 0.5,
           "faq-nl+": 1.0, "faq-nl-other-sections": 1.0, "faq-nl-on-corpus": 0.5}
POSITIVE = ("heldout+", "faq-nl+")
# The on-topic negatives are the hard cases: weighted fully, the model refuses about one
# answerable question in four. Their weight follows the stated rule of vraagbaak's own
# abstention model (bench/calibrate_abstention.on_topic_search), on training data.
ON_TOPIC = ("heldout-same-article", "heldout-unanswerable", "faq-nl-other-sections")


def _norm(text: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in text).split())


def is_gold(source: str, text: str, gold_source: str, gold: str | None) -> bool:
    """Whether a candidate sentence is the one holding the answer (vraagbaak's splitter may
    cut a sentence differently from SQuAD's, so either may contain the other); with no
    ``gold`` sentence (the FAQ), whether it is a sentence of the answering document."""
    if source != gold_source or not gold_source:
        return False
    if gold is None:
        return True
    a, b = _norm(text), _norm(gold)
    return bool(a) and (a in b or b in a)


# cheap score, logit, evidence, gold, the passage's gap below the best passage's score
Cand = tuple[float, float, dict[str, float], bool, float]
Weights = tuple[float, float]  # of the cheap score and of the passage's gap


def readings(vb: Vraagbaak, q: str, sources: list[str] | None = None,
             gold: tuple[str, str | None] = ("", None)) -> tuple[list[Cand], dict[str, float]]:
    """Every candidate the reader reads for ``q``: its cheap score, the reader's logit,
    the evidence were it the answer, and whether it holds the answer; and the evidence
    when there is no candidate (used only then)."""
    pipe = vb.pipeline()
    ix, cfg = pipe.index, vb.settings.answering
    question = pipe.question(q)
    scores = pipe.scores(question, sources)
    pool = rank(ix, scores, pipe.retrieval(None, question), top_k=cfg.passages)
    cands = candidates(ix, question, pool, scores, cfg)
    reader = vb.reader
    assert reader is not None, "no reading model in vraagbaak/data/reader"
    out = []
    for r in read(reader, ix, question, cands, cfg.read) if cands else []:
        c = r.candidate
        ev = retrieval_evidence(ix, question, scores, c).to_dict()
        ev["reader_logit"] = r.logit
        chunk = ix.chunks[c.chunk_id]
        text = chunk.text[c.start - chunk.start : c.end - chunk.start]
        out.append((c.score, r.logit, ev, is_gold(chunk.source, text, *gold), c.passage_gap))
    none = {} if out else {**retrieval_evidence(ix, question, scores, None).to_dict(),
                           "reader_logit": -10.0}
    return out, none


def chosen(cands: list[Cand], weights: Weights) -> Cand | None:
    """The candidate the pipeline answers with at these weights of the cheap score and
    of the passage's gap."""
    w, wp = weights
    return max(cands, key=lambda c: choice_score(c[1], c[0], w, c[4], wp)) if cands else None


def fit_weights(
    sets: list[list[tuple[list[Cand], str]]],
) -> tuple[Weights, dict[Weights, list[float]]]:
    """The weights that pick the answering candidate most often, averaged over ``sets``
    (each: questions whose answer is among the candidates); ties go to the smaller passage
    weight, then the smaller cheap weight. And every pair's hit rate per set."""
    hits = {(w, wp): [float(np.mean([chosen(c, (w, wp))[3] for c, _ in rows]))  # type: ignore[index]
                      for rows in sets]
            for w in WEIGHT_GRID for wp in PASSAGE_GRID}
    best = max(hits, key=lambda k: (round(float(np.mean(hits[k])), 9), -k[1], -k[0]))
    return best, hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=Path, default=GROUPS)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vraagbaak-reader-calibration"))
    ap.add_argument("--limit", type=int, default=300, help="answerable questions to use")
    ap.add_argument("--sentence-vectors", default="bare", choices=SENTENCE_VECTORS,
                    help="how the indexes embed sentences (default bare: what the shipped "
                    "weights were fitted on)")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--features", default=",".join(USE),
                    help="the evidence the model weighs (reader_logit and names of "
                    "vraagbaak.qa.abstain.Evidence), comma-separated")
    ap.add_argument("--choice", default=None, metavar="W,WP",
                    help="the choice's cheap and passage weights, instead of fitting them")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the readings of the last run (in --cache) instead of asking")
    a = ap.parse_args()
    use = tuple(a.features.split(","))
    unknown = set(use) - {"reader_logit", *FEATURES}
    if unknown:
        print(f"unknown features: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    mode = a.sentence_vectors
    gap = missing() if a.groups == GROUPS else None
    if not a.groups.exists():
        gap = f"{a.groups} is missing: run python -m training.reader.prepare first."
    if gap:
        print(gap, file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    card = ReaderCard.load()
    if card is None:
        print("no reading model in vraagbaak/data/reader", file=sys.stderr)
        return 2
    # the readings belong to this reader, these indexes and this many questions
    saved = a.cache / f"readings-{mode}-{card.model_sha256[:12]}-{a.limit}.pkl"
    if a.reuse and saved.exists():
        asked, english = pickle.loads(saved.read_bytes())
    else:
        asked, english = _ask_all(a, mode, t0)
        saved.write_bytes(pickle.dumps((asked, english)))
    return _fit(a, use, asked, english, t0)


def _ask_all(a: argparse.Namespace, mode: str, t0: float) -> tuple[list[Any], list[Any]]:
    """Every training question asked as the calibration needs it: the candidates read and
    their evidence, per group (and the FAQ's English questions, measured only)."""
    qs = write_docs(heldout_groups(a.groups), a.cache / "docs")
    emb = a.cache / "emb"
    reading = AnswerSettings(reader=True)  # the reader reads; its verdict is the evidence
    vb = Vraagbaak(Settings(index_dir=a.cache / f"index-{mode}", cache_dir=emb,
                            answering=reading, sentence_vectors=mode))
    vb.ingest([a.cache / "docs"])
    corpus = Vraagbaak(Settings(index_dir=a.cache / f"corpus-{mode}", cache_dir=emb,
                                answering=reading, sentence_vectors=mode))
    corpus.ingest([ROOT / "corpus"])
    by_article = sources_by_article(qs)
    pos, neg = sample_questions(qs, a.limit)
    asked: list[tuple[list[Cand], dict[str, float], str, str]] = []  # + group, article

    def ask(v: Vraagbaak, q: str, grp: str, art: str, sources: list[str] | None = None,
            gold: tuple[str, str | None] = ("", None)) -> None:
        asked.append((*readings(v, q, sources, gold), grp, art))

    for i, (q, art, src, gold) in enumerate(pos):
        ask(vb, q, "heldout+", art, None, (src, gold))
        siblings = [s for s in by_article[art] if s != src]
        if siblings:
            ask(vb, q, "heldout-same-article", art, siblings)
        ask(vb, q, "heldout-other-articles", art, other_sources(by_article, art))
        if i % 2 == 0:
            ask(corpus, q, "heldout-on-corpus", art)
        if i % 50 == 0:
            print(f"{i}/{len(pos)} {time.perf_counter() - t0:.0f} s", flush=True)
    for q, art, _src, _ in neg:
        ask(vb, q, "heldout-unanswerable", art)
    faq_qs, faq_sources = debian_faq(a.cache / "faq")
    faq = Vraagbaak(Settings(index_dir=a.cache / f"faq-{mode}", cache_dir=emb,
                             answering=reading, sentence_vectors=mode))
    faq.ingest([a.cache / "faq"])
    english: list[tuple[list[Cand], dict[str, float], str, str]] = []  # measured only
    for num, q_nl, q_en, src in faq_qs:
        chapter = "faq-" + num.split(".")[0]
        others = [s for n, s in faq_sources.items() if not related(n, num)]
        ask(faq, q_nl, "faq-nl+", chapter, None, (src, None))
        english.append((*readings(faq, q_en), "faq-en+", chapter))
        ask(faq, q_nl, "faq-nl-other-sections", chapter, others)
        ask(corpus, q_nl, "faq-nl-on-corpus", chapter)
    return asked, english


def _fit(a: argparse.Namespace, use: tuple[str, ...], asked: list[Any], english: list[Any],
         t0: float) -> int:
    """The choice weights and the abstention model, from the readings."""

    # the weights of the choice, on the questions asked of the whole index whose answer is
    # among the candidates read: held-out SQuAD (the sentence), the FAQ (the document)
    sets = []
    for g in POSITIVE:
        answerable = [(c, art) for c, _, grp_, art in asked if grp_ == g]
        sets.append([(c, art) for c, art in answerable if any(x[3] for x in c)])
        print(f"{g}: the answer among the candidates read for {len(sets[-1])}/{len(answerable)}")
    weight, by_weight = fit_weights(sets)
    if a.choice:
        w_, wp_ = (float(v) for v in a.choice.split(","))
        weight = (w_, wp_)
    print("choice hit rate (held-out SQuAD / FAQ) by cheap weight (rows) and passage weight:")
    print("       " + " ".join(f"{wp:>11}" for wp in PASSAGE_GRID))
    for w_ in WEIGHT_GRID:
        print(f"{w_:6.1f} " + " ".join(
            "{:.3f}/{:.3f}".format(*by_weight[(w_, wp)]) for wp in PASSAGE_GRID))
    cv_hits: list[list[bool]] = [[] for _ in sets]
    for f in (0, 1):
        w_f, _ = fit_weights([[x for x in rows_ if hash_fold(x[1]) == f] for rows_ in sets])
        for k, rows_ in enumerate(sets):
            cv_hits[k] += [chosen(c, w_f)[3] for c, art in rows_  # type: ignore[index]
                           if hash_fold(art) == 1 - f]
        print(f"  fold {f}: weights {w_f}")
    print(f"chosen weights (cheap, passage) {weight}; 2-fold CV hit rate "
          f"{np.mean(cv_hits[0]):.3f} / {np.mean(cv_hits[1]):.3f} (reader alone "
          "{:.3f} / {:.3f}; cheap only, before: {:.3f} / {:.3f})".format(
              *by_weight[(0.0, 0.0)], *by_weight[(weight[0], 0.0)]))
    rows: list[tuple[dict[str, float], int, str, str]] = []
    for cands, empty, group, art in asked:
        best = chosen(cands, weight)
        rows.append((best[2] if best is not None else empty, int(group in POSITIVE), group, art))
    x = np.array([[r[0][n] for n in use] for r in rows])
    y = np.array([r[1] for r in rows], dtype=np.float64)
    grp = np.array([r[2] for r in rows])
    fold = np.array([hash_fold(r[3]) for r in rows])
    scale, weights, p = on_topic_search(
        x, y, grp, fold, WEIGHTS, positive=POSITIVE, on_topic=ON_TOPIC, label="reader"
    )
    w = np.array([weights[g] for g in grp])
    coef, intercept = fit_logistic(x[w > 0], y[w > 0], weights=w[w > 0])
    correct = {}
    for g in WEIGHTS:
        m = grp == g
        if m.any():
            acc = float(((p[m] >= 0.5) == (y[m] == 1)).mean())
            correct[g] = round(acc, 3)
            print(f"  {g:26s} n={int(m.sum()):4d} correct at 0.5 (2-fold CV): {acc:.3f}")
    # The language shift: the same FAQ questions in Dutch and in English, asked of the
    # same Dutch answers; the mean difference of the evidence (Dutch - English) is added
    # to a non-Dutch question's evidence before the model (vraagbaak.qa.abstain).
    nl = [chosen(c, weight) for c, _, g, _ in asked if g == "faq-nl+"]
    en = [chosen(c, weight) for c, _, _, _ in english]
    pairs = [(b_nl[2], b_en[2]) for b_nl, b_en in zip(nl, en, strict=True) if b_nl and b_en]
    shift = np.mean([[d_nl[n] - d_en[n] for n in use] for d_nl, d_en in pairs], axis=0)
    print(f"language shift (Debian FAQ, nl - en, {len(pairs)} questions): "
          f"{dict(zip(use, shift.round(4), strict=True))}")
    z_en = np.array([[d_en[n] for n in use] for _, d_en in pairs])
    for label, xs in (("as they are", z_en), ("shifted", z_en + shift)):
        answered = float((1 / (1 + np.exp(-(xs @ coef + intercept))) >= 0.5).mean())
        print(f"  English FAQ questions on the Dutch FAQ, answered ({label}): {answered:.3f}")
    cal = {"features": list(use), "coef": [round(float(c), 6) for c in coef],
           "language_shift": [round(float(v), 5) for v in shift],
           "cheap_weight": weight[0], "passage_weight": weight[1],
           "choice_hits": {f"{w_}/{wp}": [round(v, 4) for v in by_weight[(w_, wp)]]
                           for w_, wp in by_weight if wp in (0.0, weight[1])},
           "intercept": round(float(intercept), 6), "threshold": 0.5,
           "fitted_on": {g: int((grp == g).sum()) for g in WEIGHTS},
           "on_topic_scale": scale, "weights": weights, "correct_at_threshold_cv": correct,
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
