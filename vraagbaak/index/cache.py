"""A persistent embedding cache keyed by encoder id, role and text hash.

Re-ingesting an unchanged corpus re-embeds nothing; a changed file re-embeds only its
changed passages. SQLite keeps it safe for several processes.

Every entry carries a checksum of its key and vector, and a vector is used only when the
checksum matches, it has the encoder's dimension, it is finite and (as every encoder here
normalises) it has unit length. Anything else is a cache miss: the text is embedded again
and the entry rewritten. A damaged cache costs time, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

Lookup = Callable[[list[str]], dict[str, np.ndarray]]
"""``lookup(keys)``: the vectors some other store holds for these keys."""

_NORM_TOLERANCE = 1e-2  # vectors stored as float16 by a large index are within ~1e-3


def text_key(encoder_id: str, role: str, text: str) -> str:
    """The cache key of one text."""
    h = hashlib.sha256()
    for part in (encoder_id, role, text):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def entry_checksum(key: str, blob: bytes) -> bytes:
    """The checksum stored beside a vector: it binds the vector to its key."""
    return hashlib.blake2b(key.encode("ascii") + b"\0" + blob, digest_size=16).digest()


def usable(v: np.ndarray, dim: int) -> bool:
    """Whether a stored vector can be used: the right size, finite, of unit length (an
    encoder's all-zero vector for a text without words is kept as it is)."""
    if v.shape != (dim,) or not np.isfinite(v).all():
        return False
    norm = float(np.linalg.norm(v.astype(np.float64)))
    return norm == 0.0 or abs(norm - 1.0) <= _NORM_TOLERANCE


class EmbeddingCache:
    """Vectors by key in one SQLite file. Failing to open it only disables caching."""

    def __init__(self, path: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30)
            # ``emb`` (vectors without checksums) was the first layout; it is not read
            self._db.execute("CREATE TABLE IF NOT EXISTS vec (k TEXT PRIMARY KEY, v BLOB, h BLOB)")
            self._db.commit()
        except (sqlite3.Error, OSError):
            self._db = None

    def get_many(self, keys: list[str], *, dim: int | None = None) -> dict[str, np.ndarray]:
        """The usable vectors for ``keys`` (see :func:`usable`); the others are missing."""
        if self._db is None or not keys:
            return {}
        out: dict[str, np.ndarray] = {}
        try:
            for i in range(0, len(keys), 500):
                batch = keys[i : i + 500]
                q = f"SELECT k, v, h FROM vec WHERE k IN ({','.join('?' * len(batch))})"
                for k, v, h in self._db.execute(q, batch):
                    if not isinstance(v, bytes) or not isinstance(h, bytes) or len(v) % 4:
                        continue
                    if h != entry_checksum(k, v):
                        continue
                    vec = np.frombuffer(v, dtype=np.float32)
                    if usable(vec, vec.shape[0] if dim is None else dim):
                        out[k] = vec
        except sqlite3.Error:
            return out
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        if self._db is None or not items:
            return
        rows = []
        for k, v in items.items():
            blob = np.asarray(v, dtype=np.float32).tobytes()
            rows.append((k, blob, entry_checksum(k, blob)))
        try:
            self._db.executemany("INSERT OR REPLACE INTO vec (k, v, h) VALUES (?, ?, ?)", rows)
            self._db.commit()
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def embed_cached(
    encode: Callable[[list[str]], np.ndarray],
    texts: list[str],
    *,
    encoder_id: str,
    role: str,
    dim: int,
    cache: EmbeddingCache,
    batch_size: int = 64,
    write_every: int = 64,
    on_batch: Callable[[int], None] | None = None,
    fallback: Lookup | None = None,
) -> tuple[np.ndarray, int]:
    """Embed ``texts``, taking what the cache has and storing what it lacks.

    Args:
        batch_size: texts per call of ``encode``.
        write_every: new vectors are written to the cache (one transaction) once this
            many have been encoded, and at the end.
        fallback: where to look for vectors the cache lacks before encoding them (the
            previous index generation); what it supplies is checked as cached vectors are,
            and written to the cache.

    Returns:
        ``(vectors, n_encoded)``: the vectors in order, and how many had to be encoded.
    """
    keys = [text_key(encoder_id, role, t) for t in texts]
    out = np.zeros((len(texts), dim), dtype=np.float32)
    # Each distinct text is looked up (in slices) and encoded once, straight into ``out``;
    # repeats are copied at the end. Nothing else grows with the corpus.
    first: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []
    for i, k in enumerate(keys):
        if k in first:
            repeats.append((i, first[k]))
        else:
            first[k] = i
    unique = list(first.items())
    missing: list[tuple[str, int]] = []
    for b in range(0, len(unique), 2000):
        part = unique[b : b + 2000]
        have = cache.get_many([k for k, _ in part], dim=dim)
        lacking = [(k, i) for k, i in part if k not in have]
        if lacking and fallback is not None:
            carried = {
                k: v for k, v in fallback([k for k, _ in lacking]).items() if usable(v, dim)
            }
            cache.put_many(carried)
            have.update(carried)
        for k, i in part:
            v = have.get(k)
            if v is not None:
                out[i] = v
            else:
                missing.append((k, i))
    pending: dict[str, np.ndarray] = {}
    for b in range(0, len(missing), batch_size):
        batch = missing[b : b + batch_size]
        vecs = encode([texts[i] for _, i in batch])
        pending.update({k: vecs[j] for j, (k, _) in enumerate(batch)})
        if len(pending) >= write_every or b + batch_size >= len(missing):
            cache.put_many(pending)
            pending = {}
        for j, (_, i) in enumerate(batch):
            out[i] = vecs[j]
        if on_batch:
            on_batch(len(batch))
    for i, f in repeats:
        out[i] = out[f]
    return out, len(missing)
