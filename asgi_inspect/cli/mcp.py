"""``asgi-inspect mcp [TRACE]``: serve recorded traffic to an AI agent over MCP.

Over stdio by default (the agent's client starts this command), or streamable HTTP on
loopback with ``--http PORT``. The exchanges come from ``TRACE`` (read again as it grows) or
from a running ``run``/``proxy``/``listen`` session with ``--attach`` (the newest one when no
session file is named). The tools are in :mod:`asgi_inspect.mcp.server`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgi_inspect.cli.options import CliError, add_replay_target, port, replay_target
from asgi_inspect.mcp.source import FileSource, LiveSource, Source
from asgi_inspect.replay.request import Replayer
from asgi_inspect.text import printable

MISSING_SDK = ("asgi-inspect mcp needs the MCP SDK: pip install 'asgi-inspect[mcp]' "
               "(or pip install mcp)")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "mcp", help="serve a trace or a live session to an AI agent (Model Context Protocol)",
        description="An MCP server whose tools list, search, show, replay, diff and export "
                    "recorded exchanges. Results are bounded (50 rows a page, bodies cut at "
                    "16 KiB) and secrets are redacted unless --no-redact is given.")
    parser.add_argument("trace", type=Path, nargs="?", metavar="TRACE",
                        help="a .json, .jsonl or .har file (read again when it changes)")
    parser.add_argument("--attach", nargs="?", const="", metavar="SESSION_FILE",
                        help="serve a running run/proxy/listen session instead: the newest "
                             "one, or the one this session file names")
    parser.add_argument("--http", type=port, metavar="PORT",
                        help="serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio "
                             "(0: a free port, printed on stderr)")
    parser.add_argument("--no-redact", dest="redact", action="store_false",
                        help="show secrets (Authorization, cookies, token fields...) as "
                             "recorded")
    add_replay_target(parser, required=False)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds one replay may take (default 30)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        from asgi_inspect.mcp.server import Settings, build_server
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "mcp":
            raise CliError(MISSING_SDK) from None
        raise
    source = _source(args)
    if not (args.app or args.url) and source.app_url:
        args.url = source.app_url  # a live session replays to its own app
    server = build_server(Settings(source, redact=args.redact,
                                   replayer_factory=_replayer_factory(args)))
    if args.http is None:
        asyncio.run(server.run_stdio_async())
    else:
        asyncio.run(_serve_http(server.streamable_http_app(host="127.0.0.1"), args.http))
    return 0


def _source(args: argparse.Namespace) -> Source:
    """The trace file or the live session to serve, checked now (one-line errors)."""
    if (args.trace is None) == (args.attach is None):
        raise CliError("give a TRACE file or --attach (one of them)")
    try:
        if args.attach is not None:
            return LiveSource.attach(args.attach)
        source = FileSource(args.trace)
        source.load()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return source


def _replayer_factory(args: argparse.Namespace) -> Callable[[], Replayer] | None:
    """A new in-process replayer per replay (an app loaded once, or a proxy to a URL)."""
    target = replay_target(args)
    if target is None:
        return None
    from asgi_inspect.replay.driver import InProcessReplayer

    app, where = target
    return lambda: InProcessReplayer(app, where, timeout=args.timeout)


async def _serve_http(app: Any, port_number: int) -> None:
    """Serve ``app`` on 127.0.0.1 only; the URL goes to stderr (port 0: the one chosen)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port_number))
        sock.listen(2048)  # a client that connects once the URL is printed waits, not refused
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on 127.0.0.1:{port_number}: "
                       f"{exc.strerror or exc}") from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    print(printable(f"asgi-inspect: MCP server at {url} (Ctrl+C to stop)"), file=sys.stderr,
          flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])
