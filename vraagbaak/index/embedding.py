"""The vectors of an ingest: every passage's, and every sentence's.

With ``sentence_vectors="bare"`` every passage is embedded with its title and section,
and every sentence on its own, without its document's title (measured as good or better
than with it on both question sets, and 24% less encoder work; README, "Ingest speed").
``"separate"`` puts the title in front of every sentence, as before. New indexes use
``"upper"`` (:mod:`.sentence_head`: each passage read once, two layers per sentence).

With ``"passage"`` and an encoder that exposes its tokens' states (the default ``e5``,
see :class:`~vraagbaak.index.onnx_e5.OnnxE5Encoder`), each passage is encoded once: its
vector is the mean over all its tokens, and a sentence's vector the mean over that
sentence's tokens in the same pass ("late chunking"): a sentence is read in the context of
its passage, and the encoder reads each passage's tokens once instead of 2.6 times. It
measured slightly worse on both question sets (README, "Ingest speed"), so it is opt-in.

With an encoder that can count the tokens its vectors are means of (``e5``, see
:class:`HeadCountingEncoder`), a passage's title and section (its *head*) are read once per
section rather than once per passage: the passage's vector is composed from its body's
vector and its head's, each weighted by the tokens it holds (:func:`compose_passages`), as
the mean over the whole text would weigh them. The head is the same for every passage of a
section, so this is the encoder work of the passages' text alone (measured as good or
better on the Dutch question sets, slightly worse in ranking for English questions over
Dutch documents; README, "Ingest speed").

Vectors are written to the new generation's files a slice of passages at a time, so an
ingest's memory does not grow with the number of passages and sentences; the cache is
read and written once per slice (one SQLite transaction), not per encoder batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, overload, runtime_checkable

import numpy as np

from ..types import Chunk
from .cache import EmbeddingCache, Lookup, embed_cached, text_key, usable
from .encoders import Encoder

logger = logging.getLogger(__name__)

SENTENCE_ROLE = "sentence-in-passage"
"""The cache role of a sentence vector taken from its passage's forward pass."""

SLICE = 1024
"""Passages per slice: their vectors are looked up, encoded and cached together."""


@runtime_checkable
class PartsEncoder(Protocol):
    """An encoder that gives a passage's vector and its parts' vectors from one pass."""

    id: str

    def encode_parts(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]: ...


@runtime_checkable
class UpperPartsEncoder(PartsEncoder, Protocol):
    """A :class:`PartsEncoder` that also gives its parts' vectors as if each were read
    alone, from the same pass (:mod:`.sentence_head`); ``upper_id`` names that model."""

    upper_id: str

    def encode_parts_upper(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]: ...


UPPER_ROLE = "sentence-upper"
"""The cache role of a sentence vector made by the sentence head (with the head's id)."""

COMPOSED_ROLE = "passage-composed"
"""The cache role of a passage vector composed from its body's and its head's."""


@runtime_checkable
class HeadCountingEncoder(Protocol):
    """An encoder whose vectors are token means and that counts those tokens."""

    id: str

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray: ...

    def token_counts(self, texts: list[str]) -> np.ndarray: ...


def passage_mode(encoder: Encoder) -> str:
    """How an ingest with ``encoder`` makes passage vectors: ``composed`` (body and head
    read apart, :func:`compose_passages`) where the encoder counts its tokens, else
    ``whole`` (the passage read with its head)."""
    return "composed" if isinstance(encoder, HeadCountingEncoder) else "whole"


