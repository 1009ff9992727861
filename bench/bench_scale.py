"""Scale benchmark: the shipped :class:`~vraagbaak.index.reader.Index` over N generated
passages (default one million).

    python bench/bench_scale.py --n 20000 --dir /tmp/vb-scale-20k      # try small first
    python bench/bench_scale.py --n 1000000 --dir /tmp/vb-scale

Build (in ``--dir``/index): synthetic Dutch-looking documents of ``--per-doc`` passages,
each passage two sentences of 12-30 words drawn from the bundled corpus' word frequencies
(so the real analysis, compound splitting included, runs on every passage). They go
through the real writer, :func:`vraagbaak.index.store.build_generation` (stored texts,
``chunks.jsonl`` with its offset tables, passage and sentence vectors, the dense index,
BM25, manifest and checksums) and are swapped in like an ingest. Only the encoder is a
stand-in: ``bench:384`` turns a text into a deterministic vector from its CRC32 (one of
1,024 topic directions plus noise), so nothing is embedded by a model; the vectors mean
nothing, they only give FAISS and the exact rescoring the shapes and sizes of real ones.

Query (a fresh process per run, ``--phase query``): ``Vraagbaak(Settings(index_dir=...))``
as a user would open it, with the page cache of the index files emptied first
(``posix_fadvise(DONTNEED)``, ``cold``) and again without (``warm``):

- ``Index.open`` (first use of ``vb.index``) and the first answer (``vb.ask``);
- retrieval p50/p95 (``vb.search``, top 10; query encoding is negligible with this encoder)
  and ``ask`` p50/p95 (answer included), over 200 queries: sentence beginnings of random
  passages and the 32 sample questions;
- RSS after open, after the first answer and at the end (split into the process's own
  memory, ``RssAnon``, and mapped pages of the index files, ``RssFile``: page cache that
  the kernel can drop and other processes share), and the peak (VmHWM);
- recall@10 of the dense candidate search (``method="dense"``) against exact search over
  all N passage vectors.

2 shared cores: timings are noisy; compare medians taken in one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUESTIONS = ROOT.parent / "shared" / "eval" / "questions.jsonl"
DIM = 384


def status_mb(field: str) -> float:
    """A figure of ``/proc/self/status`` in MB (``VmRSS``, ``VmHWM``: the peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def say(msg: str) -> None:
    print(msg, flush=True)


class BenchEncoder:
    """A deterministic stand-in encoder: a text's CRC32 picks one of 1,024 topic
    directions and one of 4,096 noise vectors; their normalised sum is its vector."""

    def __init__(self, arg: str = "") -> None:
        self.dim = int(arg) if arg else DIM
        self.id = f"bench:{self.dim}"
        rng = np.random.default_rng(7)
        self._topics = rng.standard_normal((1024, self.dim)).astype(np.float32)
        self._noise = 0.8 * rng.standard_normal((4096, self.dim)).astype(np.float32)

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        h = np.array([zlib.crc32(t.encode("utf-8")) for t in texts], dtype=np.int64)
        v = self._topics[(h >> 16) % 1024] + self._noise[h % 4096]
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _register() -> None:
    from vraagbaak.index.encoders import register_encoder

    register_encoder("bench", BenchEncoder)


# -- build ---------------------------------------------------------------------


def corpus_words() -> tuple[list[str], np.ndarray]:
    """The bundled corpus' words and their relative frequencies."""
    counts: Counter[str] = Counter()
    for p in sorted((ROOT / "corpus").glob("*")):
        if p.suffix in {".txt", ".md"}:
            counts.update(re.findall(r"[^\W\d_]{2,}", p.read_text("utf-8").lower()))
    words = sorted(counts)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return words, freq / freq.sum()


def generate(n: int, per_doc: int, seed: int = 0) -> tuple[list[Any], list[list[Any]]]:
    """``n`` passages in documents of ``per_doc``: (Document, path) pairs and their chunks,
    with exact offsets as the chunker gives them."""
    from vraagbaak.types import Chunk, Document

    words, p = corpus_words()
    rng = np.random.default_rng(seed)
    lengths = rng.integers(12, 31, size=(n, 2))
    drawn = rng.choice(len(words), size=int(lengths.sum()), p=p)
    pos = 0
    documents, chunks_by_doc = [], []
    for d in range(0, n, per_doc):
        title = f"Synthetisch rapport {d // per_doc + 1}"
        source = f"synth/rapport-{d // per_doc + 1:05d}.txt"
        parts, chunks, offset, line = [title, "\n\n"], [], len(title) + 2, 3
        for i in range(d, min(n, d + per_doc)):
            sents = []
            for k in range(2):
                ws = [words[j] for j in drawn[pos : pos + lengths[i, k]]]
                pos += lengths[i, k]
                sents.append(" ".join(ws).capitalize() + ".")
            text = f"{sents[0]} {sents[1]}"
            s2 = offset + len(sents[0]) + 1
            chunks.append(Chunk(
                id=0, source=source, title=title, section=None, start=offset,
                end=offset + len(text), text=text, line=line, page=None,
                sentences=((offset, offset + len(sents[0])), (s2, s2 + len(sents[1]))),
            ))
            parts += [text, "\n\n"]
            offset += len(text) + 2
            line += 2
        body = "".join(parts)
        sha = hashlib.sha256(body.encode("utf-8")).hexdigest()
        documents.append((Document(source=source, text=body, title=title, sha256=sha),
                          f"/synthetic/{source}"))
        chunks_by_doc.append(chunks)
    return documents, chunks_by_doc


def build(args: argparse.Namespace, index_dir: Path) -> dict[str, Any]:
    from vraagbaak.index.analysis import Analyzer
    from vraagbaak.index.cache import EmbeddingCache
    from vraagbaak.index.encoders import get_encoder
    from vraagbaak.index.layout import new_generation_dir, write_lock
    from vraagbaak.index.store import BuildReport, build_generation, passage_input, swap_in
    from vraagbaak.settings import AnalysisSettings, ChunkSettings

    out: dict[str, Any] = {"n": args.n}
    t0 = time.perf_counter()
    documents, chunks_by_doc = generate(args.n, args.per_doc)
    out["generate_s"] = time.perf_counter() - t0
    sample = [passage_input(c) for c in chunks_by_doc[0][:2000]]
    t0 = time.perf_counter()
    n_terms = sum(len(Analyzer().terms(t)) for t in sample)
    out["analysis_terms_per_s"] = n_terms / (time.perf_counter() - t0)
    out["terms_per_passage"] = n_terms / len(sample)

    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "embedding" and done >= total and "embedded" not in marks:
            marks["embedded"] = time.perf_counter()

    report = BuildReport()
    t0 = time.perf_counter()
    with write_lock(index_dir):
        gen = new_generation_dir(index_dir)
        gen.mkdir()
        build_generation(
            gen, documents, chunks_by_doc, encoder=get_encoder("bench:384"),
            encoder_spec="bench:384", chunking=ChunkSettings(), analysis=AnalysisSettings(),
            cache=EmbeddingCache(None), report=report, progress=progress,
        )
        swap_in(index_dir, gen)
    end = time.perf_counter()
    out["build_generation_s"] = end - t0
    out["build_embedding_s"] = marks.get("embedded", end) - t0
    out["build_rest_s"] = end - marks.get("embedded", end)
    out["build_peak_rss_mb"] = status_mb("VmHWM")
    for name in ("chunks.jsonl", "passages.faiss", "passages.npy", "sentences.npy", "bm25",
                 "texts"):
        out[f"disk_{name}_mb"] = du_mb(gen / name)
    out["disk_total_mb"] = du_mb(gen)
    return out


# -- query ---------------------------------------------------------------------


def queries(index: Any, n: int = 168, seed: int = 1) -> list[str]:
    """Beginnings of random passages' sentences, and the sample questions."""
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(index.chunks), n, replace=False):
        c = index.chunks[int(i)]
        out.append(" ".join(c.text.split()[: int(rng.integers(4, 9))]))
    if QUESTIONS.exists():
        out += [json.loads(x)["question"] for x in QUESTIONS.read_text("utf-8").splitlines()
                if x.strip()]
    return out


