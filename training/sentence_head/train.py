"""Train the sentence head and write it into the package.

The head is two transformer layers that start as e5-small's layers 10 and 11 with half of
their feed-forward units (``--ffn 768``: the units that weigh most on 2,048 training
sentences). Its input is a sentence's own tokens' states in its passage's forward pass
(``data.py`` stores them with the passage's ``<s> passage:`` and ``</s>``, which the head
does not read), its output the mean of its final states, normalised; the loss is
1 − cosine to the vector the encoder gives the sentence read alone, plus (``--within``)
how far the head's similarity of each sentence to the other sentences of its passage is
from theirs read alone (so the head does not leak the passage's context into its
sentences). AdamW, batches of whole passages (about 64 sentences), linear warm-up and
cosine decay. The tensors are written fp16 (``vraagbaak/data/sentence-head/``, 4.4 MB)
with a card that holds their sha256 and the held-out figures.

    OMP_WAIT_POLICY=PASSIVE python -m training.sentence_head.train   # 17 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vraagbaak.index.e5file import E5File
from vraagbaak.index.layout import sha256_file
from vraagbaak.index.onnx_e5 import base_weights

from ..reader.model import MATS, VECS, Layer
from .data import OUT

PACKAGE = Path(__file__).resolve().parent.parent.parent / "vraagbaak" / "data" / "sentence-head"
VERSION = "2"


class Examples:
    """Sentences' states (``data.py``): each stored as its passage's ``<s> passage:``
    states, the sentence's and the passage's ``</s>``; the head reads the sentence's
    (``lead`` states in front and one behind are skipped)."""

    def __init__(self, path: Path, lead: int) -> None:
        with np.load(path) as z:
            self.x = torch.from_numpy(z["X"])
            self.offs = z["offs"]
            self.t = torch.from_numpy(z["T"])
            self.from_layer = int(z["from_layer"])
        self.lead = lead
        self.lengths = np.diff(self.offs) - lead - 1
        # a passage's sentences are stored one after another, each with the passage's own
        # `<s>` state first: where that state changes, a new passage starts
        first = self.x[self.offs[:-1]]
        new = np.ones(len(self.t), dtype=bool)
        new[1:] = (first[1:] != first[:-1]).any(dim=1).numpy()
        self.passage = np.cumsum(new) - 1

    def __len__(self) -> int:
        return len(self.t)

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = int(self.lengths[idx].max())
        x = torch.zeros(len(idx), width, self.x.shape[1])
        mask = torch.zeros(len(idx), width, dtype=torch.bool)
        for r, i in enumerate(idx):
            a, b = self.offs[i] + self.lead, self.offs[i + 1] - 1
            x[r, : b - a] = self.x[a:b].float()
            mask[r, : b - a] = True
        return x, mask, self.t[idx]


class Head(nn.Module):
    def __init__(self, f: E5File, from_layer: int, layers: int) -> None:
        super().__init__()
        self.from_layer = from_layer
        self.layers = nn.ModuleList(
            Layer(f, i, trainable=False) for i in range(from_layer, from_layer + layers)
        )
        for p in self.layers.parameters():  # trained in fp32 (the package keeps fp16)
            p.requires_grad_(True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        m = mask[..., None].float()
        return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)

    @torch.no_grad()
    def prune(self, ffn: int, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Keep the ``ffn`` feed-forward units of each layer that weigh most on
        ``batches`` (``(x, mask)``): mean |activation| times the norm of the unit's output
        column, its contribution to the layer's output."""
        for layer in self.layers:
            total, n, nxt = 0.0, 0, []
            for x, mask in batches:
                act = layer.hidden(layer.attend(x, mask))
                total = total + act[mask].abs().sum(0)
                n += int(mask.sum())
                nxt.append((layer(x, mask), mask))
            keep = (total / n * layer.fo_w.norm(dim=0)).topk(ffn).indices.sort().values
            layer.fi_w = nn.Parameter(layer.fi_w[keep].clone())
            layer.fi_b = nn.Parameter(layer.fi_b[keep].clone())
            layer.fo_w = nn.Parameter(layer.fo_w[:, keep].clone())
            batches = nxt

    def tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for j, layer in enumerate(self.layers):
            i = self.from_layer + j
            for m in MATS:
                out[f"l{i}.{m}.w"] = getattr(layer, f"{m}_w").detach().numpy().astype(np.float16)
            for v in VECS:
                p = getattr(layer, v.replace(".", "_"))
                out[f"l{i}.{v}"] = p.detach().numpy().astype(np.float16)
        return out


@torch.no_grad()
def cosines(head: Head, data: Examples, size: int = 128) -> np.ndarray:
    order = np.argsort(data.lengths, kind="stable")
    out = np.zeros(len(data), dtype=np.float32)
    for b in range(0, len(order), size):
        idx = order[b : b + size]
        x, mask, t = data.batch(idx)
        out[idx] = (head(x, mask) * t).sum(-1).numpy()
    return out


