"""Fit the abstention models: when do the sources answer a question?

Both models are fitted on held-out *training* data only, never on an evaluation set: the
SQuAD articles that ``training/reader/prepare.py`` holds out (English Wikipedia paragraphs,
one document each, ``<title>\\n\\n<paragraph>``; the reader never trains on them). Their
questions are asked

- of the whole index (positive: the paragraph with the answer is there);
- of only the other articles (negative: another subject);
- of the bundled Dutch corpus (negative: another subject, another language);
- of only the other paragraphs of their own article (negative, the hard case: on topic,
  but the paragraph with the answer is out);
- and SQuAD 2.0's unanswerable questions of the whole index (negative: on topic, the text
  does not say it).

The same-language model (all features) judges a question in the language of its sources;
it is fitted on the English questions over the English paragraphs, and its transfer to
Dutch is what the evaluation sets measure. The cross-lingual model (dense features and names)
judges a question in another language than the sources; its negatives include the English
questions over the Dutch corpus.

A logistic regression (class-balanced, fitted by Newton's method) over the evidence that
:func:`vraagbaak.qa.abstain.evidence` extracts gives a probability; vraagbaak abstains
below 0.5. Figures on the training data are two-fold cross-validated over articles.

Reported only, never fitted on: the development sets (``bench/data/reports-dev.jsonl``,
``bench/data/gov-dev/``, and their English translations; groups ``dev:…`` and
``en:dev:…``), XQuAD-nl (its questions on their own paragraph, on other
articles, on the other paragraphs of their article, on the bundled corpus), our English
translations of 96 XQuAD-nl questions (``bench/data/xquad-en.jsonl``), the sample questions
(``../shared/eval/questions.jsonl``) and our English translations of them
(``bench/data/sample-en.jsonl``). Those sets are skipped when they are not beside the
checkout.

Usage:
    python -m training.reader.prepare   # once: the held-out split (training/out/groups.jsonl)
    python bench/calibrate_abstention.py [--cache DIR] [--limit N] [--write]
                                         [--only same_language|cross_lingual]
                                         [--real-negatives]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vraagbaak import Settings, Vraagbaak
from vraagbaak.qa.abstain import FEATURES, evidence
from vraagbaak.qa.answer import candidates
from vraagbaak.qa.search import rank
from vraagbaak.settings import SENTENCE_VECTORS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
from training.data import (  # noqa: E402
    debian_faq,
    heldout_groups,
    missing,
    other_sources,
    related,
    sample_questions,
    sources_by_article,
    write_docs,
)

OUT = ROOT / "vraagbaak" / "data" / "abstention.json"


# Weights per group. The on-topic negatives (the other paragraphs of the question's own
# article, SQuAD 2.0's unanswerable questions) are the hard cases: weighted fully, the
# model abstains on many answerable questions too. Their weight is scaled by the largest
# factor of ON_TOPIC_SCALES at which the questions asked of their own paragraph are still
# answered ANSWERED of the time (two-fold cross-validated on the training groups), so the
# trade-off is set on training data by a stated rule, never on an evaluation set.
SAME_LANGUAGE_WEIGHTS = {
    "heldout+": 1.0,
    "heldout-other-articles": 0.5,
    "heldout-on-corpus": 0.5,
    "heldout-same-article": 1.0,
    "heldout-unanswerable": 0.5,
    "faq-nl+": 1.0,
    "faq-nl-on-corpus": 0.5,
    "faq-nl-other-sections": 1.0,
}
# The cross-lingual model weighs the dense evidence of the same questions; its language
# shift (an English question's similarities to Dutch text run lower than a Dutch one's) is
# measured on the Debian FAQ, whose Dutch and English editions ask the same questions of
# the same answers: the mean difference between the Dutch and the English question's
# dense evidence is added to the features before the model (folded into its intercept).
CROSS_WEIGHTS = SAME_LANGUAGE_WEIGHTS
PAIRED = (
    ("faq-nl+", "faq-en+"),
    ("faq-nl-other-sections", "faq-en-other-sections"),
    ("faq-nl-on-corpus", "faq-en-on-corpus"),
)
POSITIVE = {"same_language": ("heldout+", "faq-nl+"), "cross_lingual": ("heldout+", "faq-nl+")}
ON_TOPIC = (
    "heldout-same-article",
    "heldout-unanswerable",
    "faq-nl-other-sections",
    "faq-en-other-sections",
)
ON_TOPIC_SCALES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05, 0.02, 0.0)
ANSWERED = 0.93
REAL_NEGATIVES = False  # set by --real-negatives
N_DENSE = 3  # the first features are the dense ones (see vraagbaak.qa.abstain.Evidence)
NAMES = "answer_passage_names_missing"
# The same-language model weighs all the evidence but the names (its rarest-missing terms
# cover them); the cross-lingual one the dense evidence and the names, which are written
# alike in both languages, where the other shared words are not.
SAME_LANGUAGE_FEATURES = tuple(f for f in FEATURES if f != NAMES)
CROSS_FEATURES = (*FEATURES[:N_DENSE], NAMES)
EN_XQUAD = ROOT / "bench" / "data" / "xquad-en.jsonl"
EN_SAMPLE = ROOT / "bench" / "data" / "sample-en.jsonl"
XQUAD = SHARED / "data/external/xquad-nl/xquad.nl.json"
DEV_REPORTS = ROOT / "bench" / "data" / "reports-dev.jsonl"
DEV_REPORTS_EN = ROOT / "bench" / "data" / "reports-dev-en.jsonl"
DEV_GOV = ROOT / "bench" / "data" / "gov-dev" / "questions.jsonl"
DEV_GOV_EN = ROOT / "bench" / "data" / "gov-dev" / "questions-en.jsonl"
DEV_GOV_PAGES = ROOT / "bench" / "data" / "gov-dev" / "pages"
SAMPLE = SHARED / "eval/questions.jsonl"


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def squad_folder(path: Path, dest: Path) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Write each paragraph of a SQuAD-format file as a document; return (question,
    article, source) triples and each question id's source."""
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


