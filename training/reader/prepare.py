"""Training groups for the reading model from the open QA data in ``../shared/training-data``.

One group per question: the question, the sentences of its paragraph (split by vraagbaak's
own sentence splitter, as at question time), which of them contain the answer, and the
best-overlapping sentences of the article's other paragraphs (on-topic sentences that do
not answer). SQuAD 2.0's unanswerable questions have no positive sentence. Questions whose
answer spans two sentences, or whose answer string occurs in several, are left out.

Articles are split into train and held-out (the held-out ones calibrate the abstention and
measure the model); XQuAD's paragraphs were removed from these files by their makers, and
XQuAD-nl and the sample questions are never read here.

    python -m training.reader.prepare --data ../shared/training-data --out training/out/groups.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from vraagbaak.ingest.sentences import split_sentences

SQUAD = (
    "squad-v2.0-dev-official-explorer-noxquad/dev-v2.0.noxquad.json",
    "squad-v1.1-dev-official-explorer-extra-noxquad/dev-v1.1.extra.noxquad.json",
    "squad-v2.0-train-first10articles/train-v2.0.first10.json",
)
SELQA = ("selqa-ass-dev-test/selqa-ass-dev.json", "selqa-ass-test/selqa-ass-test.json")
_WORD = re.compile(r"\w+")
_STOP = frozenset((
    "the", "a", "an", "of", "in", "on", "to", "is", "was", "were", "what", "which", "who",
    "whom", "when", "where", "why", "how", "did", "do", "does", "and", "or", "for", "by",
    "with", "from", "as", "at", "that", "this", "it", "its", "be", "are", "been",
))


def words(s: str) -> set[str]:
    return {w for w in _WORD.findall(s.lower()) if w not in _STOP}


def overlap(q: set[str], s: str) -> float:
    return len(q & words(s)) / (len(q) or 1)


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def squad_groups(path: Path, name: str) -> list[dict]:
    data = json.loads(path.read_text("utf-8"))["data"]
    out = []
    for art in data:
        paras = [sentences(p["context"]) for p in art["paragraphs"]]
        for pi, p in enumerate(art["paragraphs"]):
            sents = paras[pi]
            others = [s for pj, ss in enumerate(paras) if pj != pi for s in ss]
            for qa in p["qas"]:
                q = qa["question"].strip()
                if not q:
                    continue
                if qa.get("is_impossible") or not qa["answers"]:
                    labels = [0] * len(sents)
                else:
                    ans = max((a["text"] for a in qa["answers"]), key=len).strip()
                    labels = [int(ans in s) for s in sents]
                    if sum(labels) != 1:
                        continue
                qw = words(q)
                near = sorted(others, key=lambda s: -overlap(qw, s))[:3]
                out.append({"set": name, "article": f"{name}/{art['title']}", "q": q,
                            "sents": sents, "labels": labels, "others": near})
    return out


def selqa_groups(path: Path, name: str) -> list[dict]:
    out = []
    for item in json.loads(path.read_text("utf-8")):
        sents = item["candidates"]
        labels = [int(i in item["answers"]) for i in range(len(sents))]
        if not any(labels):
            continue
        out.append({"set": name, "article": f"{name}/{item['article']}", "q": item["question"],
                    "sents": sents, "labels": labels, "others": []})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/training-data"))
    ap.add_argument("--out", type=Path, default=Path("training/out/groups.jsonl"))
    ap.add_argument("--heldout", type=float, default=0.12, help="share of articles held out")
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    groups: list[dict] = []
    for rel in SQUAD:
        groups += squad_groups(a.data / rel, rel.split("/")[0])
    for rel in SELQA:
        p = a.data / rel
        if not p.exists():
            p = a.data / "selqa-ass-dev-test" / Path(rel).name
        groups += selqa_groups(p, "selqa")
    arts = sorted({g["article"] for g in groups})
    rng = random.Random(a.seed)
    held = set(rng.sample(arts, max(1, int(len(arts) * a.heldout))))
    for g in groups:
        g["split"] = "heldout" if g["article"] in held else "train"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", encoding="utf-8") as fh:
        for g in groups:
            fh.write(json.dumps(g, ensure_ascii=False) + "\n")
    n_un = sum(1 for g in groups if not any(g["labels"]))
    n_held = sum(1 for g in groups if g["split"] == "heldout")
    print(f"{len(groups)} groups ({n_un} unanswerable), {len(arts)} articles, "
          f"{n_held} groups held out -> {a.out}")


if __name__ == "__main__":
    main()
