"""The vectors of an ingest: one pass per passage for encoders that give their parts'
vectors, the old way for the others, streamed to disk, cache writes batched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from tests.conftest import CORPUS, HashEncoder
from vraagbaak import Settings, Vraagbaak
from vraagbaak.index import embedding
from vraagbaak.index.cache import EmbeddingCache, embed_cached
from vraagbaak.index.embedding import VectorFile, passage_parts
from vraagbaak.index.encoders import register_encoder
from vraagbaak.index.store import passage_input


class HashPartsEncoder(HashEncoder):
    """:class:`HashEncoder` with ``encode_parts``: a part's vector hashes its own words
    (so it can be checked), the passage's the whole text."""

    def __init__(self, arg: str = "") -> None:
        super().__init__(arg)
        self.id = f"fakeparts:{self.dim_}"
        self.passages = 0

    def encode_parts(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]:
        calls, texts = self.calls, self.texts
        out = [self.encode([head + "".join(parts), *parts]) for head, parts in items]
        self.calls, self.texts = calls + 1, texts  # one call; no texts encoded on their own
        self.passages += len(items)
        return out


E = TypeVar("E", bound=HashEncoder)


def _registered(prefix: str, cls: type[E]) -> dict[str, E]:
    """Registers ``cls`` as the encoder ``{prefix}:{arg}``; the returned dict holds the
    last one made for each ``arg``, for the tests to inspect."""
    made: dict[str, E] = {}

    def make(arg: str = "") -> E:
        enc = made[arg] = cls(arg)
        return enc

    register_encoder(prefix, make)
    return made


PARTS = _registered("fakeparts", HashPartsEncoder)


def _settings(tmp_path: Path, name: str = "ix", cache: str = "cache") -> Settings:
    return Settings(
        index_dir=tmp_path / name, cache_dir=tmp_path / cache, encoder="fakeparts:64",
        sentence_vectors="passage",
    )


