"""How far the sentence head's similarities are from the sentences read alone, against
the margins the answer is chosen by (measurement only; training-side sets).

For every question of the Dutch Debian FAQ and of 400 held-out SQuAD questions
(``bench/ablation.py``'s files), asked of an index built with ``--sentence-vectors bare``
and of one built with ``upper``, the question's similarity to each sentence of the top
passage (when both modes rank the same passage first) gives:

- the gap between the best and the second-best sentence read alone (``bare``): the margin
  a sentence score has to keep;
- the head's error within the passage: ``|(upper - mean) - (bare - mean)|`` per sentence
  (a shift of the whole passage changes no choice, so it is taken out);
- how often the most similar sentence of the passage differs between the two.

    python bench/head_noise.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ablation import faq_squad, squad_heldout  # noqa: E402

from vraagbaak import Settings, Vraagbaak  # noqa: E402
from vraagbaak.evaluation import load_eval, prepare_squad_index  # noqa: E402
from vraagbaak.qa.search import rank  # noqa: E402

Top = tuple[str, int, np.ndarray]  # the top passage's source, start, sentence similarities


def top_sentences(cache: Path, label: str, path: Path, mode: str) -> dict[str, Top]:
    base = Settings(index_dir=cache / "x", cache_dir=cache / "emb", sentence_vectors=mode)
    _, es, _ = prepare_squad_index(load_eval(path), base)
    docs = cache / "emb" / "eval" / es.sha256[:16] / "docs"
    vb = Vraagbaak(base.with_(index_dir=cache / f"{label}-idx-{mode}"))
    vb.ingest([docs])
    pipe = vb.pipeline()
    out: dict[str, Top] = {}
    for item in es.questions:
        q = pipe.question(item.question)
        scores = pipe.scores(q)
        top = rank(pipe.index, scores, pipe.retrieval(None, q), top_k=1)[0].chunk
        sims = scores.sentence_sims(top.id)
        if sims is not None:
            out[item.question] = (top.source, top.start, np.asarray(sims))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vb-abl"))
    a = ap.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    sets = (("faq", faq_squad(a.cache / "faq.json")),
            ("squad", squad_heldout(a.cache / "squad-heldout.json")))
    print("set    passages  top-2 gap p50  head error p50 / p90  best sentence differs")
    for label, path in sets:
        bare = top_sentences(a.cache, label, path, "bare")
        upper = top_sentences(a.cache, label, path, "upper")
        gaps: list[float] = []
        errs: list[float] = []
        differs = n = 0
        for q, (src, start, b) in bare.items():
            if q not in upper or upper[q][:2] != (src, start) or len(b) < 2:
                continue
            u = upper[q][2]
            n += 1
            s = np.sort(b)[::-1]
            gaps.append(float(s[0] - s[1]))
            errs.extend(np.abs((u - u.mean()) - (b - b.mean())).tolist())
            differs += int(np.argmax(u) != np.argmax(b))
        print(f"{label:6} {n:9d}  {np.median(gaps):13.4f}  {np.median(errs):8.4f} / "
              f"{np.percentile(errs, 90):.4f}  {differs} ({differs / max(n, 1):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