def compose_passages(
    body: np.ndarray, head: np.ndarray, body_tokens: np.ndarray, head_tokens: np.ndarray
) -> np.ndarray:
    """Passage vectors from their bodies' and heads' unit vectors: the unit vector of
    ``body_tokens * body + head_tokens * head`` (rows), where ``body_tokens`` is how many
    token states the body's vector is the mean of and ``head_tokens`` how many of the
    head's own tokens the whole passage would add to that mean. A passage without a head
    (0 tokens) keeps its body's vector."""
    mixed = body_tokens[:, None] * body.astype(np.float64) + head_tokens[:, None] * head
    norm = np.linalg.norm(mixed, axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return (mixed / norm).astype(np.float32)


def passage_key(encoder_id: str, passage_text: str, mode: str) -> str:
    """The cache key of a passage's vector made the ``mode`` way (:func:`passage_mode`)."""
    return text_key(encoder_id, COMPOSED_ROLE if mode == "composed" else "passage", passage_text)


def sentence_mode(encoder: Encoder, wanted: str) -> str:
    """How an ingest with ``encoder`` makes sentence vectors when ``wanted`` (a
    :data:`~vraagbaak.settings.SENTENCE_VECTORS` value): ``passage`` (from the passage's
    pass) only where the encoder gives its parts' vectors, else ``bare`` (the default);
    ``bare`` and ``separate`` as asked."""
    if wanted == "passage":
        return "passage" if isinstance(encoder, PartsEncoder) else "bare"
    if wanted == "upper":
        return "upper" if isinstance(encoder, UpperPartsEncoder) else "bare"
    return wanted


def sentence_model(encoder: Encoder, mode: str) -> str | None:
    """What made the sentence vectors beside the encoder, recorded in the manifest: the
    sentence head's id with ``upper`` (an index made by another head is rebuilt, and lends
    no vectors), else None."""
    return str(encoder.upper_id) if mode == "upper" and isinstance(
        encoder, UpperPartsEncoder
    ) else None


def passage_head(chunk: Chunk, passage_text: str) -> str:
    """What ``passage_text`` (a passage as it is embedded) puts before the passage's own
    text: its title and section and the line break after them."""
    if not passage_text.endswith(chunk.text):
        raise ValueError("the passage text does not end with the passage")
    return passage_text[: len(passage_text) - len(chunk.text)]


def passage_parts(chunk: Chunk, passage_text: str) -> tuple[str, list[str]]:
    """``(head, parts)`` of a passage as it is embedded: ``head`` is what
    ``passage_text`` puts before the passage's own text (title, section), ``parts`` the
    text between sentences and the sentences, alternating: ``[gap, s0, gap, s1, …, tail]``
    (so sentence ``i`` is part ``2 * i + 1``)."""
    head = passage_head(chunk, passage_text)
    parts: list[str] = []
    at = 0
    for s, e in chunk.sentences:
        a, b = s - chunk.start, e - chunk.start
        parts.append(chunk.text[at:a])
        parts.append(chunk.text[a:b])
        at = b
    parts.append(chunk.text[at:])
    return head, parts


def sentence_key(
    encoder_id: str, passage_text: str, chunk: Chunk, s: int, e: int, role: str = SENTENCE_ROLE
) -> str:
    """The cache key of a sentence's vector taken from its passage's pass (``passage_text``
    is the text that pass read: the passage with its head, or its body alone; ``role``
    says how: :data:`SENTENCE_ROLE`, or :data:`UPPER_ROLE` and the head's id)."""
    span = f"{s - chunk.start}:{e - chunk.start}"
    return text_key(encoder_id, role, f"{passage_text}\0{span}")


def _previous_rows(
    previous: Any, encoder_id: str, mode: str
) -> Callable[[str], int | None] | None:
    """Which chunk of the previous generation has this passage key (built on first use;
    ``mode``: how its passage vectors were made)."""
    if previous is None or previous.manifest["encoder"]["id"] != encoder_id:
        return None
    from .store import passage_input

    table: dict[str, int] = {}

    def find(key: str) -> int | None:
        if not table:
            for c in previous.chunks:
                table.setdefault(passage_key(encoder_id, passage_input(c), mode), c.id)
        return table.get(key)

    return find


class LazyTexts(Sequence[str]):
    """``fn(chunk)`` for each chunk, made when read (an ingest of many passages does not
    hold a second copy of every passage's text)."""

    def __init__(self, chunks: Sequence[Chunk], fn: Callable[[Chunk], str]) -> None:
        self.chunks = chunks
        self.fn = fn

    def __len__(self) -> int:
        return len(self.chunks)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self.fn(c) for c in self.chunks[i]]
        return self.fn(self.chunks[i])


class VectorFile:
    """A ``.npy`` file of ``rows`` vectors, written in order a block at a time (nothing
    of it stays in memory). :meth:`close` checks that every row was written."""

    def __init__(self, path: Path, rows: int, dim: int, dtype: Any) -> None:
        self.path = path
        self.rows = rows
        self.dtype = np.dtype(dtype)
        self.written = 0
        self._f = path.open("wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (rows, dim),
        }
        np.lib.format.write_array_header_1_0(self._f, header)

    def write(self, block: np.ndarray) -> None:
        if self.written + len(block) > self.rows:
            raise ValueError(f"{self.path.name}: more than {self.rows} rows")
        self._f.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.written += len(block)

    def close(self, *, check: bool = True) -> None:
        """Flush the file to disk and close it; with ``check``, fail unless every row was
        written."""
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        if check and self.written != self.rows:
            raise ValueError(f"{self.path.name}: {self.written} of {self.rows} rows written")


