"""``asgi-inspect run [module:app]``: serve an app under uvicorn and inspect its traffic."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asgi_inspect.channel import Address
from asgi_inspect.cli import CliError
from asgi_inspect.replay import HttpReplayer
from asgi_inspect.runner import ServerProcess, ServerSpec, port_in_use
from asgi_inspect.session import Session
from asgi_inspect.units import parse_size

DEMO = "asgi_inspect.demo:app"
_TARGET = re.compile(r"^[\w.]+:[\w.]+$")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "run", help="serve an ASGI app under uvicorn and inspect its traffic live",
        description="Serve APP (module:attribute, as uvicorn takes it; the bundled demo when "
                    "omitted) under uvicorn in a child process, record all its traffic, and "
                    "open the inspector.")
    parser.add_argument("app", nargs="?", default=DEMO, metavar="APP",
                        help="the app as module:attribute (default: the bundled demo)")
    add_server_options(parser)
    add_view_options(parser)
    parser.set_defaults(handler=handle)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server (as uvicorn)")
    group.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=8000, help="bind port (run: 8000, proxy: 8080)")
    group.add_argument("--reload", action="store_true", help="restart on code changes")
    group.add_argument("--factory", action="store_true", help="APP is a factory to call")
    group.add_argument("--app-dir", default=".", help="look for APP's module here (default .)")
    group.add_argument("--root-path", default="", help="ASGI root_path, behind a proxy")
    group.add_argument("--max-body", default="64KiB", type=_size, metavar="SIZE",
                       help="body bytes kept per direction and exchange (default 64KiB)")
    group.add_argument("--redact", action="store_true",
                       help="redact secrets as they are recorded: they never leave the app's "
                            "process (exports redact by default anyway)")


def add_view_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inspector")
    group.add_argument("--max-exchanges", type=int, default=100_000,
                       help="exchanges kept in memory; the oldest go first (default 100000)")
    group.add_argument("--max-memory", type=_size, default="1GiB", metavar="SIZE",
                       help="about how much memory the kept exchanges may use (bodies, "
                            "messages); the oldest go first (default 1GiB)")
    group.add_argument("--headless", action="store_true",
                       help="no UI: print one line per exchange")
    group.add_argument("--record", type=Path, metavar="FILE",
                       help="write every exchange to FILE (JSONL)")
    group.add_argument("--filter", default="", metavar="EXPR",
                       help="show (and record) only exchanges matching EXPR")
    add_ignore_header(group)


def add_ignore_header(parser: Any) -> None:
    """--ignore-header: shared by every command that compares a replay with its original."""
    parser.add_argument("--ignore-header", action="append", default=[], metavar="NAME",
                        help="a response header replays are not compared on, besides date, "
                             "server, etag, request ids... (repeatable)")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def handle(args: argparse.Namespace) -> int:
    if not _TARGET.match(args.app):
        raise CliError(f"APP must look like module:attribute, got {args.app!r}")
    spec = ServerSpec(target=args.app, host=args.host, port=args.port, reload=args.reload,
                      factory=args.factory, app_dir=args.app_dir, root_path=args.root_path,
                      max_body=args.max_body, redact=args.redact)
    return serve(spec, args, title=f"asgi-inspect run {args.app}")


def serve(spec: ServerSpec, args: argparse.Namespace, title: str) -> int:
    """Start the channel and the server child, then the TUI or the headless printer."""
    if port_in_use(spec.host, spec.port):
        raise CliError(f"{spec.host}:{spec.port} is already in use; choose another --port")
    keep = compile_filter_option(args.filter)
    if args.record and not args.headless and not args.record.parent.exists():
        raise CliError(f"no such directory: {args.record.parent}")
    return asyncio.run(_serve(spec, args, title, keep))


def compile_filter_option(text: str) -> Any:
    if not text:
        return None
    from asgi_inspect.filters import FilterError, compile_filter

    try:
        return compile_filter(text)
    except FilterError as exc:
        raise CliError(f"bad --filter: {exc}") from None


async def _serve(spec: ServerSpec, args: argparse.Namespace, title: str, keep: Any) -> int:
    from asgi_inspect.collector import Collector

    collector = Collector(args.max_exchanges, max_memory=args.max_memory)
    session = Session(collector=collector, title=title, app_url=spec.url,
                      replayer=HttpReplayer(spec.url))

    async def start_server(address: Address) -> None:
        server = ServerProcess(spec, str(address))
        await session.start_server(server)
        if not await server.wait_ready():
            raise CliError(server.error or _last_error(session) or "the server did not start")
        if args.headless:
            session.echo_from_now()

    return await inspect_session(session, args, keep, start_server)


async def inspect_session(session: Session, args: argparse.Namespace, keep: Any,
                          start: Callable[[Address], Awaitable[None]]) -> int:
    """Open the channel, let ``start`` begin the traffic, then show it until the user quits."""
    from asgi_inspect.headless import HeadlessRecorder

    recorder = HeadlessRecorder(args.record, keep, echo=args.headless)
    session.on_close.append(recorder)
    session.ignored_headers += tuple(args.ignore_header)
    try:
        await start(await session.open_channel(tcp=getattr(args, "tcp", False)))
        if args.headless:
            await wait_for_stop(session)
        else:
            from asgi_inspect.tui.app import InspectorApp

            await InspectorApp(session, filter_text=args.filter).run_async()
    finally:
        await session.close()
        recorder.finish(session.collector)
    return 0


def _last_error(session: Session) -> str | None:
    lines = [line.text for line in session.logs if line.stream == "stderr" and line.text.strip()]
    return lines[-1].strip() if lines else None


async def wait_for_stop(session: Session) -> None:
    """Headless: run until Ctrl+C / SIGTERM, or until the server exits."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if session.app_url:
        print(f"asgi-inspect: serving {session.app_url} (Ctrl+C to stop)", flush=True)
    while not stop.is_set():
        if session.server is not None and session.server.state.startswith("exited"):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
