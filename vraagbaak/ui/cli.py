"""The ``vraagbaak ui`` sub-command: serve the web app (see :mod:`vraagbaak.ui.app`)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import IndexBuilder

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the app until interrupted. Builds the bundled corpus's index if there is none."""
    from ..api import Vraagbaak
    from ..cli import settings_from_args
    from ..errors import InputError
    from .app import IndexBuilder, serve

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be between 1 and 65535. Currently --port is {args.port}.")
    vb = Vraagbaak(settings_from_args(args))
    if args.host not in LOCAL_HOSTS:
        print(
            f"vraagbaak: warning: the app listens on {args.host}, so other computers on the "
            "network can reach it.",
            file=sys.stderr,
        )
    builder = IndexBuilder(vb)
    if vb.needs_index():
        print(f"{vb.build_notice()} (progress below and in the page; a few minutes on a "
              "laptop).", file=sys.stderr, flush=True)
        threading.Thread(target=report_build, args=(builder,), daemon=True).start()
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"vraagbaak: open http://{shown}:{args.port} (Ctrl+C stops it)",
          file=sys.stderr, flush=True)
    serve(vb, host=args.host, port=args.port, block=True, builder=builder)
    return 0


def report_build(builder: IndexBuilder, *, every: float = 10.0) -> None:
    """Print the build's progress on stderr every ``every`` seconds, with the time left,
    also when stderr is not a terminal (a log, a service), until the index is ready."""
    started = time.monotonic()
    first: tuple[float, int] | None = None
    while True:
        time.sleep(every if first else 1.0)
        st = builder.state
        if st.error:
            print(f"vraagbaak: {st.error}", file=sys.stderr, flush=True)
            return
        if st.ready:
            took = time.monotonic() - started
            print(f"vraagbaak: the index is ready ({took:.0f} s).", file=sys.stderr, flush=True)
            return
        if st.stage != "embedding" or not st.total:
            continue
        now = time.monotonic()
        if first is None:
            first = (now, st.done)
            left = ""
        else:
            rate = (st.done - first[1]) / max(now - first[0], 1e-9)
            secs = (st.total - st.done) / rate if rate > 0 else None
            left = (
                "" if secs is None
                else f", about {secs:.0f} s left" if secs < 90
                else f", about {secs / 60:.0f} min left"
            )
        print(f"vraagbaak: building the index: {st.done}/{st.total} texts embedded{left}",
              file=sys.stderr, flush=True)


def register(subparsers: Any) -> None:
    """Add the ``ui`` sub-command to the CLI's sub-parsers."""
    s = subparsers.add_parser("ui", help="open the web app (http://127.0.0.1:7860)")
    s.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this computer only)")
    s.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    s.set_defaults(func=cmd_ui)