def test_one_pass_per_passage_gives_passage_and_sentence_vectors(tmp_path: Path) -> None:
    vb = Vraagbaak(_settings(tmp_path))
    rep = vb.ingest([CORPUS])
    enc = PARTS["64"]
    ix = vb.index
    assert rep.encoded == enc.passages == len(ix.chunks)  # each passage read once
    assert enc.texts == 0  # no sentence embedded on its own
    for c in ix.chunks[:: max(1, len(ix.chunks) // 10)]:
        want = enc.encode([passage_input(c)])[0]
        assert np.allclose(ix.passage_vectors[c.id], want)
        rows = ix.sentence_vectors[ix.sent_offsets[c.id] : ix.sent_offsets[c.id + 1]]
        sentences = [c.text[s - c.start : e - c.start] for s, e in c.sentences]
        assert np.allclose(rows, enc.encode(sentences))
    assert vb.search("Village Deals gemeenten", top_k=1)


def test_passage_parts_alternate_gaps_and_sentences() -> None:
    from vraagbaak.ingest.chunker import chunk_document
    from vraagbaak.ingest.readers import read_document

    path = sorted(CORPUS.glob("*.txt"))[0]
    vb_chunks = chunk_document(read_document(path, source=f"corpus/{path.name}"))
    for c in vb_chunks:
        text = passage_input(c)
        head, parts = passage_parts(c, text)
        assert head + "".join(parts) == text
        assert parts[1::2] == [c.text[s - c.start : e - c.start] for s, e in c.sentences]
        assert len(parts) == 2 * len(c.sentences) + 1
    with pytest.raises(ValueError):
        passage_parts(vb_chunks[0], "iets anders")


def test_cached_and_carried_over_vectors_are_not_encoded_again(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    vb = Vraagbaak(_settings(tmp_path))
    first = vb.ingest([docs])
    enc = PARTS["64"]
    want = np.array(vb.index.sentence_vectors)
    old = vb.index
    by_span = {
        (c.source, c.start): want[old.sent_offsets[c.id] : old.sent_offsets[c.id + 1]]
        for c in old.chunks
    }
    # a fresh index with the warm cache: nothing encoded, the same vectors
    other = Vraagbaak(_settings(tmp_path, "ix2"))
    rep = other.ingest([docs])
    assert rep.encoded == 0 and rep.reused == first.chunks
    assert np.array_equal(np.array(other.index.sentence_vectors), want)
    # the cache gone: an added file is all that is encoded; the rest comes from the index
    shutil.rmtree(tmp_path / "cache")
    (docs / "nieuw.md").write_text("# Nieuw\n\nDe gemeente Houten werkt integraal.\n", "utf-8")
    before = enc.passages
    rep = vb.ingest([docs / "nieuw.md"], add=True)
    assert rep.encoded == enc.passages - before == 1
    ix = vb.index
    kept = [c for c in ix.chunks if (c.source, c.start) in by_span]
    assert len(kept) == first.chunks
    for c in kept:
        rows = ix.sentence_vectors[ix.sent_offsets[c.id] : ix.sent_offsets[c.id + 1]]
        assert np.array_equal(rows, by_span[c.source, c.start])


def test_a_changed_file_reencodes_only_its_passages(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    vb = Vraagbaak(_settings(tmp_path))
    vb.ingest([docs])
    small = min(docs.glob("*.txt"), key=lambda p: p.stat().st_size)
    small.write_text(small.read_text("utf-8") + "\n\nEen nieuwe alinea over de raad.\n", "utf-8")
    rep = vb.ingest([docs])
    n_small = sum(1 for c in vb.index.chunks if c.source == f"docs/{small.name}")
    assert 0 < rep.encoded <= n_small


def test_vector_file_streams_rows_and_checks_the_count(tmp_path: Path) -> None:
    vf = VectorFile(tmp_path / "v.npy", 5, 3, np.float16)
    vf.write(np.ones((2, 3), np.float32))
    vf.write(np.full((3, 3), 2.0, np.float32))
    vf.close()
    got = np.load(tmp_path / "v.npy")
    assert got.dtype == np.float16 and got.shape == (5, 3) and got[4, 0] == 2.0
    short = VectorFile(tmp_path / "w.npy", 4, 3, np.float32)
    short.write(np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="3 of 4"):
        short.close()
    with pytest.raises(ValueError, match="more than"):
        VectorFile(tmp_path / "x.npy", 1, 3, np.float32).write(np.ones((2, 3), np.float32))


def test_cache_writes_are_batched(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    writes: list[int] = []
    put = cache.put_many
    cache.put_many = lambda items: (writes.append(len(items)), put(items))[1]  # type: ignore[method-assign]
    enc = HashEncoder("16")
    texts = [f"tekst nummer {i}" for i in range(300)]
    vecs, n = embed_cached(
        enc.encode, texts, encoder_id=enc.id, role="passage", dim=16, cache=cache,
        batch_size=32, write_every=128,
    )
    assert n == 300 and enc.calls == 10 and writes == [128, 128, 44]
    assert np.allclose(vecs, enc.encode(texts))


def test_slices_bound_the_work_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ingest works a slice of passages at a time (vectors written, cache committed)."""
    monkeypatch.setattr(embedding, "SLICE", 16)
    seen: list[tuple[int, int]] = []
    vb = Vraagbaak(_settings(tmp_path))
    calls = vb.encoder.calls  # type: ignore[attr-defined]
    vb.ingest([CORPUS], progress=lambda s, d, t: seen.append((d, t)) if s == "embedding" else None)
    n = len(vb.index.chunks)
    assert PARTS["64"].calls - calls == -(-n // 16)
    assert len(seen) == 1 + -(-n // 16) and seen[-1][0] == seen[-1][1]
    fresh = Vraagbaak(_settings(tmp_path, "ix2", "c2"))
    monkeypatch.setattr(embedding, "SLICE", 10_000)
    fresh.ingest([CORPUS])
    digest = [hashlib.sha256(np.asarray(x.index.sentence_vectors).tobytes()).hexdigest()
              for x in (vb, fresh)]
    assert digest[0] == digest[1]


def test_the_sentence_head_is_the_default_and_the_way_is_recorded(tmp_path: Path) -> None:
    """By default sentence vectors come from the sentence head (``upper``); an encoder
    without one embeds every sentence on its own (``bare``, without its title), even one
    that could give it from its passage's pass; the manifest says which way they were
    made, and an index made another way lends none of its sentence vectors."""
    assert Settings().sentence_vectors == "auto"
    plain = Vraagbaak(_settings(tmp_path, "plain", "plain-cache").with_(sentence_vectors="auto"))
    plain.ingest([CORPUS])
    assert plain.index.manifest["encoder"]["sentences"] == "bare"  # fakeparts has no head
    s = _settings(tmp_path).with_(sentence_vectors="separate")
    vb = Vraagbaak(s)
    enc = vb.encoder
    before = enc.passages, enc.texts  # type: ignore[attr-defined]
    vb.ingest([CORPUS])
    ix = vb.index
    assert ix.manifest["encoder"]["sentences"] == "separate"
    assert enc.passages == before[0]  # type: ignore[attr-defined]
    n_sent = sum(len(c.sentences) for c in ix.chunks)
    assert enc.texts - before[1] >= len(ix.chunks) + n_sent - 40  # type: ignore[attr-defined]
    shutil.rmtree(tmp_path / "cache")
    late = Vraagbaak(s.with_(sentence_vectors="passage"))
    rep = late.ingest([CORPUS])
    assert late.index.manifest["encoder"]["sentences"] == "passage"
    assert rep.encoded == len(ix.chunks)  # nothing carried over from the separate index


def test_bare_sentence_vectors_leave_the_title_out(tmp_path: Path) -> None:
    vb = Vraagbaak(_settings(tmp_path).with_(sentence_vectors="bare", encoder="fakeparts:40"))
    vb.ingest([CORPUS])
    enc = PARTS["40"]  # its own encoder: the counts start at 0
    ix = vb.index
    assert enc.passages == 0  # sentences embedded on their own, not from the passage
    assert ix.manifest["encoder"]["sentences"] == "bare"
    c = next(c for c in ix.chunks if c.title and len(c.sentences) > 1)
    rows = ix.sentence_vectors[ix.sent_offsets[c.id] : ix.sent_offsets[c.id + 1]]
    sentences = [c.text[s - c.start : e - c.start] for s, e in c.sentences]
    assert np.allclose(rows, enc.encode(sentences))  # no title in front
    assert not np.allclose(rows, enc.encode([f"{c.title}\n{s}" for s in sentences]))
    assert np.allclose(ix.passage_vectors[c.id], enc.encode([passage_input(c)])[0])


class HashCountingEncoder(HashPartsEncoder):
    """:class:`HashPartsEncoder` that counts its tokens (words), so an ingest reads each
    passage's head (title and section) once per section and composes the passage's
    vector (``passages: composed``), as with ``e5``."""

    def __init__(self, arg: str = "") -> None:
        super().__init__(arg)
        self.id = f"fakecount:{self.dim_}"
        self.parts_heads: list[str] = []

    def token_counts(self, texts: list[str]) -> np.ndarray:
        own = np.array([len(t.split()) for t in texts], dtype=np.int64)
        return np.stack([own + 2, own], axis=1)  # 2 markers around each text

    def encode_parts(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]:
        self.parts_heads += [head for head, _parts in items]
        return super().encode_parts(items)


COUNTING = _registered("fakecount", HashCountingEncoder)


def _composed(enc: HashCountingEncoder, chunks: list) -> np.ndarray:
    heads = [passage_input(c)[: -len(c.text)].rstrip("\n") for c in chunks]
    bodies = [c.text for c in chunks]
    return embedding.compose_passages(
        enc.encode(bodies), enc.encode(heads),
        enc.token_counts(bodies)[:, 0], enc.token_counts(heads)[:, 1],
    )


def test_compose_passages_weighs_body_and_head_by_their_tokens() -> None:
    body = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    head = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    got = embedding.compose_passages(body, head, np.array([30, 10]), np.array([10, 0]))
    assert np.allclose(got[0], np.array([3.0, 0.0, 1.0]) / np.sqrt(10.0))
    assert np.allclose(got[1], body[1])  # no head tokens: the body's own vector
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0)


@pytest.mark.parametrize("mode", ["bare", "passage"])
def test_heads_are_read_once_per_section_and_composed(tmp_path: Path, mode: str) -> None:
    vb = Vraagbaak(_settings(tmp_path).with_(encoder="fakecount:48", sentence_vectors=mode))
    rep = vb.ingest([CORPUS])
    enc = COUNTING["48"]
    ix = vb.index
    chunks = list(ix.chunks)
    assert ix.manifest["encoder"]["passages"] == "composed"
    heads = {passage_input(c)[: -len(c.text)] for c in chunks}
    assert len(heads) < len(chunks)  # sections hold several passages
    n_sent = len({c.text[s - c.start : e - c.start] for c in chunks for s, e in c.sentences})
    if mode == "bare":  # bodies, distinct heads and distinct sentences; no head twice
        assert rep.encoded <= len(chunks) + len(heads) + n_sent
        assert rep.encoded >= len(chunks) + len(heads)
    else:  # each body read once (its head left out), and each distinct head once
        assert rep.encoded == len(chunks) + len(heads)
        assert set(enc.parts_heads) == {""}
        c = next(c for c in chunks if len(c.sentences) > 1)
        rows = ix.sentence_vectors[ix.sent_offsets[c.id] : ix.sent_offsets[c.id + 1]]
        sentences = [c.text[s - c.start : e - c.start] for s, e in c.sentences]
        assert np.allclose(rows, enc.encode(sentences))
    assert np.allclose(ix.passage_vectors[:], _composed(enc, chunks), atol=1e-6)
    # not the passage read with its head: the head is not read once per passage
    whole = enc.encode([passage_input(c) for c in chunks])
    assert not np.allclose(ix.passage_vectors[:], whole, atol=1e-3)
    again = Vraagbaak(vb.settings).ingest([CORPUS])
    assert again.up_to_date


def test_passage_vectors_made_another_way_are_not_reused(tmp_path: Path) -> None:
    """An index whose passages were read whole (or made before ``passages`` was
    recorded) is rebuilt by the next ingest with a counting encoder, and lends none of
    its passage vectors."""
    s = _settings(tmp_path).with_(encoder="fakecount:56", sentence_vectors="bare")
    vb = Vraagbaak(s)
    vb.ingest([CORPUS])
    from vraagbaak.index.builder import _same_settings

    ix = vb.index
    assert _same_settings(ix, s, vb.encoder, s.analysis)
    ix.manifest["encoder"].pop("passages")
    assert not _same_settings(ix, s, vb.encoder, s.analysis)
    ix.manifest["encoder"]["passages"] = "whole"
    assert not _same_settings(ix, s, vb.encoder, s.analysis)
    from vraagbaak.index.store import previous_vectors

    look = previous_vectors(ix, vb.encoder.id, passages="composed")
    assert look is not None
    c = ix.chunks[0]
    assert embedding.passage_key(vb.encoder.id, passage_input(c), "composed") in look(
        [embedding.passage_key(vb.encoder.id, passage_input(c), "composed")]
    )
    assert not look([embedding.passage_key(vb.encoder.id, passage_input(c), "whole")])


class HashUpperEncoder(HashCountingEncoder):
    """:class:`HashCountingEncoder` with a sentence head: a part's head vector hashes
    ``upper:`` and its words, so it differs from its ``encode_parts`` vector."""

    upper_id = "fakehead-1"

    def __init__(self, arg: str = "") -> None:
        super().__init__(arg)
        self.id = f"fakeupper:{self.dim_}"
        self.upper_calls = 0

    def encode_parts_upper(self, items: list[tuple[str, list[str]]]) -> list[np.ndarray]:
        self.upper_calls += 1
        out = []
        for _head, parts in items:
            rows = self.encode(["".join(parts), *("upper: " + p for p in parts)])
            rows[1:][[not p.strip() for p in parts]] = 0.0
            out.append(rows)
        return out


UPPER = _registered("fakeupper", HashUpperEncoder)


def test_upper_sentence_vectors_come_from_the_head_and_are_kept_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``upper``: each passage is read once, its sentences' vectors are the head's; the
    manifest records it and the head's id, and vectors made by the head, by another head
    and by token means are never taken for each other (their cache keys differ)."""
    s = _settings(tmp_path).with_(encoder="fakeupper:40", sentence_vectors="upper")
    vb = Vraagbaak(s)
    rep = vb.ingest([CORPUS])
    enc = UPPER["40"]
    ix = vb.index
    assert ix.manifest["encoder"]["sentences"] == "upper"
    assert enc.upper_calls >= 1 and set(enc.parts_heads) == set()  # never encode_parts
    chunks = list(ix.chunks)
    heads = {passage_input(c)[: -len(c.text)] for c in chunks}
    assert rep.encoded == len(chunks) + len(heads)
    c = next(c for c in chunks if len(c.sentences) > 1)
    rows = ix.sentence_vectors[ix.sent_offsets[c.id] : ix.sent_offsets[c.id + 1]]
    sentences = [c.text[s - c.start : e - c.start] for s, e in c.sentences]
    assert np.allclose(rows, enc.encode(["upper: " + t for t in sentences]), atol=1e-6)
    assert Vraagbaak(s).ingest([CORPUS]).up_to_date
    late = Vraagbaak(s.with_(sentence_vectors="passage"))
    late.ingest([CORPUS])
    assert late.index.manifest["encoder"]["sentences"] == "passage"
    rows = late.index.sentence_vectors[
        late.index.sent_offsets[c.id] : late.index.sent_offsets[c.id + 1]
    ]
    assert np.allclose(rows, enc.encode(sentences), atol=1e-6)  # token means, not the head's
    back = Vraagbaak(s)
    calls = UPPER["40"].upper_calls
    rep = back.ingest([CORPUS])
    assert back.index.manifest["encoder"]["sentences"] == "upper"
    assert UPPER["40"].upper_calls == calls and rep.encoded == 0  # all from the cache
    assert back.index.manifest["encoder"]["sentence_model"] == "fakehead-1"
    monkeypatch.setattr(HashUpperEncoder, "upper_id", "fakehead-2")  # a new head
    other = Vraagbaak(s)
    rep = other.ingest([CORPUS])
    assert not rep.up_to_date and rep.encoded == len(chunks) + len(heads)
    assert other.index.manifest["encoder"]["sentence_model"] == "fakehead-2"


def test_the_candidates_the_reader_reads_are_compared_as_sentences_read_alone(
    tmp_path: Path,
) -> None:
    """With head vectors (``upper``) the read candidates' similarity, the answer's evidence
    and the choice come from each sentence read alone, as a ``bare`` index holds it; the
    path without the reader keeps the head's vectors (no encoder work per candidate)."""
    from vraagbaak.qa.answer import candidates
    from vraagbaak.qa.reader import ReaderCard
    from vraagbaak.qa.search import rank

    class Flat:  # a reader that tells no sentence from another: the cheap score chooses
        card = ReaderCard.load()

        def logits(
            self, question: str, sentences: list[str], contexts: list[str] | None = None
        ) -> np.ndarray:
            return np.zeros(len(sentences), dtype=np.float32)

    question = "Hoeveel raadsleden hebben de vragenlijst ingevuld?"
    for mode in ("upper", "bare"):
        s = _settings(tmp_path, mode).with_(encoder="fakeupper:40", sentence_vectors=mode)
        vb = Vraagbaak(s)
        vb.ingest([CORPUS])
        p = vb.pipeline()
        q = p.question(question)
        scores = p.scores(q)
        pool = rank(p.index, scores, p.retrieval(None, q), top_k=s.answering.passages)
        cands = candidates(p.index, q, pool, scores, s.answering)
        judged = p.judge(q, scores, cands, Flat())  # type: ignore[arg-type]
        best = judged.best
        assert best is not None
        c = p.index.chunks[best.chunk_id]
        alone = float(UPPER["40"].encode([c.text[best.start - c.start : best.end - c.start]])[0]
                      @ q.vector)
        assert best.dense == pytest.approx(alone, abs=1e-5)
        assert judged.evidence.answer_dense == pytest.approx(alone, abs=1e-5)
        cheap = p.judge(q, scores, cands, None).best
        assert cheap is not None
        head = scores.sentence_sims(cheap.chunk_id)
        assert head is not None and cheap.dense == pytest.approx(float(head[cheap.index]))
        if mode == "upper":  # the head's vector is not the sentence's read alone
            c = p.index.chunks[cheap.chunk_id]
            text = c.text[cheap.start - c.start : cheap.end - c.start]
            assert abs(cheap.dense - float(UPPER["40"].encode([text])[0] @ q.vector)) > 1e-3


def test_an_index_keeps_the_way_its_sentence_vectors_were_made(tmp_path: Path) -> None:
    """With ``auto`` (the default) a new index gets the sentence head (``upper``), and an
    index made another way keeps its way when files are added or removed, so nothing it
    holds is embedded again; asking for a way converts it."""
    folder = tmp_path / "docs"
    shutil.copytree(CORPUS, folder)
    extra = tmp_path / "extra.txt"
    extra.write_text("Een nieuw stuk\n\nDe raad vergadert op dinsdag. Het college besluit.\n",
                     "utf-8")
    base = _settings(tmp_path).with_(encoder="fakeupper:40")
    assert Vraagbaak(base.with_(index_dir=tmp_path / "new", sentence_vectors="auto")).ingest(
        [folder]).encoded > 0
    assert Vraagbaak(base.with_(index_dir=tmp_path / "new")).index.manifest["encoder"][
        "sentences"] == "upper"
    made = Vraagbaak(base.with_(sentence_vectors="bare"))
    made.ingest([folder])
    n = len(made.index)
    vb = Vraagbaak(base.with_(sentence_vectors="auto"))
    rep = vb.ingest([extra], add=True)
    assert vb.index.manifest["encoder"]["sentences"] == "bare"
    assert len(vb.index) == n + 1 and rep.reused >= n  # only the new file's passage was read
    assert 0 < rep.encoded < 10  # the new file's few texts, not the index's n passages
    vb.remove([str(extra)])
    assert vb.index.manifest["encoder"]["sentences"] == "bare" and len(vb.index) == n
    up = Vraagbaak(base.with_(sentence_vectors="upper"))
    up.ingest([folder])
    assert up.index.manifest["encoder"]["sentences"] == "upper"
