"""Scale benchmark: retrieval over N generated passages (default one million).

    python bench/bench_scale.py --n 100000          # try small first
    python bench/bench_scale.py --n 1000000 --dir /tmp/vb-scale

What it builds (in ``--dir``), the way ``build_generation`` does:

- dense: real e5 embeddings of the bundled corpus' passages and sentences, perturbed into
  two levels of clusters (topics around each real vector, passages around each topic),
  stored float16 with ``np.lib.format.open_memmap`` like ``passages.npy``; the dense index
  from :func:`vraagbaak.index.ann.make_dense_index` (IVF-SQ8 beyond 50k);
- lexical: passages of 40-120 terms drawn from the corpus' analysed vocabulary (half from
  the passage's topic passage, half from the corpus unigram distribution), indexed by bm25s
  from int32 term ids exactly as ``build_generation`` does. Text analysis itself is not
  repeated a million times: its throughput is measured on the corpus and printed, so its
  share of a real ingest can be extrapolated.

Queries: the 32 sample questions and sentences of the corpus (as e5 queries, encoded
before timing). Each query runs the real :func:`vraagbaak.qa.search.score_all` (FAISS
top-200 ∪ BM25 top-200 candidates, exact rescoring from the memory-mapped vectors) and
the hybrid fusion. The query phase runs in a fresh process, so its memory figures are
those of a server that opened the index.

Printed: build times, index sizes on disk, peak memory of build and query processes,
query p50/p95 (query encoding excluded), and recall@10 of the candidate search against
exact search over all N vectors. Targets: p50 <= 50 ms, recall@10 >= 0.95, dense index
memory <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT.parent / "shared" / "eval" / "questions.jsonl"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def say(msg: str) -> None:
    print(msg, flush=True)


# -- build ---------------------------------------------------------------------


def real_vectors(work: Path) -> dict[str, Any]:
    """e5 vectors and analysed terms of the bundled corpus, and e5 query vectors."""
    from vraagbaak import Settings, Vraagbaak
    from vraagbaak.index.store import Index, passage_input

    settings = Settings(index_dir=work / "corpus-index", cache_dir=work / "cache")
    vb = Vraagbaak(settings)
    if not vb.has_index():
        vb.ingest()
    ix = Index.open(settings.index_dir)
    passages = np.asarray(ix.passage_vectors, dtype=np.float32)
    sentences = np.asarray(ix.sentence_vectors, dtype=np.float32)
    texts = [passage_input(c) for c in ix.chunks]
    t0 = time.perf_counter()
    terms = [ix.analyzer.terms(t) for t in texts]
    analysis_s = time.perf_counter() - t0
    n_terms = sum(len(t) for t in terms)
    lines = QUESTIONS.read_text("utf-8").splitlines()
    questions = [json.loads(x)["question"] for x in lines if x.strip()]
    sent_texts = [c.text[s - c.start : e - c.start] for c in ix.chunks for s, e in c.sentences]
    rng = np.random.default_rng(1)
    extra = [sent_texts[i] for i in rng.choice(len(sent_texts), 168, replace=False)]
    queries = questions + extra
    qvecs = vb.encoder.encode(queries, is_query=True)
    return {
        "passages": passages,
        "sentences": sentences,
        "terms": terms,
        "queries": queries,
        "qvecs": np.asarray(qvecs, dtype=np.float32),
        "sent_chunk": ix.sent_chunk,
        "analysis_terms_per_s": n_terms / analysis_s,
        "terms_per_passage": n_terms / len(terms),
    }


def generate_vectors(path: Path, n: int, bases: np.ndarray, seed: int = 0) -> np.ndarray:
    """``n`` float16 vectors in a memory-mapped .npy: topics around the real vectors,
    passages around the topics. Returns the topic (real base) of every passage."""
    rng = np.random.default_rng(seed)
    dim = bases.shape[1]
    n_topics = max(len(bases), n // 100)
    topic_base = rng.integers(0, len(bases), n_topics)
    topics = bases[topic_base] + rng.normal(0, 0.025, (n_topics, dim)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    base_of = np.empty(n, dtype=np.int64)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        t = rng.integers(0, n_topics, b - a)
        x = topics[t] + rng.normal(0, 0.02, (b - a, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[a:b] = x
        base_of[a:b] = topic_base[t]
    out.flush()
    del out
    return base_of


def generate_terms(
    n: int, base_of: np.ndarray, base_terms: list[list[str]], seed: int = 0
) -> tuple[list[np.ndarray], dict[str, int]]:
    """Term ids of ``n`` generated passages over the corpus vocabulary."""
    rng = np.random.default_rng(seed)
    vocab: dict[str, int] = {}
    base_ids = [
        np.array([vocab.setdefault(t, len(vocab)) for t in ts] or [0], dtype=np.int32)
        for ts in base_terms
    ]
    counts = Counter(t for ts in base_terms for t in ts)
    uni_ids = np.array([vocab[t] for t in counts], dtype=np.int32)
    uni_p = np.array(list(counts.values()), dtype=np.float64)
    uni_p /= uni_p.sum()
    lengths = rng.integers(40, 121, n)
    docs: list[np.ndarray] = []
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        glob = rng.choice(uni_ids, size=int(lengths[a:b].sum()), p=uni_p)
        pos = 0
        for i in range(a, b):
            m = int(lengths[i])
            own = base_ids[int(base_of[i]) % len(base_ids)]
            half = m // 2
            doc = np.concatenate([own[rng.integers(0, len(own), half)], glob[pos : pos + m - half]])
            pos += m - half
            docs.append(doc.astype(np.int32))
    return docs, vocab


def build(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from vraagbaak.index.ann import choose_params, make_dense_index, save_dense_index
    from vraagbaak.index.store import import_bm25s

    out: dict[str, Any] = {"n": args.n}
    t0 = time.perf_counter()
    real = real_vectors(work)
    out["corpus_prep_s"] = time.perf_counter() - t0
    bases = np.concatenate([real["passages"], real["sentences"]])
    np.save(work / "queries.npy", real["qvecs"])
    (work / "queries.json").write_text(json.dumps(real["queries"], ensure_ascii=False), "utf-8")
    out["analysis_terms_per_s"] = real["analysis_terms_per_s"]
    out["corpus_terms_per_passage"] = real["terms_per_passage"]

    t0 = time.perf_counter()
    base_of = generate_vectors(work / "passages.npy", args.n, bases)
    out["generate_vectors_s"] = time.perf_counter() - t0
    vecs = np.load(work / "passages.npy", mmap_mode="r")

    params = choose_params(args.n)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = make_dense_index(vecs, params)
    out["dense_build_s"] = time.perf_counter() - t0
    out["dense_build_rss_mb"] = rss_mb() - rss0
    save_dense_index(index, work / "passages.faiss")
    del index
    out["dense_params"] = params.to_dict()
    out["dense_index_mb"] = du_mb(work / "passages.faiss")
    out["vectors_npy_mb"] = du_mb(work / "passages.npy")

    # a sentence's terms are those of its passage
    owner = np.concatenate([np.arange(len(real["terms"])), real["sent_chunk"]])
    base_terms = [real["terms"][int(i)] for i in owner]
    t0 = time.perf_counter()
    docs, vocab = generate_terms(args.n, base_of, base_terms)
    out["generate_terms_s"] = time.perf_counter() - t0
    out["terms_total"] = int(sum(len(d) for d in docs))
    bm25s = import_bm25s()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    bm25 = bm25s.BM25()
    bm25.index((docs, vocab), show_progress=False)
    out["bm25_build_s"] = time.perf_counter() - t0
    out["bm25_build_rss_mb"] = rss_mb() - rss0
    bm25.save(str(work / "bm25"), show_progress=False)
    del bm25, docs
    out["bm25_index_mb"] = du_mb(work / "bm25")
    out["build_peak_rss_mb"] = peak_mb()
    return out


# -- query (fresh process) -----------------------------------------------------


class _BenchIndex:
    """What :func:`score_all` reads from an :class:`Index`, over the generated files.
    Every passage has one sentence (its own vector), so sentence scoring costs one row
    per candidate."""

    def __init__(self, work: Path, n: int) -> None:
        from vraagbaak.index.analysis import Analyzer
        from vraagbaak.index.ann import choose_params, load_dense_index
        from vraagbaak.index.store import import_bm25s

        self.chunks = range(n)
        self.analyzer = Analyzer()
        self.faiss_index = load_dense_index(work / "passages.faiss", choose_params(n))
        self.passage_vectors = np.load(work / "passages.npy", mmap_mode="r")
        self.sentence_vectors = self.passage_vectors
        self.sent_offsets = np.arange(n + 1, dtype=np.int64)
        self.bm25 = import_bm25s().BM25.load(str(work / "bm25"), load_vocab=True, mmap=True)


class _LookupEncoder:
    id = "bench"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])


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


def query(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from vraagbaak.qa.search import RetrievalSettings, fuse, score_all

    out: dict[str, Any] = {"query_rss_start_mb": rss_mb()}
    t0 = time.perf_counter()
    ix = _BenchIndex(work, args.n)
    _ = ix.bm25.vocab_dict
    out["open_s"] = time.perf_counter() - t0
    out["query_rss_after_open_mb"] = rss_mb()
    qvecs = np.load(work / "queries.npy")
    queries = json.loads((work / "queries.json").read_text("utf-8"))
    enc = _LookupEncoder(dict(zip(queries, qvecs, strict=True)))
    rs = RetrievalSettings()

    for q in queries[:5]:  # warm-up: first touches of the memory maps
        score_all(ix, enc, q)  # type: ignore[arg-type]
    total, dense_t, lex_t, approx = [], [], [], []
    for q, v in zip(queries, qvecs, strict=True):
        t0 = time.perf_counter()
        scores = score_all(ix, enc, q)  # type: ignore[arg-type]
        fused = fuse(scores, rs)
        _top = scores.ids[np.argsort(-fused, kind="stable")[:10]]
        total.append(time.perf_counter() - t0)
        approx.append(scores.ids[np.argsort(-scores.dense, kind="stable")[:10]])
        t0 = time.perf_counter()
        ix.faiss_index.search(v.reshape(1, -1), 200)
        dense_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        terms = [t for t in ix.analyzer.terms(q) if t in ix.bm25.vocab_dict]
        if terms:
            ix.bm25.get_scores(terms)
        lex_t.append(time.perf_counter() - t0)
    out["query_rss_after_queries_mb"] = rss_mb()
    out["query_peak_rss_mb"] = peak_mb()
    ms = lambda xs, p: 1000 * float(np.percentile(xs, p))  # noqa: E731
    out["queries"] = len(queries)
    out["retrieval_p50_ms"], out["retrieval_p95_ms"] = ms(total, 50), ms(total, 95)
    out["faiss_p50_ms"], out["faiss_p95_ms"] = ms(dense_t, 50), ms(dense_t, 95)
    out["bm25_p50_ms"], out["bm25_p95_ms"] = ms(lex_t, 50), ms(lex_t, 95)

    t0 = time.perf_counter()
    truth = exact_top(ix.passage_vectors, qvecs, 10)
    out["exact_scan_s_all_queries"] = time.perf_counter() - t0
    _, raw = ix.faiss_index.search(qvecs, 10)
    out["recall10_candidates_vs_exact"] = float(
        np.mean([len(set(t) & set(a)) / 10 for t, a in zip(truth, approx, strict=True)])
    )
    out["recall10_raw_faiss_vs_exact"] = float(
        np.mean([len(set(t) & set(a)) / 10 for t, a in zip(truth, raw, strict=True)])
    )
    ivf = _ivf(ix.faiss_index)
    if ivf is not None:  # how nprobe trades time for recall (candidates: FAISS top 200)
        chosen = ivf.nprobe
        for nprobe in sorted({max(1, ivf.nlist // d) for d in (32, 16, 8, 4)}):
            ivf.nprobe = nprobe
            t0 = time.perf_counter()
            for v in qvecs:
                ix.faiss_index.search(v.reshape(1, -1), 200)
            per_q = 1000 * (time.perf_counter() - t0) / len(qvecs)
            _, cand = ix.faiss_index.search(qvecs, 200)
            hits = [len(set(t) & set(c)) / 10 for t, c in zip(truth, cand, strict=True)]
            out[f"nprobe_{nprobe}_top200_recall10"] = float(np.mean(hits))
            out[f"nprobe_{nprobe}_mean_ms"] = per_q
        ivf.nprobe = chosen
    return out


def _ivf(index: Any) -> Any:
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="passages (default 1,000,000)")
    p.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder)")
    p.add_argument("--phase", choices=["all", "build", "query"], default="all")
    args = p.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="vb-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VRAAGBAAK_CACHE", str(work / "cache"))
    if args.phase == "query":
        print(json.dumps(query(args, work)))
        return
    if args.phase in ("all", "build"):
        say(f"building {args.n:,} passages in {work} ...")
        t0 = time.perf_counter()
        res = build(args, work)
        res["build_total_s"] = time.perf_counter() - t0
    if args.phase == "all":
        cmd = [sys.executable, __file__, "--n", str(args.n), "--dir", str(work), "--phase", "query"]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        res.update(json.loads(done.stdout.strip().splitlines()[-1]))
    for k, v in res.items():
        say(f"{k:34s} {v:.3f}" if isinstance(v, float) else f"{k:34s} {v}")
    targets = [
        ("query p50 <= 50 ms", res.get("retrieval_p50_ms", 1e9) <= 50),
        ("recall@10 vs exact >= 0.95", res.get("recall10_candidates_vs_exact", 0) >= 0.95),
        ("dense index <= 1 GB", res["dense_index_mb"] <= 1000),
    ]
    for name, ok in targets:
        say(f"target {name:30s} {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