def row(
    vb: Vraagbaak,
    question: str,
    sources: list[str] | None = None,
    without: set[str] | None = None,
) -> np.ndarray:
    """The abstention evidence for ``question``, as :class:`Pipeline` computes it.

    ``without``: sources the question is asked as if the index did not hold them (with
    ``--real-negatives``): its words' document frequencies leave their passages out, as in
    an index built without them (a question whose page is missing from a collection often
    has a word no passage holds; filtering the page out of the same index hides that).
    """
    pipe = vb.pipeline()
    q = pipe.question(question)
    if without and REAL_NEGATIVES:
        q = without_sources(pipe.index, q, without)
    scores = pipe.scores(q, sources)
    cfg = vb.settings.answering
    pool = rank(pipe.index, scores, pipe.retrieval(None, q), top_k=cfg.passages)
    cands = candidates(pipe.index, q, pool, scores, cfg)
    return evidence(pipe.index, q, scores, cands[0] if cands else None).values(list(FEATURES))


def without_sources(index: Any, q: Any, sources: set[str]) -> Any:
    """``q`` with the IDF of an index that lacks the passages of ``sources``."""
    from collections import Counter

    from vraagbaak.index.store import passage_input
    from vraagbaak.qa.question import idf_of

    gone = [c for c in index.chunks if c.source in sources]
    counts: Counter[str] = Counter()
    for c in gone:
        counts.update(set(index.analyzer.terms(passage_input(c))))
    n = max(1, len(index) - len(gone))
    df = index.document_frequencies(q.terms)
    idf = {t: idf_of(df[t] - counts[t], n) for t in q.terms}
    return dataclasses.replace(q, idf=idf, passages=n)


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


