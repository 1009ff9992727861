"""The reading model on XQuAD-nl (measurement only; never trained or tuned on): picking the
answering sentence within its own paragraph, and what the reader costs.

For every XQuAD-nl question whose gold answer lies inside exactly one sentence of its
paragraph (vraagbaak's sentence splitter; case and punctuation ignored, as in
``vraagbaak eval``), each sentence of the paragraph is scored by

- ``e5-cosine``: the e5-small similarity of question and sentence (the old sentence scorer);
- ``reader``: the reading model's logit.

The figure is the share of questions whose best-scored sentence is the gold one. The
reader's cost is measured in the same run: milliseconds per (question, sentence) pair, and
per question for the default number of pairs read in ``ask``.

    python bench/bench_reader.py [--limit N] [--json OUT]
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
from vraagbaak.qa.reader import get_reader
from vraagbaak.settings import AnswerSettings, default_cache_dir

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "data" / "external" / "xquad-nl" / "xquad.nl.json"


def items(path: Path) -> list[tuple[str, list[str], int]]:
    """(question, sentences, index of the one sentence holding the answer)."""
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
                    out.append((qa["question"], sents, hit[0]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=XQUAD)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="a reader.json and its tensors (default: the shipped model)")
    a = ap.parse_args()
    if not a.file.exists():
        print(f"{a.file} not found (XQuAD-nl is not part of the repository)", file=sys.stderr)
        return 1
    data = items(a.file)[: a.limit]
    enc = get_encoder("e5")
    reader = get_reader(default_cache_dir(), a.model_dir)
    if reader is None:
        print("no reading model ships in vraagbaak/data/reader", file=sys.stderr)
        return 1
    hits = {"e5-cosine": 0, "reader": 0}
    per_pair: list[float] = []
    for q, sents, gold in data:
        qv = enc.encode([q], is_query=True)[0]
        sv = enc.encode(sents)
        hits["e5-cosine"] += int(int(np.argmax(sv @ qv)) == gold)
        t = time.perf_counter()
        z = reader.logits(q, sents)
        per_pair.append((time.perf_counter() - t) / len(sents))
        hits["reader"] += int(int(np.argmax(z)) == gold)
    n = len(data)
    ms = statistics.median(per_pair) * 1000
    read = AnswerSettings().read
    res = {"questions": n, **{k: round(v / n, 3) for k, v in hits.items()},
           "reader_ms_per_pair_p50": round(ms, 1),
           "reader_ms_per_question_p50": round(ms * read, 1), "pairs_read_per_question": read}
    for k, v in res.items():
        print(f"{k:28s} {v}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