def passage_batches(data: Examples, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of whole passages (about ``size`` sentences each), in a random order."""
    starts = np.flatnonzero(np.r_[True, data.passage[1:] != data.passage[:-1]])
    ends = np.r_[starts[1:], len(data)]
    out, cur = [], []
    for p in rng.permutation(len(starts)):
        cur.extend(range(starts[p], ends[p]))
        if len(cur) >= size:
            out.append(np.array(cur))
            cur = []
    if cur:
        out.append(np.array(cur))
    return out


def within_loss(v: torch.Tensor, t: torch.Tensor, passage: np.ndarray) -> torch.Tensor:
    """How far the head's similarity of each sentence to the other sentences of its
    passage (read alone) is from that of the sentence read alone: mean absolute
    difference over the pairs. A head that leaks its passage's context into a sentence
    makes it look like its neighbours."""
    same = torch.from_numpy(passage[:, None] == passage[None, :])
    same.fill_diagonal_(False)
    if not same.any():
        return v.sum() * 0.0
    diff = (v @ t.T - t @ t.T)[same]
    return diff.abs().mean()


@torch.no_grad()
def leak(head: Head, data: Examples, size: int = 128) -> float:
    """:func:`within_loss` over ``data``'s passages (batches of whole passages)."""
    total, n = 0.0, 0
    for idx in passage_batches(data, size, np.random.default_rng(0)):
        x, mask, t = data.batch(idx)
        total += float(within_loss(head(x, mask), t, data.passage[idx])) * len(idx)
        n += len(idx)
    return round(total / max(1, n), 4)


def summary(c: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(c.mean()), 4), "p5": round(float(np.percentile(c, 5)), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, default=OUT / "sentence-head-train.npz")
    ap.add_argument("--heldout", type=Path, default=OUT / "sentence-head-heldout.npz")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=768,
                    help="feed-forward units kept per layer (e5-small has 1,536)")
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--within", type=float, default=1.0,
                    help="weight of the within-passage similarity loss (batches of whole "
                    "passages); 0: length-bucketed batches, cosine loss only")
    ap.add_argument("--out", type=Path, default=PACKAGE)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    f = E5File.read(base_weights())
    lead = 1 + len(f.tokenizer.content("passage:"))  # <s> passage:
    train, held = Examples(a.train, lead), Examples(a.heldout, lead)
    head = Head(f, train.from_layer, a.layers)
    if a.ffn < f.header.ffn:
        pick = np.random.default_rng(a.seed).choice(len(train), 2048, replace=False)
        pick = pick[np.argsort(train.lengths[pick], kind="stable")]
        head.prune(a.ffn, [train.batch(pick[i : i + 128])[:2] for i in range(0, 2048, 128)])
    before = {**summary(cosines(head, held)), "within": leak(head, held)}
    print("held out, untrained:", before, flush=True)
    steps = max(1, int(a.epochs * len(train) / a.batch))
    opt = torch.optim.AdamW(head.parameters(), lr=a.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
    )
    rng = np.random.default_rng(a.seed)
    step, avg, t0 = 0, 0.0, time.time()
    def batches() -> list[np.ndarray]:
        if a.within:
            return passage_batches(train, a.batch, rng)
        perm = rng.permutation(len(train))
        out = []
        for c in range(0, len(perm), a.batch * 20):  # buckets of similar lengths
            pool = perm[c : c + a.batch * 20]
            pool = pool[np.argsort(train.lengths[pool], kind="stable")]
            out += [pool[i : i + a.batch] for i in range(0, len(pool), a.batch)]
        order = rng.permutation(len(out))
        return [out[i] for i in order]

    while step < steps:
        for idx in batches():
            x, mask, t = train.batch(idx)
            v = head(x, mask)
            loss = (1 - (v * t).sum(-1)).mean()
            if a.within:
                loss = loss + a.within * within_loss(v, t, train.passage[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            avg = loss.item() if step == 1 else 0.98 * avg + 0.02 * loss.item()
            if step % 100 == 0:
                print(f"step {step}/{steps} loss {avg:.4f} {time.time() - t0:.0f} s",
                      flush=True)
            if step >= steps:
                break
    after = {**summary(cosines(head, held)), "within": leak(head, held)}
    minutes = round((time.time() - t0) / 60, 1)
    print("held out, trained:", after, f"({minutes} min)", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    name = f"sentence-head-{VERSION}.npz"
    np.savez_compressed(a.out / name, **head.tensors())
    card = {
        "version": VERSION,
        "tensors_file": name,
        "tensors_sha256": sha256_file(a.out / name),
        "base_sha256": sha256_file(base_weights()),
        "from_layer": head.from_layer,
        "layers": a.layers,
        "hidden": f.header.hidden,
        "heads": f.header.heads,
        "ffn": min(a.ffn, f.header.ffn),
        "eps": f.header.eps,
        "shrink": after["mean"],
        "training": {
            "sentences": len(train), "ffn": min(a.ffn, f.header.ffn), "steps": steps,
            "epochs": a.epochs, "lr": a.lr,
            "batch": a.batch, "within": a.within, "minutes": minutes,
            "heldout_cosine_untrained": before, "heldout_cosine": after,
        },
    }
    (a.out / "sentence-head.json").write_text(json.dumps(card, indent=1) + "\n", "utf-8")
    print(f"-> {a.out / name}")


if __name__ == "__main__":
    main()
