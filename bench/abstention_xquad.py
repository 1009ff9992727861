"""Abstention on XQuAD-nl, measured only (no model is fitted or tuned on it here).

For a fixed random sample of XQuAD-nl questions, ``Vraagbaak.ask`` is run three times:

- on the whole XQuAD-nl index (its own paragraph is there: should answer);
- on only the other paragraphs of its own article (on topic, answer left out: should
  abstain);
- on only the other articles (should abstain).

It prints the share handled right in each group, with the reader (``hybrid+reader``, the
default since 2026-12-07: its answer must pass both abstention models) and without it
(``hybrid``: the cheap sentence scorer and the abstention model of
``bench/calibrate_abstention.py``, fitted on training data only).

    python bench/abstention_xquad.py [--limit 300] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from vraagbaak import AnswerSettings, Settings, Vraagbaak
from vraagbaak.evaluation import load_eval, prepare_squad_index
from vraagbaak.settings import SENTENCE_VECTORS

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "data" / "external" / "xquad-nl" / "xquad.nl.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=XQUAD)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--sentence-vectors", default=Settings().sentence_vectors,
                    choices=["auto", *SENTENCE_VECTORS])
    a = ap.parse_args()
    if not a.file.exists():
        print(f"{a.file} not found (XQuAD-nl is not part of the repository)", file=sys.stderr)
        return 1
    sub, es, _ = prepare_squad_index(
        load_eval(a.file), Settings(sentence_vectors=a.sentence_vectors)
    )
    by_article: dict[str, list[str]] = {}
    for name in es.documents:
        by_article.setdefault(name.rsplit("_", 1)[0], []).append(f"docs/{name}")
    qs = random.Random(13).sample(list(es.questions), min(a.limit, len(es.questions)))
    out: dict[str, dict[str, float]] = {}
    for label, answering in (("hybrid+reader", AnswerSettings(reader=True)),
                             ("hybrid", AnswerSettings(reader=False))):
        vb = Vraagbaak(sub.with_(answering=answering))
        right = {"own paragraph (answer)": 0, "same article, answer left out (abstain)": 0,
                 "other articles (abstain)": 0}
        n_same = 0
        for q in qs:
            src = q.evidence[0][0]
            art = src.split("/", 1)[1].rsplit("_", 1)[0]
            right["own paragraph (answer)"] += int(not vb.ask(q.question).abstained)
            siblings = [s for s in by_article[art] if s != src]
            if siblings:
                n_same += 1
                right["same article, answer left out (abstain)"] += int(
                    vb.ask(q.question, sources=siblings).abstained)
            others = [s for a2, ss in by_article.items() if a2 != art for s in ss]
            right["other articles (abstain)"] += int(vb.ask(q.question, sources=others).abstained)
        denom = {"own paragraph (answer)": len(qs),
                 "same article, answer left out (abstain)": max(1, n_same),
                 "other articles (abstain)": len(qs)}
        out[label] = {k: round(v / denom[k], 3) for k, v in right.items()}
        for k, v in out[label].items():
            print(f"{label:16s} {k:42s} {v:.3f}")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
