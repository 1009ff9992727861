"""A persistent embedding cache keyed by encoder id, role and text hash.

Re-ingesting an unchanged corpus re-embeds nothing; a changed file re-embeds only its
changed passages. SQLite keeps it safe for several processes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np


def text_key(encoder_id: str, role: str, text: str) -> str:
    """The cache key of one text."""
    h = hashlib.sha256()
    for part in (encoder_id, role, text):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


class EmbeddingCache:
    """Vectors by key in one SQLite file. Failing to open it only disables caching."""

    def __init__(self, path: Path | None) -> None:
        self._db: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30)
            self._db.execute("CREATE TABLE IF NOT EXISTS emb (k TEXT PRIMARY KEY, v BLOB)")
            self._db.commit()
        except sqlite3.Error:
            self._db = None

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        if self._db is None or not keys:
            return {}
        out: dict[str, np.ndarray] = {}
        try:
            for i in range(0, len(keys), 500):
                batch = keys[i : i + 500]
                q = f"SELECT k, v FROM emb WHERE k IN ({','.join('?' * len(batch))})"
                for k, v in self._db.execute(q, batch):
                    out[k] = np.frombuffer(v, dtype=np.float32)
        except sqlite3.Error:
            return out
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        if self._db is None or not items:
            return
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO emb (k, v) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )
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
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Embed ``texts``, taking what the cache has and storing what it lacks.

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
        have = cache.get_many([k for k, _ in part])
        for k, i in part:
            v = have.get(k)
            if v is not None and v.shape[0] == dim:
                out[i] = v
            else:
                missing.append((k, i))
    for b in range(0, len(missing), batch_size):
        batch = missing[b : b + batch_size]
        vecs = encode([texts[i] for _, i in batch])
        cache.put_many({k: vecs[j] for j, (k, _) in enumerate(batch)})
        for j, (_, i) in enumerate(batch):
            out[i] = vecs[j]
        if on_batch:
            on_batch(len(batch))
    for i, f in repeats:
        out[i] = out[f]
    return out, len(missing)
