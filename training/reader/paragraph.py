"""Experiment (not shipped): a paragraph reader, which reads the question with the whole
paragraph and chooses its answering sentence.

The shipped reader reads one sentence at a time, so it cannot see what a sentence's
neighbours say. This one reads ``"query: {question} passage: {s1} {s2} …"`` as one text
(at most 256 tokens, the answering sentence kept inside), scores each sentence by a linear
head on the normalised mean of its tokens' final states, and "no answer" by a second head
on ``<s>``; the loss is a softmax over [no answer, s1 … sn] (SQuAD 2.0's unanswerable
questions take "no answer"). Layers 6–11 train quantization-aware from the shipped
reader's, as in ``train.py``. After training it prints how often it picks the answering
sentence of the 600 held-out SQuAD paragraphs ``heldout.py`` uses and, reported only,
of the first 400 XQuAD-nl questions ``bench/bench_reader.py`` uses.

    python -m training.reader.prepare
    OMP_WAIT_POLICY=PASSIVE python -m training.reader.paragraph --minutes 52

Measured 2026-12-07 (README, "Reading model"): 1,531 steps of 12 paragraphs in 39 CPU
minutes; held-out SQuAD 0.837 and XQuAD-nl 0.745, against 0.912 and 0.860 for the
shipped sentence reader.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from vraagbaak.index.e5file import E5File, Tokenizer
from vraagbaak.qa.reader import base_model_path

from .model import E5CrossEncoder
from .train import init_from_reader

MAX_TOKENS = 256
ROOT = Path(__file__).resolve().parents[2]

Item = tuple[list[int], list[tuple[int, int]], int]  # token ids, sentence ranges, target


def encode_group(
    tok: Tokenizer, question: str, sents: list[str], gold: int | None = None
) -> tuple[list[int], list[tuple[int, int]], int]:
    """Token ids of question and paragraph, each sentence's token range, and the index of
    the first sentence kept (sentences are dropped from the end, or from the start when
    the answering one ``gold`` would fall out, until the text fits in MAX_TOKENS)."""
    head = [tok.bos, *tok.content("query: " + question.strip()), *tok.content("passage:")]
    parts = [tok.content(s.strip()) for s in sents]
    lo, hi = 0, len(parts)

    def size(a: int, b: int) -> int:
        return len(head) + sum(len(p) for p in parts[a:b]) + 1

    while size(lo, hi) > MAX_TOKENS and hi - lo > 1:
        if gold is not None and gold >= hi - 1:
            lo += 1
        else:
            hi -= 1
    ids = list(head)
    ranges = []
    for p in parts[lo:hi]:
        p = p[: max(1, MAX_TOKENS - 1 - len(ids))]
        ranges.append((len(ids), len(ids) + len(p)))
        ids.extend(p)
    ids.append(tok.eos)
    return ids[:MAX_TOKENS], ranges, lo


class ParagraphReader(nn.Module):
    """e5-small's layers, a sentence head and a no-answer head."""

    def __init__(self, f: E5File, train_from: int = 6) -> None:
        super().__init__()
        self.enc = E5CrossEncoder(f, train_from=train_from)
        self.sent = nn.Linear(f.header.hidden, 1)
        self.na = nn.Linear(f.header.hidden, 1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        """``pool``: [batch, sentences, tokens] averaging weights. Returns [batch,
        1 + sentences] logits, "no answer" first."""
        x = self.enc.states(ids, mask)
        zs = self.sent(F.normalize(pool @ x, dim=-1)).squeeze(-1)
        zn = self.na(F.normalize(x[:, 0], dim=-1))
        return torch.cat([zn, zs], dim=1)


def make_batch(
    items: list[tuple[list[int], list[tuple[int, int]]]], pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded ids, attention mask, sentence pooling weights and sentence mask."""
    n, t, s = len(items), max(len(i[0]) for i in items), max(len(i[1]) for i in items)
    ids = torch.full((n, t), pad, dtype=torch.long)
    mask = torch.zeros((n, t), dtype=torch.bool)
    pool = torch.zeros((n, s, t))
    smask = torch.zeros((n, s), dtype=torch.bool)
    for b, (x, ranges) in enumerate(items):
        ids[b, : len(x)] = torch.tensor(x)
        mask[b, : len(x)] = True
        for j, (a, c) in enumerate(ranges):
            pool[b, j, a:c] = 1.0 / max(1, c - a)
            smask[b, j] = True
    return ids, mask, pool, smask


def train(
    model: ParagraphReader, tok: Tokenizer, groups: list[dict], a: argparse.Namespace
) -> None:
    rng = random.Random(a.seed)
    data: list[Item] = []
    for g in groups:
        if g["split"] != "train":
            continue
        gold = g["labels"].index(1) if any(g["labels"]) else None
        tokens, ranges, lo = encode_group(tok, g["q"], g["sents"], gold)
        target = 0 if gold is None else gold - lo + 1
        if target <= len(ranges):
            data.append((tokens, ranges, target))
    data.sort(key=lambda d: len(d[0]))
    batches = [data[i : i + a.per_step] for i in range(0, len(data), a.per_step)]
    rng.shuffle(batches)
    n_steps = int(len(batches) * a.epochs)
    print(f"{len(data)} paragraphs, {n_steps} steps", flush=True)
    body = [
        p for n, p in model.enc.named_parameters() if p.requires_grad and not n.startswith("head")
    ]
    heads = [*model.sent.parameters(), *model.na.parameters()]
    opt = torch.optim.AdamW([{"params": body, "lr": a.lr, "weight_decay": 0.01},
                             {"params": heads, "lr": a.head_lr, "weight_decay": 0.0}])
    warm = max(1, n_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.02, 1 - s / max(1, n_steps))
    )
    model.train()
    t0 = time.time()
    run = 0.0
    for step in range(n_steps):
        items = batches[step % len(batches)]
        ids, mask, pool, smask = make_batch([(d[0], d[1]) for d in items], tok.pad)
        keep = torch.cat([torch.ones(len(items), 1, dtype=torch.bool), smask], 1)
        z = model(ids, mask, pool).masked_fill(~keep, -1e4)
        loss = F.cross_entropy(z * 10.0, torch.tensor([d[2] for d in items]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        run = float(loss.detach()) if step == 0 else 0.98 * run + 0.02 * float(loss.detach())
        if step % 25 == 0:
            print(f"step {step}/{n_steps} loss {run:.3f} {(time.time() - t0) / 60:.1f} min",
                  flush=True)
        if step % 200 == 199:
            torch.save(model.state_dict(), a.out)
        if time.time() - t0 > a.minutes * 60:
            print("time limit reached", flush=True)
            break
    torch.save(model.state_dict(), a.out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=Path, default=Path("training/out/groups.jsonl"))
    ap.add_argument("--out", type=Path, default=Path("training/out/paragraph.pt"))
    ap.add_argument("--minutes", type=float, default=52.0)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--per-step", type=int, default=12, help="paragraphs per step")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--init", type=Path, default=ROOT / "vraagbaak" / "data" / "reader")
    ap.add_argument("--eval-only", action="store_true", help="measure the model at --out")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(2)
    f = E5File(base_model_path().read_bytes())
    tok = f.tokenizer
    model = ParagraphReader(f)
    init_from_reader(model.enc, a.init)
    groups = [json.loads(line) for line in a.groups.open(encoding="utf-8")]
    if a.eval_only:
        model.load_state_dict(torch.load(a.out))
    else:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        train(model, tok, groups, a)
    model.eval()

    def pick(question: str, sents: list[str]) -> int:
        ids, ranges, lo = encode_group(tok, question, sents)
        with torch.no_grad():
            z = model(*make_batch([(ids, ranges)], tok.pad)[:3])[0]
        return int(z[1:].argmax()) + lo

    held = [g for g in groups if g["split"] == "heldout" and g["set"].startswith("squad")
            and any(g["labels"])]
    held = held[:: max(1, len(held) // 600)][:600]  # as training.reader.heldout
    right = sum(g["labels"][pick(g["q"], g["sents"])] == 1 for g in held)
    print(f"held-out SQuAD: answering sentence picked {right / len(held):.3f} ({len(held)})")
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_reader import XQUAD, items  # the same questions as bench_reader.py

    if XQUAD.exists():
        xq = items(XQUAD)[:400]
        got = sum(pick(q, sents) == gold for q, sents, gold, _title in xq)
        print(f"XQuAD-nl (reported only): answering sentence picked {got / len(xq):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
