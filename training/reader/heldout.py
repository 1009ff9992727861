"""How often a trained reader picks the answering sentence of held-out training questions.

For the answerable held-out SQuAD groups (articles never trained on; XQuAD-nl and the
sample questions are never read), every sentence of the question's paragraph is scored by
the torch model and the share of questions whose best-scored sentence answers is printed.
A quick check of a checkpoint or a packaged reader, before exporting and calibrating.

    python -m training.reader.heldout --checkpoint training/out/checkpoint.pt [--context]
    python -m training.reader.heldout --reader vraagbaak/data/reader [--dump OUT.jsonl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vraagbaak.index.e5file import E5File
from vraagbaak.qa.reader import base_model_path, pair_text

from .export import load
from .model import E5CrossEncoder, batch
from .train import MAX_TOKENS, contexts, init_from_reader


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=Path, default=Path("training/out/groups.jsonl"))
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--reader", type=Path, help="a folder with reader.json")
    ap.add_argument("--context", action="store_true")
    ap.add_argument("--title", action="store_true", help="sentences after their article's title")
    ap.add_argument("--limit", type=int, default=600)
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dump", type=Path, default=None,
                    help="write each question's labels and logits as JSON lines")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    groups = [json.loads(line) for line in a.groups.open(encoding="utf-8")]
    mode = "previous" if a.context else "title" if a.title else ""
    context = contexts(groups, mode)
    held = [g for g in groups if g["split"] == "heldout" and g["set"].startswith("squad")
            and any(g["labels"])]
    held = held[:: max(1, len(held) // a.limit)][: a.limit]
    f = E5File(base_model_path().read_bytes())
    if a.checkpoint is not None:
        model = load(a.checkpoint, f)
    else:
        model = E5CrossEncoder(f)
        init_from_reader(model, a.reader)
        model.eval()
    tok = f.tokenizer
    right = 0
    dump = a.dump.open("w", encoding="utf-8") if a.dump else None
    with torch.no_grad():
        for g in held:
            texts = [pair_text(g["q"], s, context(g, s), mode) for s in g["sents"]]
            ids, mask = batch([tok.encode(t, max_tokens=a.max_tokens) for t in texts], tok.pad)
            z = model(ids, mask)
            right += int(g["labels"][int(z.argmax())] == 1)
            if dump is not None:
                dump.write(json.dumps({"labels": g["labels"], "logits": z.tolist()}) + "\n")
    if dump is not None:
        dump.close()
    print(f"held-out SQuAD questions: {len(held)}, answering sentence picked: "
          f"{right / len(held):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
