"""Pure functions that turn per-passage scores into one ranking."""

from __future__ import annotations

import numpy as np


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every entry (highest score = rank 1; ties share order of index)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def rrf(
    score_lists: list[np.ndarray], *, k: float = 60.0, weights: list[float] | None = None
) -> np.ndarray:
    """Reciprocal rank fusion: ``sum_i w_i / (k + rank_i)`` over the rankings.

    Args:
        score_lists: one score array per ranking, all of the same length.
        k: the RRF constant (60 in the original paper).
        weights: one weight per ranking (default: all 1).
    """
    if not score_lists:
        raise ValueError("rrf needs at least one ranking")
    weights = weights or [1.0] * len(score_lists)
    fused = np.zeros(len(score_lists[0]), dtype=np.float64)
    for w, s in zip(weights, score_lists, strict=True):
        fused += w / (k + ranks_of(np.asarray(s, dtype=np.float64)))
    return fused


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standardise scores (mean 0, sd 1); constant input gives zeros."""
    s = np.asarray(scores, dtype=np.float64)
    sd = s.std()
    return (s - s.mean()) / sd if sd > 1e-12 else np.zeros_like(s)


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale scores to [0, 1]; constant input gives zeros."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return s
    lo, hi = s.min(), s.max()
    return (s - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(s)


def weighted_sum(
    score_lists: list[np.ndarray], weights: list[float], *, norm: str = "zscore"
) -> np.ndarray:
    """Normalise each score list, then add them with weights."""
    f = zscore if norm == "zscore" else minmax
    out = np.zeros(len(score_lists[0]), dtype=np.float64)
    for w, s in zip(weights, score_lists, strict=True):
        out += w * f(s)
    return out


def max_per_group(values: np.ndarray, offsets: np.ndarray, *, empty: float = 0.0) -> np.ndarray:
    """The maximum of ``values[offsets[i]:offsets[i+1]]`` for every group ``i``."""
    n = len(offsets) - 1
    out = np.full(n, empty, dtype=np.float64)
    if len(values) == 0:
        return out
    starts = offsets[:-1]
    nonempty = offsets[1:] > starts
    red = np.maximum.reduceat(values, np.minimum(starts, len(values) - 1))
    out[nonempty] = red[nonempty]
    return out