def on_topic_search(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    fold: np.ndarray,
    weights: dict[str, float],
    *,
    positive: tuple[str, ...],
    on_topic: tuple[str, ...] = ON_TOPIC,
    train_rows: np.ndarray | None = None,
    cols: list[int] | slice = slice(None),
    label: str = "",
) -> tuple[float, dict[str, float], np.ndarray]:
    """The stated rule for the on-topic negatives' weight: the largest factor of
    ON_TOPIC_SCALES at which the ``positive`` groups are still answered ANSWERED of the time,
    two-fold cross-validated over ``fold`` on ``train_rows`` (default: every row). Prints
    answered / on-topic abstained per factor. Returns the factor, the group weights scaled
    by it (groups not in ``weights`` weigh 0) and each training row's cross-validated
    probability at it (0 elsewhere)."""
    if train_rows is None:
        train_rows = np.ones(len(y), dtype=bool)

    def scaled(scale: float) -> dict[str, float]:
        return {g: wt * (scale if g in on_topic else 1.0) for g, wt in weights.items()}

    pos_rows, on_rows = np.isin(groups, positive), np.isin(groups, on_topic)
    print(f"{label} model: on-topic weight scale -> answered / on-topic abstained (CV)")
    cv: dict[float, np.ndarray] = {}
    for scale in ON_TOPIC_SCALES:
        by_group = scaled(scale)
        w = np.array([by_group.get(g, 0.0) for g in groups])
        train = train_rows & (w > 0)
        cv[scale] = np.zeros(len(y))
        for f in (0, 1):  # training groups: judged by the model fitted on the other fold
            t_f = train & (fold == f)
            c_f, i_f = fit_logistic(x[t_f][:, cols], y[t_f], weights=w[t_f])
            h = train_rows & (fold == 1 - f)
            cv[scale][h] = 1 / (1 + np.exp(-(x[h][:, cols] @ c_f + i_f)))
        print(
            f"  {scale:5.2f}: {(cv[scale][pos_rows] >= 0.5).mean():.3f} / "
            f"{(cv[scale][on_rows] < 0.5).mean():.3f}"
        )
    scale = next(
        (sc for sc in ON_TOPIC_SCALES if (cv[sc][pos_rows] >= 0.5).mean() >= ANSWERED),
        ON_TOPIC_SCALES[-1],
    )
    return scale, scaled(scale), cv[scale]