def evict(gen: Path) -> None:
    """Drop the index files from the page cache (clean pages only; no other file)."""
    for p in gen.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def exact_top(vecs: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids by inner product, reading the vectors in blocks."""
    best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    for a in range(0, len(vecs), 200_000):
        s = q @ np.asarray(vecs[a : a + 200_000], dtype=np.float32).T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        best_i = np.concatenate([best_i, top + a], axis=1)
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


def query(args: argparse.Namespace, index_dir: Path) -> dict[str, Any]:
    """One fresh process's figures (see the module docstring)."""
    from vraagbaak import Settings, Vraagbaak
    from vraagbaak.index.encoders import get_encoder
    from vraagbaak.index.reader import Index

    out: dict[str, Any] = {"rss_start_mb": status_mb("VmRSS")}
    qs = json.loads((index_dir.parent / "queries.json").read_text("utf-8"))
    get_encoder("bench:384")  # the stand-in's tables are not the index's cost
    t0 = time.perf_counter()
    Index.open(index_dir).close()
    out["index_open_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vb = Vraagbaak(Settings(index_dir=index_dir, encoder="bench:384",
                            cache_dir=index_dir.parent / "cache"))
    ix = vb.index
    out["rss_after_open_mb"] = status_mb("VmRSS")
    t1 = time.perf_counter()
    vb.ask(qs[0])
    out["first_answer_s"] = time.perf_counter() - t1
    out["open_and_first_answer_s"] = time.perf_counter() - t0
    out["rss_after_first_answer_mb"] = status_mb("VmRSS")
    for q in qs[1:6]:
        vb.search(q, top_k=10)
    search_t, ask_t = [], []
    for q in qs:
        t = time.perf_counter()
        vb.search(q, top_k=10)
        search_t.append(time.perf_counter() - t)
    for q in qs:
        t = time.perf_counter()
        vb.ask(q)
        ask_t.append(time.perf_counter() - t)
    ms = lambda xs, p: 1000 * float(np.percentile(xs, p))  # noqa: E731
    out["queries"] = len(qs)
    out["retrieval_p50_ms"], out["retrieval_p95_ms"] = ms(search_t, 50), ms(search_t, 95)
    out["ask_p50_ms"], out["ask_p95_ms"] = ms(ask_t, 50), ms(ask_t, 95)
    out["rss_after_queries_mb"] = status_mb("VmRSS")
    out["rss_anon_after_queries_mb"] = status_mb("RssAnon")  # the process's own memory
    out["rss_file_after_queries_mb"] = status_mb("RssFile")  # mapped index pages (page cache)
    out["peak_rss_mb"] = status_mb("VmHWM")
    if args.recall:
        sample = qs[:50]
        qv = np.asarray(vb.encoder.encode(sample, is_query=True), dtype=np.float32)
        truth = exact_top(ix.passage_vectors, qv, 10)
        got = [[h.chunk.id for h in vb.search(q, top_k=10, method="dense")] for q in sample]
        out["recall10_dense_candidates_vs_exact"] = float(
            np.mean([len(set(t.tolist()) & set(g)) / 10 for t, g in zip(truth, got, strict=True)])
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="passages (default 1,000,000)")
    p.add_argument("--per-doc", type=int, default=500, help="passages per document")
    p.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder)")
    p.add_argument("--phase", choices=["all", "build", "query", "queries"], default="all")
    p.add_argument("--cold", action="store_true", help="(query phase) empty the page cache first")
    p.add_argument("--recall", action="store_true", help="(query phase) measure dense recall")
    args = p.parse_args()
    _register()
    work = args.dir or Path(tempfile.mkdtemp(prefix="vb-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    index_dir = work / "index"
    if args.phase == "query":
        if args.cold:
            from vraagbaak.index.layout import live_generation

            evict(live_generation(index_dir) or index_dir)
        print(json.dumps(query(args, index_dir)))
        return
    res: dict[str, Any] = {}
    if args.phase in ("all", "build"):
        say(f"building {args.n:,} passages in {work} ...")
        res.update(build(args, index_dir))
        for k, v in res.items():
            say(f"{k:34s} {v:.3f}" if isinstance(v, float) else f"{k:34s} {v}")
    if args.phase in ("all", "build", "queries"):
        from vraagbaak.index.reader import Index

        ix = Index.open(index_dir)
        (work / "queries.json").write_text(json.dumps(queries(ix), ensure_ascii=False), "utf-8")
        ix.close()
    if args.phase == "build":
        return
    for label, extra in (("cold", ["--cold", "--recall"]), ("warm", [])):
        cmd = [sys.executable, __file__, "--dir", str(work), "--phase", "query", *extra]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        res.update({f"{label}_{k}": v for k, v in got.items()})
    for k, v in res.items():
        say(f"{k:40s} {v:.3f}" if isinstance(v, float) else f"{k:40s} {v}")


if __name__ == "__main__":
    main()