def embed_chunks(
    encoder: Encoder,
    chunks: list[Chunk],
    passage_texts: Sequence[str],
    *,
    passage_out: VectorFile,
    sentence_out: VectorFile,
    cache: EmbeddingCache,
    sentence_text: Callable[[Chunk, int, int], str],
    in_passage: bool = True,
    upper: bool = False,
    previous: Any = None,
    fallback: Lookup | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Write ``passage_out`` (row i: chunk i) and ``sentence_out`` (one row per sentence,
    in chunk order), taking what the cache or the previous generation has.

    Args:
        passage_texts: the text each chunk is embedded as (title and section, then the
            passage).
        sentence_text: the text a sentence is embedded as, for encoders that embed
            sentences on their own.
        in_passage: take sentence vectors from their passage's pass where the encoder
            can (:func:`sentence_mode`); else every sentence is embedded on its own.
        upper: with ``in_passage``, the sentence head's vectors
            (:class:`UpperPartsEncoder`) rather than the mean of the sentence's tokens.
        previous: the live generation (an :class:`~vraagbaak.index.store.Index`), whose
            vectors are reused for unchanged passages of the same encoder.
        fallback: the same for encoders without :meth:`PartsEncoder.encode_parts`.
        progress: ``progress(done, total)`` in texts (passages and sentences).

    Returns:
        ``(encoded, reused)``: texts the encoder read, and vectors taken from the cache or
        the previous generation.
    """
    n_sent = sum(len(c.sentences) for c in chunks)
    total = len(chunks) + n_sent
    done = 0
    encoded = reused = 0
    late = in_passage and isinstance(encoder, PartsEncoder)
    upper = late and upper and isinstance(encoder, UpperPartsEncoder)
    pmode = passage_mode(encoder)
    find = _previous_rows(previous, encoder.id, pmode) if late else None
    if progress:
        progress(0, total)
    dim = encoder.dim
    for a in range(0, len(chunks), SLICE):
        part = chunks[a : a + SLICE]
        texts = list(passage_texts[a : a + SLICE])
        rows = sum(len(c.sentences) for c in part)
        pblock = np.zeros((len(part), dim), dtype=np.float32)
        sblock = np.zeros((rows, dim), dtype=np.float32)
        if late:
            e, r = _late_slice(
                encoder, part, texts, pblock, sblock, cache, previous, find, pmode, upper
            )
        else:
            e, r = _separate_slice(
                encoder, part, texts, pblock, sblock, cache, sentence_text, fallback, pmode
            )
        passage_out.write(pblock)
        sentence_out.write(sblock)
        encoded += e
        reused += r
        done += len(part) + rows
        if progress:
            progress(done, total)
    return encoded, reused


def _late_slice(
    encoder: Any,
    chunks: list[Chunk],
    texts: list[str],
    pout: np.ndarray,
    sout: np.ndarray,
    cache: EmbeddingCache,
    previous: Any,
    find: Callable[[str], int | None] | None,
    pmode: str,
    upper: bool = False,
) -> tuple[int, int]:
    dim = pout.shape[1]
    composed = pmode == "composed"
    pkeys = [passage_key(encoder.id, t, pmode) for t in texts]
    read = [c.text if composed else t for c, t in zip(chunks, texts, strict=True)]
    role = f"{UPPER_ROLE}:{encoder.upper_id}" if upper else SENTENCE_ROLE
    skeys = [
        [sentence_key(encoder.id, t, c, s, e, role) for s, e in c.sentences]
        for c, t in zip(chunks, read, strict=True)
    ]
    have = cache.get_many(pkeys + [k for ks in skeys for k in ks], dim=dim)
    offsets = np.cumsum([0] + [len(c.sentences) for c in chunks])
    todo: list[int] = []
    carried: dict[str, np.ndarray] = {}
    for i, c in enumerate(chunks):
        keys = [pkeys[i], *skeys[i]]
        vecs = [have[k] for k in keys if k in have]
        if len(vecs) < len(keys) and find is not None:
            vecs = _from_previous(previous, find(pkeys[i]), c, dim) or vecs
            if len(vecs) == len(keys):
                carried.update(zip(keys, vecs, strict=True))
        if len(vecs) < len(keys):
            todo.append(i)
            continue
        pout[i] = vecs[0]
        if len(vecs) > 1:
            sout[offsets[i] : offsets[i + 1]] = np.stack(vecs[1:])
    fresh: dict[str, np.ndarray] = {}
    n_heads = 0
    if todo:
        items = [passage_parts(chunks[i], texts[i]) for i in todo]
        if composed:  # the body alone; its head is read once per section below
            items = [("", parts) for _head, parts in items]
        got = (encoder.encode_parts_upper if upper else encoder.encode_parts)(items)
        passages = np.stack([m[0] for m in got])
        if composed:
            passages, n_heads = _with_heads(
                encoder, [chunks[i] for i in todo], [texts[i] for i in todo], passages
            )
        for i, m, pv in zip(todo, got, passages, strict=True):
            sent = m[2::2][: len(chunks[i].sentences)]  # row 0: passage; parts from row 1
            pout[i] = pv
            if len(sent):
                sout[offsets[i] : offsets[i + 1]] = sent
            fresh[pkeys[i]] = pv
            fresh.update(zip(skeys[i], sent, strict=True))
    cache.put_many({**carried, **fresh})
    return len(todo) + n_heads, len(chunks) - len(todo)


def _with_heads(
    encoder: Any, chunks: list[Chunk], texts: list[str], bodies: np.ndarray
) -> tuple[np.ndarray, int]:
    """The passage vectors of ``chunks`` (embedded as ``texts``) composed from their
    bodies' vectors ``bodies`` and their heads', each distinct head encoded once; and how
    many heads were encoded."""
    heads = [passage_head(c, t).rstrip("\n") for c, t in zip(chunks, texts, strict=True)]
    distinct = sorted(set(heads))
    row = {h: i for i, h in enumerate(distinct)}
    hv = encoder.encode(distinct)
    body_tokens = encoder.token_counts([c.text for c in chunks])[:, 0]
    head_tokens = encoder.token_counts(distinct)[:, 1]
    at = [row[h] for h in heads]
    return compose_passages(bodies, hv[at], body_tokens, head_tokens[at]), len(distinct)


def _from_previous(
    previous: Any, cid: int | None, chunk: Chunk, dim: int
) -> list[np.ndarray] | None:
    """The previous generation's vectors for an unchanged passage (same text, same
    sentences), checked as cached vectors are."""
    if cid is None:
        return None
    old = previous.chunks[cid]
    if [(s - old.start, e - old.start) for s, e in old.sentences] != [
        (s - chunk.start, e - chunk.start) for s, e in chunk.sentences
    ]:
        return None
    a, b = int(previous.sent_offsets[cid]), int(previous.sent_offsets[cid + 1])
    vecs = [np.asarray(previous.passage_vectors[cid], dtype=np.float32)]
    vecs += [np.asarray(v, dtype=np.float32) for v in previous.sentence_vectors[a:b]]
    return vecs if all(usable(v, dim) for v in vecs) else None


def _separate_slice(
    encoder: Encoder,
    chunks: list[Chunk],
    texts: list[str],
    pout: np.ndarray,
    sout: np.ndarray,
    cache: EmbeddingCache,
    sentence_text: Callable[[Chunk, int, int], str],
    fallback: Lookup | None,
    pmode: str,
) -> tuple[int, int]:
    dim = pout.shape[1]
    sentences = [sentence_text(c, s, e) for c in chunks for s, e in c.sentences]
    encoded = reused = 0
    jobs: list[tuple[list[str], np.ndarray]] = [(texts, pout), (sentences, sout)]
    if pmode == "composed":
        encoded, reused = _composed_slice(encoder, chunks, texts, pout, cache, fallback)
        jobs = jobs[1:]
    for items, out in jobs:
        vecs, k = embed_cached(
            encoder.encode, items, encoder_id=encoder.id, role="passage", dim=dim,
            cache=cache, fallback=fallback, write_every=max(1, len(items)),
        )
        if len(vecs):
            out[:] = vecs
        encoded += k
        reused += len(items) - k
    return encoded, reused


def _composed_slice(
    encoder: Any,
    chunks: list[Chunk],
    texts: list[str],
    pout: np.ndarray,
    cache: EmbeddingCache,
    fallback: Lookup | None,
) -> tuple[int, int]:
    """Fill ``pout`` with the composed passage vectors of ``chunks`` (embedded as
    ``texts``): from the cache or the previous generation where they have them, else made
    from the bodies and the distinct heads of the slice (:func:`_with_heads`). Returns
    ``(encoded, reused)``: how many texts (bodies and heads) were encoded, and how many
    passage vectors were found."""
    by_text = dict(zip(texts, chunks, strict=True))
    heads = 0

    def compose(batch: list[str]) -> np.ndarray:
        nonlocal heads
        part = [by_text[t] for t in batch]
        made, n = _with_heads(encoder, part, batch, encoder.encode([c.text for c in part]))
        heads += n
        return made

    whole = max(1, len(texts))  # one batch: each head is read once per slice
    vecs, k = embed_cached(
        compose, texts, encoder_id=encoder.id, role=COMPOSED_ROLE, dim=pout.shape[1],
        cache=cache, fallback=fallback, batch_size=whole, write_every=whole,
    )
    if len(vecs):
        pout[:] = vecs
    return k + heads, len(texts) - k
