"""``asgi-inspect view FILE``: open a saved trace (our JSON or JSONL, or HAR) in the inspector."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from asgi_inspect.cli import CliError
from asgi_inspect.codec import TraceError
from asgi_inspect.session import Session


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("view", help="open a saved trace (JSON, JSONL or HAR)",
                            description="Open a saved trace in the inspector.")
    parser.add_argument("file", type=Path, metavar="FILE", help="a .json, .jsonl or .har file")
    parser.add_argument("--filter", default="", metavar="EXPR", help="start with this filter")
    parser.set_defaults(handler=handle)


def load_trace_file(path: Path) -> Any:
    """Any trace file we read, or a one-line :class:`CliError`."""
    from asgi_inspect.export import load_any

    try:
        return load_any(path)
    except TraceError as exc:
        raise CliError(f"{path}: {exc}") from None


def handle(args: argparse.Namespace) -> int:
    from asgi_inspect.commands.run import compile_filter_option
    from asgi_inspect.tui.app import InspectorApp

    trace = load_trace_file(args.file)
    compile_filter_option(args.filter)  # a bad expression fails here, before the screen opens
    session = Session.offline(trace.exchanges, title=f"asgi-inspect view {args.file.name}")
    session.collector.caps = trace.caps
    asyncio.run(InspectorApp(session, filter_text=args.filter).run_async())
    return 0
