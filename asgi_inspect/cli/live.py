"""A live session for ``run``, ``proxy`` and ``listen``: the channel, the server child if any,
then the TUI or the headless printer until the user stops it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator

from asgi_inspect.cli.options import CliError, check_filter
from asgi_inspect.cli.otlp import start_export
from asgi_inspect.record.channel import Address
from asgi_inspect.replay.http import HttpReplayer
from asgi_inspect.runtime.runner import ServerProcess, ServerSpec, bind_problem
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.collector import Collector
from asgi_inspect.store.untracked import freeze_for_exit, settle_heap

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TUI_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # and SIGHUP: see on_hangup
HANGUP_GRACE = 10.0  # seconds the TUI has to clean up once its terminal is gone

def serve(spec: ServerSpec, args: argparse.Namespace, title: str) -> int:
    """Start the channel and the server child, then the TUI or the headless printer."""
    problem = bind_problem(spec.host, spec.port)
    if problem is not None:
        raise CliError(problem)
    check_filter(args.filter)
    if args.record and not args.headless and not args.record.parent.exists():
        raise CliError(f"no such directory: {args.record.parent}")
    return asyncio.run(_serve(spec, args, title))


def new_session(args: argparse.Namespace, title: str, *, app_url: str | None = None) -> Session:
    """A session bounded by --max-exchanges and --max-memory, replaying over HTTP to
    ``app_url`` (or, without one, to the server each exchange came from)."""
    collector = Collector(args.max_exchanges, max_memory=args.max_memory)
    return Session(collector=collector, title=title, app_url=app_url,
                   replayer=HttpReplayer(app_url))


async def _serve(spec: ServerSpec, args: argparse.Namespace, title: str) -> int:
    session = new_session(args, title, app_url=spec.url)

    async def start_server(address: Address) -> None:
        server = ServerProcess(spec, str(address))
        await session.start_server(server)
        if not await server.wait_ready():
            raise CliError(server.error or _last_error(session) or "the server did not start")
        if args.headless:
            session.echo_from_now()

    return await inspect_session(session, args, start_server)


async def inspect_session(session: Session, args: argparse.Namespace,
                          start: Callable[[Address], Awaitable[None]]) -> int:
    """Open the channel, let ``start`` begin the traffic, then show it until the user quits."""
    from asgi_inspect.runtime.control import ControlServer
    from asgi_inspect.runtime.headless import HeadlessRecorder
    from asgi_inspect.store.view import View

    session.n_plus_one = args.n_plus_one  # the views' N+1 flag, and ~n1 in its filter
    session.view.set_filter(args.filter)
    export = start_export(session, args)  # --otlp: every closed exchange as a trace
    recorded = View(session.store, filter_text=args.filter,  # --record keeps to --filter
                    n_plus_one=args.n_plus_one)
    try:  # headless, losses are said on stderr; in the TUI, in its Logs pane
        recorder = HeadlessRecorder(args.record, recorded.matches, echo=args.headless,
                                    warn=None if args.headless else
                                    functools.partial(session.log, "inspector"))
    except OSError as exc:
        raise CliError(f"cannot write {args.record}: {exc.strerror or exc}") from None
    session.on_close.append(recorder)
    recorder.trace_url = session.trace_url
    session.ignored_headers += tuple(args.ignore_header)
    recorder.n_plus_one = args.n_plus_one
    stop = asyncio.Event()  # a stop signal came (while starting, or headless)
    control = ControlServer(session)  # where asgi-inspect mcp --attach reads this session
    try:
        with on_stop_signals(stop.set):
            address = await session.open_channel(tcp=getattr(args, "tcp", False))
            await control.start()
            await unless_stopped(start(address), stop)
            settle_heap()
            if args.headless:
                await wait_for_stop(session, functools.partial(recorder.poll, session.collector),
                                    stop)
        if not args.headless and not stop.is_set():
            from asgi_inspect.tui.app import InspectorApp

            app = InspectorApp(session, recorded=args.record is not None)  # q: nothing to lose
            with on_stop_signals(app.exit, TUI_STOP_SIGNALS), on_hangup(app.exit):
                await app.run_async()
    finally:
        await control.close()
        await session.close()
        recorder.finish(session.collector)
        if export is not None:
            export.close()  # what is queued is sent, for a few seconds at most
        freeze_for_exit()
    return 0


def _last_error(session: Session) -> str | None:
    lines = [line.text for line in session.logs if line.stream == "stderr" and line.text.strip()]
    return lines[-1].strip() if lines else None


@contextlib.contextmanager
def on_stop_signals(stop: Callable[[], object],
                    signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Call ``stop`` on SIGINT, SIGTERM and SIGHUP (the terminal closed), so that every way of
    ending the inspector but SIGKILL goes through the same clean-up as quitting: the server
    child is stopped, the recording finished. (SIGKILL: the child watches for it itself.)"""
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def on_hangup(stop: Callable[[], object]) -> Iterator[None]:
    """The TUI's terminal closed (SIGHUP): output goes to /dev/null from then on, ``stop`` is
    called on the event loop, and the process ends anyway ``HANGUP_GRACE`` seconds later.

    Textual cannot be shut down without its terminal: its writer thread dies on the first
    write to the closed terminal, and the app's next write then blocks forever. The handler
    runs at once in the main thread (not on the event loop, which may already be blocked);
    if the normal clean-up cannot finish, the server child stops itself when we are gone
    (``record/serve.py``)."""
    loop = asyncio.get_running_loop()

    def hangup(signum: int, frame: object) -> None:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        loop.call_soon_threadsafe(stop)
        deadline = threading.Timer(HANGUP_GRACE, os._exit, args=(128 + signum,))
        deadline.daemon = True
        deadline.start()

    previous = signal.signal(signal.SIGHUP, hangup)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


async def unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Await ``work``, cancelled if ``stop`` is set first (Ctrl+C while the server starts)."""
    working, stopping = asyncio.ensure_future(work), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((working, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not working.done():
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
    if not working.cancelled():
        working.result()  # its error, if it failed


async def wait_for_stop(session: Session, poll: Callable[[], None],
                        stop: asyncio.Event) -> None:
    """Headless: run until ``stop`` is set (Ctrl+C / SIGTERM / SIGHUP), or until the server
    exits; ``poll`` every 0.2 s meanwhile."""
    if session.app_url:
        print(f"asgi-inspect: serving {session.app_url} (Ctrl+C to stop)", flush=True)
    while not stop.is_set():
        poll()
        if session.server is not None and session.server.state.startswith("exited"):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
