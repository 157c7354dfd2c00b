"""``asgi-inspect view FILE``: open a saved trace (our JSON or JSONL, or HAR) in the inspector."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from asgi_inspect.cli import CliError
from asgi_inspect.codec import TraceError
from asgi_inspect.commands.run import add_ignore_header
from asgi_inspect.session import Session


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("view", help="open a saved trace (JSON, JSONL or HAR)",
                            description="Open a saved trace in the inspector.")
    parser.add_argument("file", type=Path, metavar="FILE", help="a .json, .jsonl or .har file")
    parser.add_argument("--filter", default="", metavar="EXPR", help="start with this filter")
    add_replay_target(parser, required=False)
    add_ignore_header(parser)
    parser.set_defaults(handler=handle)


def add_replay_target(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """--app / --url: what replays run against (shared with ``replay``)."""
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--app", metavar="MODULE:ATTR", help="replay in-process against this app")
    target.add_argument("--url", help="replay against a running server at this base URL")
    parser.add_argument("--factory", action="store_true", help="--app is a factory to call")
    parser.add_argument("--app-dir", default=".", help="look for --app's module here")


def replay_target(args: argparse.Namespace) -> tuple[Any, str] | None:
    """The app replays run against (a proxy to --url, or --app loaded), and its description."""
    if args.url:
        from asgi_inspect.commands.proxy import check_upstream
        from asgi_inspect.proxy import make_proxy

        url = check_upstream(args.url)
        return make_proxy(url, rewrite_host=True, forwarded=False), url
    if not args.app:
        return None
    from asgi_inspect.serve import load_app

    try:
        return load_app(args.app, factory=args.factory, app_dir=args.app_dir), args.app
    except Exception as exc:  # any import failure of the user's module is one line here
        raise CliError(f"cannot load {args.app}: {exc}") from None


def load_trace_file(path: Path) -> Any:
    """Any trace file we read, or a one-line :class:`CliError`."""
    from asgi_inspect.export import load_any

    try:
        return load_any(path)
    except TraceError as exc:
        raise CliError(f"{path}: {exc}") from None


def handle(args: argparse.Namespace) -> int:
    from asgi_inspect.commands.run import compile_filter_option

    trace = load_trace_file(args.file)
    compile_filter_option(args.filter)  # a bad expression fails here, before the screen opens
    target = replay_target(args)
    session = Session.offline(trace.exchanges, title=f"asgi-inspect view {args.file.name}")
    session.collector.caps = trace.caps
    session.ignored_headers += tuple(args.ignore_header)
    if target is not None:
        from asgi_inspect.replay import InProcessReplayer

        session.replayer = InProcessReplayer(*target)
    asyncio.run(_view(session, args.filter))
    return 0


async def _view(session: Session, filter_text: str) -> None:
    from asgi_inspect.tui.app import InspectorApp

    try:
        await InspectorApp(session, filter_text=filter_text).run_async()
    finally:
        await session.close()
