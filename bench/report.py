"""Run the evaluations and benchmarks and write a Markdown report with PNG charts.

    python bench/report.py OUT_DIR [--questions FILE] [--xquad FILE] [--xquad-limit N]
                           [--skip-xquad] [--skip-ingest] [--repeat 3] [--rounds 5]

Writes into OUT_DIR: ``report.md``, ``results.json``, ``quality_sample.png``,
``quality_xquad.png``, ``latency.png`` and ``ingest.png``. Indexes are built with the
embedding cache (``--cache``, default: the user cache), so repeat runs re-embed nothing;
the XQuAD paragraph index is reused from the cache folder as ``vraagbaak eval`` does.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ingest  # noqa: E402
import bench_query  # noqa: E402

from vraagbaak import Settings, Vraagbaak  # noqa: E402
from vraagbaak.evaluation import (  # noqa: E402
    EvalReport,
    load_eval,
    load_for_index,
    prepare_squad_index,
    run_eval,
)

SHARED = ROOT.parent / "shared"
FIGS = [("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"), ("mrr@10", "MRR@10"),
        ("answer_hit@1", "answer@1"), ("abstention_accuracy", "abstain-acc")]


def quality_chart(report: EvalReport, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = [m.figures() for m in report.methods]
    cols = [(k, h) for k, h in FIGS if any(f[k] is not None for f in figs)]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(figs)
    for i, f in enumerate(figs):
        xs = [j + i * width for j in range(len(cols))]
        vals = [f[k] or 0.0 for k, _ in cols]
        bars = ax.bar(xs, vals, width, label=f["method"])
        for b, v in zip(bars, vals, strict=True):
            ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.2f}", ha="center",
                    va="bottom", fontsize=7, rotation=90)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cols))], [h for _, h in cols])
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(ncol=len(figs), loc="upper center", fontsize=8, bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_chart(q: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    ask, enc = q["ask_ms"], q["encode_ms"]
    hi = sorted(ask + enc)[int(0.98 * (len(ask) + len(enc) - 1))]
    bins = [hi * i / 40 for i in range(41)]
    a1.hist([min(x, hi) for x in ask], bins=bins, alpha=0.6, label="ask (answer included)")
    a1.hist([min(x, hi) for x in enc], bins=bins, alpha=0.6, label="query encoding alone")
    for v, c, lab in ((q["ask_p50_ms"], "C0", "ask p50"), (q["ask_p95_ms"], "C0", "ask p95"),
                      (q["encode_p50_ms"], "C1", "encode p50")):
        a1.axvline(v, color=c, ls="--" if "p95" in lab else "-", lw=1)
        a1.text(v, a1.get_ylim()[1] * 0.95, f" {lab} {v:.0f}", color=c, fontsize=7,
                rotation=90, va="top")
    a1.set_xlabel("ms (clipped at the 98th percentile)")
    a1.set_ylabel("questions")
    a1.set_title(f"Warm ask latency: {q['questions']} questions x {q['rounds']} rounds")
    a1.legend(fontsize=8)
    st = q["stages_p50_ms"]
    a2.barh(list(st), list(st.values()), color="C2")
    for i, v in enumerate(st.values()):
        a2.text(v, i, f" {v:.1f}", va="center", fontsize=8)
    a2.set_xlabel("p50 ms")
    a2.set_title("Where an ask's time goes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ingest_chart(ing: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = ing["median"]
    labels = ["full build", "encoder inside it", "encoder alone", "second ingest",
              "fresh index,\nwarm cache"]
    vals = [m["full_s"], m["encoder_in_ingest_s"], m["encoder_alone_s"], m["second_s"],
            m["rebuild_from_cache_s"]]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.bar(labels, vals, color=["C0", "C1", "C1", "C2", "C2"])
    for b, v in zip(bars, vals, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.2f} s", ha="center", va="bottom",
                fontsize=8)
    ax.set_ylabel("seconds (median)")
    ax.set_title(f"Ingest of the bundled corpus ({ing['passages']} passages, "
                 f"{ing['texts_encoded']} texts embedded)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(report: EvalReport) -> list[str]:
    figs = [m.figures() for m in report.methods]
    cols = [(k, h) for k, h in FIGS if any(f[k] is not None for f in figs)]
    out = ["| method | " + " | ".join(h for _, h in cols) + " |",
           "|---|" + "---:|" * len(cols)]
    for f in figs:
        out.append(f"| {f['method']} | "
                   + " | ".join("-" if f[k] is None else f"{f[k]:.3f}" for k, _ in cols) + " |")
    return out


def write_markdown(out: Path, res: dict[str, Any], sample: EvalReport,
                   xquad: EvalReport | None) -> None:
    L = [f"# vraagbaak: evaluation and benchmarks ({res['when']})", "",
         f"Machine: {res['machine']}. Shared and noisy: timings are medians; compare ratios.", ""]
    s0 = sample.methods[0]
    L += [f"## Sample questions ({s0.n_questions} questions, {s0.n_answerable} answerable)", "",
          *table(sample), "", "![quality on the sample questions](quality_sample.png)", ""]
    if xquad is not None:
        x0 = xquad.methods[0]
        L += [f"## XQuAD-nl ({x0.n_questions} questions, {len(res['xquad']['paragraphs'])} "
              "paragraphs as documents)", "",
              f"Asking and scoring took {xquad.seconds:.0f} s for {len(xquad.methods)} methods; "
              f"index build {res['xquad']['build_s']:.0f} s "
              f"({'reused' if res['xquad']['up_to_date'] else 'built'}).", "",
              *table(xquad), "", "![quality on XQuAD-nl](quality_xquad.png)", ""]
    q = res.get("query")
    if q:
        L += ["## Query latency (warm, answer included)", "",
              "| | p50 ms | p95 ms |", "|---|---:|---:|",
              f"| ask (the default, reader on; target p50 <= 500) | {q['ask_p50_ms']:.1f} | "
              f"{q['ask_p95_ms']:.1f} |",
              f"| ask --no-reader | {q['ask_noreader_p50_ms']:.1f} | "
              f"{q['ask_noreader_p95_ms']:.1f} |",
              f"| one query encoding | {q['encode_p50_ms']:.1f} | {q['encode_p95_ms']:.1f} |", "",
              f"ask --no-reader p50 / encoding p50 = **{q['ratio_noreader_p50']:.2f}** "
              "(target <= 1.5). "
              "Stages (p50 ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in q["stages_p50_ms"].items()) + ".", "",
              f"Serving memory (load, warm up, answer the sample questions in a fresh process): "
              f"peak RSS **{q['memory']['peak_rss_mb']:.0f} MB**; RSS by step: "
              + ", ".join(f"{k} {v:.0f} MB" for k, v in q["memory"]["rss_mb"].items()) + ".", "",
              "![latency](latency.png)", ""]
    ing = res.get("ingest")
    if ing:
        m = ing["median"]
        L += [f"## Ingest (bundled corpus, medians of {ing['repeat']} rounds)", "",
              "| figure | value | target |", "|---|---:|---|",
              f"| full build, empty cache | {m['full_s']:.2f} s | |",
              f"| passages/s | {m['passages_per_s']:.1f} | |",
              f"| characters/s | {m['chars_per_s']:,.0f} | |",
              f"| ingest / encoder time inside it | {m['overhead_ratio']:.3f} | <= 1.10 |",
              "| ingest / encoder alone on the same texts | "
              f"{m['overhead_ratio_vs_alone']:.3f} | |",
              f"| second ingest (unchanged) / first | {m['second_share']:.4f} | <= 0.05 |",
              f"| fresh index from a warm cache | {m['rebuild_from_cache_s']:.2f} s | |", "",
              "![ingest](ingest.png)", ""]
    (out / "report.md").write_text("\n".join(L), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="folder to write the report into")
    ap.add_argument("--questions", type=Path, default=SHARED / "eval" / "questions.jsonl")
    ap.add_argument("--xquad", type=Path,
                    default=SHARED / "data" / "external" / "xquad-nl" / "xquad.nl.json")
    ap.add_argument("--xquad-limit", type=int, default=None, help="only the first N questions")
    ap.add_argument("--skip-xquad", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true", help="no ingest benchmark")
    ap.add_argument("--skip-query", action="store_true", help="no latency/memory benchmark")
    ap.add_argument("--repeat", type=int, default=3, help="ingest benchmark rounds")
    ap.add_argument("--rounds", type=int, default=5, help="latency rounds over the questions")
    ap.add_argument("--cache", type=Path, help="embedding cache (default: the user cache)")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    base = Settings() if args.cache is None else Settings(cache_dir=args.cache)
    res: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M"),
                           "machine": f"{platform.machine()}, {platform.python_version()}, "
                                      f"{__import__('os').cpu_count()} cores"}
    with tempfile.TemporaryDirectory(prefix="vb-report-") as tmp:
        vb = Vraagbaak(base.with_(index_dir=Path(tmp) / "corpus-index"))
        print("indexing the bundled corpus ...", file=sys.stderr)
        vb.ingest()
        print("evaluating the sample questions ...", file=sys.stderr)
        sample = run_eval(vb, load_for_index(args.questions, vb))
        res["sample"] = sample.to_dict()
        quality_chart(sample, f"Sample questions ({sample.methods[0].n_questions})",
                      out / "quality_sample.png")
        xq = None
        if not args.skip_xquad:
            print("evaluating XQuAD-nl ...", file=sys.stderr)
            es = load_eval(args.xquad)
            t0 = time.perf_counter()
            sub, es, build = prepare_squad_index(es, base)
            build_s = time.perf_counter() - t0
            xq = run_eval(Vraagbaak(sub), es, limit=args.xquad_limit, build=build)
            res["xquad"] = {**xq.to_dict(), "build_s": build_s, "up_to_date": build.up_to_date,
                            "paragraphs": sorted(es.documents)}
            quality_chart(xq, f"XQuAD-nl ({xq.methods[0].n_questions} questions)",
                          out / "quality_xquad.png")
        if not args.skip_query:
            print("measuring query latency and memory ...", file=sys.stderr)
            res["query"] = bench_query.run(vb.settings.index_dir, args.questions,
                                           encoder=base.encoder, rounds=args.rounds)
            latency_chart(res["query"], out / "latency.png")
    if not args.skip_ingest:
        print("measuring ingest ...", file=sys.stderr)
        res["ingest"] = bench_ingest.run(ROOT / "corpus", base.encoder, args.repeat)
        ingest_chart(res["ingest"], out / "ingest.png")
    write_markdown(out, res, sample, xq)
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False), "utf-8")
    print(f"wrote {out / 'report.md'}")


if __name__ == "__main__":
    main()
