"""The ``vraagbaak ui`` sub-command: serve the web app (see :mod:`vraagbaak.ui.app`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the app until interrupted. Builds the bundled corpus's index if there is none."""
    from ..api import Vraagbaak
    from ..cli import _settings
    from ..errors import InputError
    from .app import serve

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be between 1 and 65535. Currently --port is {args.port}.")
    vb = Vraagbaak(_settings(args))
    if args.host not in LOCAL_HOSTS:
        print(
            f"vraagbaak: warning: the app listens on {args.host}, so other computers on the "
            "network can reach it.",
            file=sys.stderr,
        )
    if not vb.has_index():
        print("No index yet: the app builds one from the bundled corpus (progress in the page).",
              file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"vraagbaak: open http://{shown}:{args.port} (Ctrl+C stops it)",
          file=sys.stderr, flush=True)
    serve(vb, host=args.host, port=args.port, block=True)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``ui`` sub-command to the CLI's sub-parsers."""
    s = subparsers.add_parser("ui", help="open the web app (http://127.0.0.1:7860)")
    s.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this computer only)")
    s.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    s.set_defaults(func=cmd_ui)