def probabilities(model: dict[str, object], x: np.ndarray) -> np.ndarray:
    coef = np.asarray(model["coef"], dtype=np.float64)
    cols = [FEATURES.index(str(n)) for n in model["features"]]  # type: ignore[attr-defined]
    return np.asarray(1 / (1 + np.exp(-(x[:, cols] @ coef + float(model["intercept"])))))  # type: ignore[arg-type]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/vraagbaak-reader-calibration"),
        help="where the held-out documents, indexes and embeddings are kept "
        "(shared with training.reader.calibrate)",
    )
    ap.add_argument("--limit", type=int, default=300, help="answerable questions to use")
    ap.add_argument(
        "--sentence-vectors",
        default="bare",
        choices=SENTENCE_VECTORS,
        help="how the indexes embed sentences (default bare: the shipped model was fitted "
        "on sentences read alone, which the reader's candidates are compared as with "
        "every mode; refitted on upper it measured worse, README)",
    )
    ap.add_argument("--write", action="store_true", help=f"write {OUT.relative_to(ROOT)}")
    ap.add_argument(
        "--real-negatives",
        action="store_true",
        help="ask the negatives as if the index lacked the answering document (its words' "
        "document frequencies without its passages), not only filtered out of the search",
    )
    ap.add_argument(
        "--only",
        choices=("same_language", "cross_lingual"),
        default=None,
        help="write only this model; the other stays as it is in the file",
    )
    args = ap.parse_args()
    global REAL_NEGATIVES
    REAL_NEGATIVES = args.real_negatives
    mode = args.sentence_vectors
    problem = missing()
    if problem:
        print(problem)
        return 1

    t0 = time.perf_counter()
    cache = args.cache / "emb"

    def indexed(name: str, folder: Path) -> Vraagbaak:
        v = Vraagbaak(
            Settings(
                index_dir=args.cache / f"{name}-{mode}", cache_dir=cache, sentence_vectors=mode
            )
        )
        v.ingest([folder])
        return v

    qs = write_docs(heldout_groups(), args.cache / "docs")
    vb = indexed("index", args.cache / "docs")
    corpus = indexed("corpus", ROOT / "corpus")
    by_article = sources_by_article(qs)
    pos, neg = sample_questions(qs, args.limit)

    xs, ys, groups, articles = [], [], [], []

    def add(features: np.ndarray, label: int, group: str, article: str) -> None:
        xs.append(features)
        ys.append(label)
        groups.append(group)
        articles.append(article)

    for i, (q, art, src, _gold) in enumerate(pos):
        add(row(vb, q), 1, "heldout+", art)
        siblings = [s for s in by_article[art] if s != src]
        if siblings:
            add(row(vb, q, siblings, {src}), 0, "heldout-same-article", art)
        add(row(vb, q, other_sources(by_article, art), set(by_article[art])), 0,
            "heldout-other-articles", art)
        if i % 2 == 0:
            add(row(corpus, q), 0, "heldout-on-corpus", art)
    for q, art, _src, _ in neg:
        add(row(vb, q), 0, "heldout-unanswerable", art)
    faq_qs, faq_sources = debian_faq(args.cache / "faq")
    faq = indexed("faq", args.cache / "faq")
    for num, q_nl, q_en, _src in faq_qs:
        chapter = "faq-" + num.split(".")[0]
        others = [s for n, s in faq_sources.items() if not related(n, num)]
        for lang, q in (("nl", q_nl), ("en", q_en)):
            add(row(faq, q), 1, f"faq-{lang}+", chapter)
            gone = {s for n, s in faq_sources.items() if related(n, num)}
            add(row(faq, q, others, gone), 0, f"faq-{lang}-other-sections", chapter)
            add(row(corpus, q), 0, f"faq-{lang}-on-corpus", chapter)
    n_train = len(ys)
    print(f"{n_train} training examples in {time.perf_counter() - t0:.0f} s", flush=True)

    # Reported only: the evaluation sets, when they are beside the checkout.
    if XQUAD.exists():
        folder = args.cache / "xquad"
        xq_qs, source_of = squad_folder(XQUAD, folder)
        xq = indexed("xquad", folder)
        xq_articles: dict[str, list[str]] = {}
        for s in xq.index.sources:
            xq_articles.setdefault(s.source.rsplit("_", 1)[0], []).append(s.source)
        random.seed(13)
        for j, (q, _title, src) in enumerate(random.sample(xq_qs, min(300, len(xq_qs)))):
            art = src.rsplit("_", 1)[0]
            add(row(xq, q), 1, "xquad+", "")
            add(row(xq, q, other_sources(xq_articles, art), set(xq_articles[art])), 0,
                "xquad-other-articles", "")
            siblings = [s for s in xq_articles[art] if s != src]
            if siblings:
                add(row(xq, q, siblings, {src}), 0, "xquad-same-article", "")
            if j % 3 == 0:
                add(row(corpus, q), 0, "xquad-on-corpus", "")
        for d in read_jsonl(EN_XQUAD):  # English questions over the Dutch paragraphs
            q, src = str(d["question"]), source_of[str(d["id"])]
            art = src.rsplit("_", 1)[0]
            add(row(xq, q), 1, "en:xquad+", "")
            add(row(xq, q, other_sources(xq_articles, art)), 0, "en:xquad-other-articles", "")
            add(row(corpus, q), 0, "en:xquad-on-corpus", "")
    if SAMPLE.exists():
        for label, path in (("sample", SAMPLE), ("en:sample", EN_SAMPLE)):
            for d in read_jsonl(path):
                q = str(d["question"])
                add(
                    row(corpus, q),
                    int(bool(d["answerable"])),
                    label + ("+" if d["answerable"] else "-"),
                    "",
                )
    # Reported only: the development sets written for the project (bench/data/README.md),
    # Dutch and their English translations, over the bundled reports and the
    # government-style pages.
    gov = indexed("gov-dev", DEV_GOV_PAGES)
    for label, v, path in (("dev:reports", corpus, DEV_REPORTS), ("dev:gov", gov, DEV_GOV),
                           ("en:dev:reports", corpus, DEV_REPORTS_EN),
                           ("en:dev:gov", gov, DEV_GOV_EN)):
        for d in read_jsonl(path):
            ok = bool(d["answerable"])
            add(row(v, str(d["question"])), int(ok), label + ("+" if ok else "-"), "")
    x, y = np.array(xs), np.array(ys, dtype=np.float64)
    fold = np.array([hash_fold(a) if a else -1 for a in articles])
    train_rows = np.arange(len(y)) < n_train
    print(f"{len(y)} examples in {time.perf_counter() - t0:.0f} s")
    np.savez(args.cache / f"rows-{mode}.npz", x=x, y=y, groups=np.array(groups), fold=fold)

    fitted = {}
    for name, names, weights in (
        ("same_language", SAME_LANGUAGE_FEATURES, SAME_LANGUAGE_WEIGHTS),
        ("cross_lingual", CROSS_FEATURES, CROSS_WEIGHTS),
    ):
        cols = [FEATURES.index(f) for f in names]
        scale, weights, cv_p = on_topic_search(
            x, y, np.array(groups), fold, weights, positive=POSITIVE[name],
            train_rows=train_rows, cols=cols, label=name,
        )
        w = np.array([weights.get(g, 0.0) for g in groups])
        train = train_rows & (w > 0)
        coef, intercept = fit_logistic(x[train][:, cols], y[train], weights=w[train])
        m = {
            "features": list(names),
            "coef": [round(float(c), 6) for c in coef],
            "intercept": round(float(intercept), 6),
            "on_topic_scale": scale,
        }
        p = probabilities(m, x)
        p[train_rows] = cv_p[train_rows]
        english = np.array([g.startswith(("en:", "faq-en")) for g in groups])
        if name == "cross_lingual":
            shift = np.mean(
                [
                    x[np.array(groups) == nl_g][:, cols] - x[np.array(groups) == en_g][:, cols]
                    for nl_g, en_g in PAIRED
                ],
                axis=(0, 1),
            )
            m["intercept"] = round(float(intercept + coef @ shift), 6)
            m["language_shift"] = [round(float(v), 5) for v in shift]
            print(f"language shift of the dense evidence (Debian FAQ, nl - en): {shift.round(4)}")
            p[english] = probabilities(m, x[english])
        judged = train_rows | (english if name == "cross_lingual" else ~english)
        print(f"{name} model, fitted on {', '.join(weights)} (training groups: 2-fold CV):")
        m["fitted_on"] = {
            g: {"examples": int(sum(1 for gg in groups if gg == g)), "weight": wt}
            for g, wt in weights.items()
        }
        m["correct_at_threshold"] = report(
            p[judged], y[judged], [g for g, j in zip(groups, judged, strict=True) if j]
        )
        fitted[name] = m
    if args.only is not None:  # the other model as the file has it
        shipped = json.loads(OUT.read_text("utf-8"))
        kept = "cross_lingual" if args.only == "same_language" else "same_language"
        fitted[kept] = (
            shipped["cross_lingual"]
            if kept == "cross_lingual"
            else {k: v for k, v in shipped.items() if k not in ("cross_lingual", "created")}
        )
        fitted[kept].pop("threshold", None)
    model = {
        **fitted["same_language"],
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
