"""The dense (FAISS) index: exact for small collections, approximate beyond.

The dense index only proposes *candidates*: search scores every candidate exactly from the
stored passage vectors (``passages.npy``), so an approximate index only has to put the true
neighbours somewhere among its top few hundred.

Which index, by collection size ``n`` (see :func:`choose_params`):

- ``n <= EXACT_MAX`` (50,000): ``IndexFlatIP``, exact inner-product search. At 50,000
  passages of 384 floats it holds 77 MB and answers in a few milliseconds.
- beyond: ``IndexIVFScalarQuantizer`` with 8-bit scalar quantisation (``ivf_sq8``):
  ``nlist`` coarse clusters (about ``2 * sqrt(n)``, a power of two, so 2,048 at one
  million), trained on a fixed random sample of ``TRAIN_PER_LIST * nlist`` vectors; each
  vector costs ``dim`` bytes plus an 8-byte id (392 MB at one million 384-dim vectors).
  ``nprobe`` (clusters visited per query) is ``nlist / 16``, at least 32: measured by
  ``bench/bench_scale.py`` (e5 vectors, which are anisotropic: most pairs have cosine
  0.6-0.8) to keep recall@10 of the candidate search against exact search above 0.95.

IVF indexes are read memory-mapped (``faiss.IO_FLAG_MMAP``), so opening a large index
costs no memory until its lists are read, and the operating system may page them out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

EXACT_MAX = 50_000
"""Up to this many vectors the dense index is exact (``IndexFlatIP``)."""

TRAIN_PER_LIST = 50
"""Training sample size per IVF list (FAISS wants 39 to 256)."""

ADD_BLOCK = 65_536
"""Vectors added to an index at a time (bounds the float32 copy of a float16 input)."""

KINDS = ("flat", "ivf_sq8")


@dataclass(frozen=True)
class AnnParams:
    """How the dense index is built and searched (recorded in the manifest).

    Attributes:
        kind: ``flat`` (exact) or ``ivf_sq8`` (inverted lists, 8-bit scalar quantised).
        nlist: number of IVF lists (0 for ``flat``).
        nprobe: lists visited per query (0 for ``flat``).
        train_size: vectors used to train the coarse quantiser (0 for ``flat``).
    """

    kind: str = "flat"
    nlist: int = 0
    nprobe: int = 0
    train_size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}. Currently {self.kind!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_params(n: int, *, exact_max: int | None = None) -> AnnParams:
    """The dense index for a collection of ``n`` vectors.

    Args:
        n: number of vectors.
        exact_max: largest collection searched exactly (default :data:`EXACT_MAX`).

    >>> choose_params(1000).kind
    'flat'
    >>> p = choose_params(1_000_000)
    >>> (p.kind, p.nlist, p.nprobe)
    ('ivf_sq8', 2048, 128)
    """
    if n <= (EXACT_MAX if exact_max is None else exact_max):
        return AnnParams()
    nlist = 1 << max(4, round(math.log2(2 * math.sqrt(n))))
    nlist = min(nlist, max(1, n // 39))  # FAISS wants at least 39 training points per list
    nprobe = min(nlist, max(32, nlist // 16))
    train = min(n, TRAIN_PER_LIST * nlist)
    return AnnParams("ivf_sq8", nlist=nlist, nprobe=nprobe, train_size=train)


def _sample_rows(n: int, k: int, seed: int = 0) -> np.ndarray:
    """``k`` distinct row numbers out of ``n``, sorted (sequential reads of a memory map)."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def make_dense_index(vectors: np.ndarray, params: AnnParams | None = None) -> Any:
    """Build the FAISS inner-product index of ``vectors`` (rows = passages, normalised).

    Args:
        vectors: ``(n, dim)`` float32 or float16 array (it may be memory-mapped: it is
            read in blocks).
        params: the index to build (default: :func:`choose_params` of ``n``).

    Returns:
        A ``faiss.Index`` holding all ``n`` vectors, row ``i`` under id ``i``, with its
        search-time parameters set.
    """
    import faiss

    n, dim = vectors.shape
    params = params or choose_params(n)
    if params.kind == "flat":
        index: Any = faiss.IndexFlatIP(dim)
    else:
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, params.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.ascontiguousarray(vectors[_sample_rows(n, params.train_size)], dtype=np.float32)
        index.train(sample)
        del sample
    for a in range(0, n, ADD_BLOCK):
        index.add(np.ascontiguousarray(vectors[a : a + ADD_BLOCK], dtype=np.float32))
    set_search_params(index, params)
    return index


def set_search_params(index: Any, params: AnnParams | dict[str, Any] | None) -> None:
    """Set search-time parameters (``nprobe`` for IVF indexes) on a loaded index."""
    if params is None:
        return
    p = params if isinstance(params, AnnParams) else AnnParams(**params)
    if p.kind != "flat" and p.nprobe > 0:
        import faiss

        faiss.extract_index_ivf(index).nprobe = p.nprobe


def save_dense_index(index: Any, path: Path) -> None:
    """Write ``index`` to ``path``."""
    import faiss

    faiss.write_index(index, str(path))


def load_dense_index(path: Path, params: AnnParams | dict[str, Any] | None = None) -> Any:
    """Read a dense index written by :func:`save_dense_index`.

    IVF indexes are memory-mapped (their lists stay on disk until read); a flat index is
    read into memory. ``params`` (as recorded in the manifest) sets ``nprobe``.

    Raises:
        RuntimeError: FAISS cannot read the file.
    """
    import faiss

    p = params if isinstance(params, AnnParams) or params is None else AnnParams(**params)
    if p is not None and p.kind != "flat":
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    else:
        index = faiss.read_index(str(path))
    set_search_params(index, p)
    return index


def vector_dtype(n: int, *, exact_max: int | None = None) -> type[np.floating[Any]]:
    """The dtype the passage and sentence vectors are stored in.

    float32 up to ``exact_max`` passages (scores exactly as computed); float16 beyond, which
    halves disk and page-cache use (at one million passages of 384 dims: 0.77 GB instead of
    1.5 GB for passages, and five times that for sentences). Cosine scores change by
    about 1e-3 at most, well below the gaps that decide a ranking.
    """
    return np.float32 if n <= (EXACT_MAX if exact_max is None else exact_max) else np.float16
