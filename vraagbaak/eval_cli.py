"""``vraagbaak eval FILE``: score vraagbaak and the usual baselines on a question file.

The library work lives in :mod:`vraagbaak.evaluation`; this module parses, calls and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .errors import InputError
from .evaluation import ALL_METHODS, KS, EvalReport, Outcome

FIGURES = [(f"recall@{k}", f"R@{k}") for k in KS] + [
    ("mrr@10", "MRR@10"), ("answer_hit@1", "answer@1"), ("abstention_accuracy", "abstain-acc"),
]


def register(subparsers: Any) -> None:
    """Add the ``eval`` sub-command (once: ``cli.main`` may hand us the same parser again)."""
    if "eval" in getattr(subparsers, "choices", {}):
        return
    s = subparsers.add_parser(
        "eval",
        help="score retrieval and answers on a question file (and compare with baselines)",
        description=(
            "Score vraagbaak on FILE: a jsonl question file with evidence strings (asked of "
            "the index: --index, or the bundled corpus) or a SQuAD-style JSON (its paragraphs "
            "are indexed under the cache folder, reused on repeat runs). Reports recall@1/5/10, "
            "MRR@10, answer hit@1 and abstention accuracy for each method."
        ),
    )
    s.add_argument("file", metavar="FILE",
                   help="questions (.jsonl as in the eval README, or SQuAD .json)")
    s.add_argument("--methods", default=",".join(ALL_METHODS), metavar="M[,M...]",
                   help=f"methods to compare (default: {','.join(ALL_METHODS)})")
    s.add_argument("--limit", type=int, default=None, metavar="N",
                   help="only the first N questions")
    s.add_argument("--failures", type=int, default=15, metavar="N",
                   help="failed questions to list for the first method (default 15; -1: all)")
    s.add_argument("--json", action="store_true",
                   help="print one JSON object (figures and all failures)")
    s.set_defaults(func=cmd_eval)


def _progress(label: str) -> tuple[Any, Any]:
    from .cli import _progress_bar

    progress, close = _progress_bar()

    def tick(done: int, total: int) -> None:
        progress(label, done, total)

    return tick, close


def cmd_eval(args: argparse.Namespace) -> int:
    from .api import Vraagbaak
    from .cli import _progress_bar, settings_from_args
    from .evaluation import check_methods, load_eval, load_for_index, prepare_squad_index, run_eval

    methods = check_methods(args.methods.split(","))
    if args.limit is not None and args.limit <= 0:
        raise InputError(f"--limit must be greater than 0. Currently it is {args.limit}.")
    settings = settings_from_args(args)
    eval_set = load_eval(args.file)  # fails early on a bad file; jsonl evidence located below
    build = None
    ingest_progress, close = _progress_bar()
    try:
        if eval_set.kind == "squad":
            if args.index:
                print("note: a SQuAD file is asked of its own paragraph index; "
                      "--index is not used.", file=sys.stderr)
            print(f"Indexing the {len(eval_set.documents)} paragraphs of {args.file} "
                  "(reused when unchanged) ...", file=sys.stderr)
            sub, eval_set, build = prepare_squad_index(eval_set, settings, progress=ingest_progress)
            vb = Vraagbaak(sub)
        else:
            vb = Vraagbaak(settings)
            if vb.needs_index():
                print(f"{vb.build_notice()} first ...", file=sys.stderr)
                build = vb.ensure_index(progress=ingest_progress)
            eval_set = load_for_index(args.file, vb)
    finally:
        close()
    tick, close = _progress("Asking questions")
    try:
        report = run_eval(vb, eval_set, methods=methods, limit=args.limit, progress=tick,
                          build=build)
    finally:
        close()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_report(report, failures=args.failures)
    return 0


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_table(report: EvalReport) -> list[str]:
    """The figures of every method as aligned text lines."""
    cols = [(k, h) for k, h in FIGURES if any(m.figures()[k] is not None for m in report.methods)]
    w = max([8, *(len(m.method) for m in report.methods)])
    lines = [f"{'method':<{w}}" + "".join(f"{h:>12}" for _, h in cols)]
    for m in report.methods:
        f = m.figures()
        lines.append(f"{m.method:<{w}}" + "".join(f"{_fmt(f[k]):>12}" for k, _ in cols))
    return lines


def _short(text: str | None, n: int = 160) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= n else t[: n - 1] + "…"


def _describe(o: Outcome) -> list[str]:
    out = [f"  {o.id}  {_short(o.question, 120)}"]
    if not o.answerable:
        out.append(f"      should abstain; answered: \"{_short(o.answer)}\"")
        return out
    rank = f"rank {o.first_hit_rank}" if o.first_hit_rank else "not in the top 10"
    verdict = "hit" if o.answer_hit else "miss"
    ans = "abstained" if o.abstained else f"\"{_short(o.answer)}\" ({verdict})"
    out.append(f"      gold passage: {rank}; answer: {ans}")
    if o.first_hit_rank != 1 and o.top_passage:
        src, a, b = o.top_passage
        out.append(f"      top passage instead: {src} [{a}:{b}] \"{_short(o.top_text, 120)}\"")
    return out


def print_report(report: EvalReport, *, failures: int = 15) -> None:
    first = report.methods[0]
    print(f"{report.file} ({report.kind}): {first.n_questions} questions, {first.n_answerable} "
          f"answerable; index {report.index_dir}; {report.seconds:.1f} s")
    if report.build is not None and not report.build.up_to_date:
        b = report.build
        print(f"  (index built: {b.documents} documents, {b.chunks} passages, {b.encoded} texts "
              f"embedded, {b.reused} from cache, {b.seconds:.1f} s)")
    if report.unlocated:
        print(f"  warning: evidence found in no indexed source for {', '.join(report.unlocated)} "
              "(these count as misses)")
    print()
    for line in format_table(report):
        print(line)
    fails = first.failures
    if failures == 0 or not fails:
        return
    shown = fails if failures < 0 else fails[:failures]
    more = f", first {len(shown)} shown (--failures N for more)" if len(shown) < len(fails) else ""
    print(f"\nFailed questions ({first.method}): {len(fails)} of {first.n_questions}{more}")
    for o in shown:
        for line in _describe(o):
            print(line)
