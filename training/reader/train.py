"""Train the reading model: e5-small as a cross-encoder over (question, sentence) pairs.

Input text ``"{question} passage: {sentence}"`` (the engine adds ``"query: "``), label 1 when
the sentence answers the question. Pointwise binary cross-entropy on a linear head over the
normalised mean-pooled vector; the top layers train quantization-aware (see ``model.py``),
the word embeddings and the bottom layers stay as shipped. Checkpoints every few minutes;
``--resume`` continues from the last one; ``--minutes`` bounds the run and writes the model.

    OMP_WAIT_POLICY=PASSIVE python -m training.reader.train --minutes 90
    python -m training.reader.export      # writes vraagbaak/data/reader/
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from vraagbaak.index.e5file import E5File
from vraagbaak.qa.reader import base_model_path, pair_text

from .model import E5CrossEncoder, batch
from .prepare import overlap, words

MAX_TOKENS = 96


def pairs_of(g: dict, rng: random.Random, negatives: int) -> list[tuple[str, str, int]]:
    q, sents, labels = g["q"], g["sents"], g["labels"]
    out = [(q, s, 1) for s, lab in zip(sents, labels, strict=True) if lab]
    qw = words(q)
    neg = [s for s, lab in zip(sents, labels, strict=True) if not lab and len(s) > 15]
    neg.sort(key=lambda s: -overlap(qw, s))
    chosen = neg[:negatives]
    rest = neg[negatives:]
    if rest:
        chosen.append(rng.choice(rest))
    if g["others"]:
        chosen.append(g["others"][0])
    out += [(q, s, 0) for s in chosen]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=Path, default=Path("training/out/groups.jsonl"))
    ap.add_argument("--out", type=Path, default=Path("training/out"))
    ap.add_argument("--train-from", type=int, default=6, help="first trained layer")
    ap.add_argument("--negatives", type=int, default=2, help="hard in-paragraph negatives")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--minutes", type=float, default=90.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = random.Random(a.seed)
    f = E5File.read(base_model_path())
    tok = f.tokenizer
    groups = [json.loads(line) for line in a.groups.open(encoding="utf-8")]
    train = [g for g in groups if g["split"] == "train"]
    pairs = [p for g in train for p in pairs_of(g, rng, a.negatives)]
    rng.shuffle(pairs)
    n_steps = int(len(pairs) * a.epochs) // a.batch
    print(f"{len(pairs)} pairs ({sum(p[2] for p in pairs)} positive), {n_steps} steps", flush=True)

    # Batches of similar length (less padding), in random order.
    t0 = time.time()
    enc = [tok.encode(pair_text(q, s), max_tokens=MAX_TOKENS) for q, s, _ in pairs]
    print(f"tokenised in {time.time() - t0:.0f} s", flush=True)
    order = sorted(range(len(pairs)), key=lambda i: len(enc[i]))
    batches = [order[i : i + a.batch] for i in range(0, len(order), a.batch)]
    rng.shuffle(batches)
    while len(batches) < n_steps:
        batches += batches[: n_steps - len(batches)]
    batches = batches[:n_steps]

    model = E5CrossEncoder(f, train_from=a.train_from)
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": a.lr, "weight_decay": 0.01},
         {"params": model.head.parameters(), "lr": a.head_lr, "weight_decay": 0.0}]
    )
    warm = max(1, n_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.02, 1 - s / max(1, n_steps))
    )
    a.out.mkdir(parents=True, exist_ok=True)
    ckpt = a.out / "checkpoint.pt"
    step = 0
    if a.resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"], strict=False)
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step = st["step"]
        print(f"resumed at step {step}", flush=True)

    def save() -> None:
        torch.save({"model": {k: v for k, v in model.state_dict().items()},
                    "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                    "train_from": a.train_from}, ckpt)

    model.train()
    start = time.time()
    last_save = start
    run_loss = 0.0
    while step < n_steps:
        idx = batches[step]
        ids, mask = batch([enc[i] for i in idx], tok.pad)
        y = torch.tensor([float(pairs[i][2]) for i in idx])
        loss = F.binary_cross_entropy_with_logits(model(ids, mask), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        lv = float(loss.detach())
        run_loss = 0.98 * run_loss + 0.02 * lv if step > 1 else lv
        el = time.time() - start
        if step % 20 == 0:
            print(f"step {step}/{n_steps} loss {run_loss:.4f} {el / 60:.1f} min "
                  f"({el / max(1, step):.2f} s/step this run)", flush=True)
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
        if el > a.minutes * 60:
            print("time limit reached", flush=True)
            break
    save()
    print(f"saved {ckpt} at step {step}", flush=True)


if __name__ == "__main__":
    main()
