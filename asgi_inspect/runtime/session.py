"""A session: what the views (TUI, headless printer) look at.

It owns the store of exchanges and the view over it, the collector and the live channel that
feed the store, and, for ``run``/``proxy``, the server child process and its log lines.
``view`` uses a session with neither channel nor process: just the exchanges of a file.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from asgi_inspect.formats.codec import new_trace
from asgi_inspect.http import VOLATILE_HEADERS
from asgi_inspect.model import Exchange, Trace
from asgi_inspect.record.channel import Address, Listener
from asgi_inspect.replay.ignore import NOTHING, BodyIgnore
from asgi_inspect.replay.request import Replayer
from asgi_inspect.runtime.runner import ServerProcess
from asgi_inspect.store.collector import Collector
from asgi_inspect.store.store import Store
from asgi_inspect.store.view import View

if TYPE_CHECKING:
    from asgi_inspect.otel.exporter import SpanExport

MAX_LOG_LINES = 5000
# How long the batches an exited server had already sent may take to be read, before what
# its recorders left open is taken as lost.
EXIT_GRACE = 0.2


def source_pid(source: str) -> int | None:
    """The process id in a recorder's name (``record/batch.py``: ``"<pid>-<random>"``)."""
    pid = source.partition("-")[0]
    return int(pid) if pid.isdigit() else None


@dataclass
class LogLine:
    stream: str  # "stdout", "stderr" or "inspector" (our own messages about the process)
    text: str


@dataclass
class Session:
    """The shared state behind every view of a trace."""

    collector: Collector
    title: str = "asgi-inspect"
    app_url: str | None = None  # where the served app answers (for replay and the header)
    server: ServerProcess | None = None
    listener: Listener | None = None
    logs: deque[LogLine] = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    log_count: int = 0  # lines ever logged, so views can tell what is new
    on_close: list[Callable[[Exchange], None]] = field(default_factory=list)
    echo_logs: bool = False  # headless: the server's output goes on to our stderr
    replayer: Replayer | None = None  # where ``r`` sends replays; None: replay is off
    ignored_headers: tuple[str, ...] = VOLATILE_HEADERS  # what a Diff does not compare
    ignored_body: BodyIgnore = NOTHING  # JSON fields and text a Diff leaves out of bodies
    loaded: Trace | None = None  # the file's header, for a session opened from one
    skipped: int = 0  # damaged lines and invalid exchanges left out when the file was read
    waiting_hint: str = ""  # what the empty list says (listen: how to connect)
    otlp: SpanExport | None = None  # --otlp: every closed exchange sent as a trace
    trace_url: str | None = None  # views show each exchange's trace: this link, or ("") its id
    view: View = field(init=False)
    # Processes that exited: the recorders they held, the note for the requests they left
    # open and the one for their lifespan.
    _exits: list[tuple[list[str], str, str]] = field(default_factory=list, init=False,
                                                     repr=False)

    def __post_init__(self) -> None:
        self.view = View(self.collector.store)

    @classmethod
    def offline(cls, trace: Trace | Iterable[Exchange], title: str, *,
                max_exchanges: int | None = None, max_memory: int | None = None) -> Session:
        """A session over the exchanges of a trace (a file's), or over exchanges alone; the
        store keeps the newest within ``max_exchanges`` and ``max_memory``, as a live one."""
        if not isinstance(trace, Trace):
            trace = new_trace(trace)
        collector = Collector(max_exchanges, max_memory=max_memory)
        collector.caps = trace.caps
        for exchange in trace.exchanges:
            collector.store.add(exchange)
        header = msgspec.structs.replace(trace, exchanges=[])
        return cls(collector=collector, title=title, loaded=header)

    @property
    def dropped(self) -> int:
        """Records lost on the way, with the recorders' errors, as a view counts them: those
        the file recorded for a session opened from one, else the live recorders' (and the
        spans --otlp could not send)."""
        if self.loaded is not None:
            return self.loaded.dropped + self.loaded.recorder_errors
        exported = self.otlp.dropped if self.otlp is not None else 0  # spans not sent
        return self.collector.dropped + self.collector.recorder_errors + exported

    @property
    def store(self) -> Store:
        return self.collector.store

    @property
    def n_plus_one(self) -> int:
        """A statement run this often in one exchange is an N+1 (``--n-plus-one``): kept by
        the view, so that its ``~n1`` follows it."""
        return self.view.n_plus_one

    @n_plus_one.setter
    def n_plus_one(self, runs: int) -> None:
        self.view.n_plus_one = runs

    def trace_header(self) -> Trace:
        """The header fields an export of this session's exchanges carries: the file's own
        for a session opened from one, else what the recorders reported."""
        if self.loaded is not None:
            return self.loaded
        collector = self.collector
        return new_trace(caps=collector.caps, dropped=collector.dropped,
                         recorder_errors=collector.recorder_errors)

    @property
    def live(self) -> bool:
        return self.listener is not None

    @property
    def state(self) -> str:
        """The header's word for the process: offline, listening, starting, running; and what
        to do when it is down: ``exited (3) — ctrl+r restarts``, ``reload failed: SyntaxError
        in app.py:12 — fix and save``."""
        server = self.server
        if server is None:
            return "listening" if self.listener is not None else "offline"
        if server.state.startswith("exited"):
            return f"{server.state} — ctrl+r restarts"
        if server.reload_error is not None:
            return f"reload failed: {server.reload_error} — fix and save"
        if server.dead_worker is not None:
            return f"worker {server.dead_worker} exited — ctrl+r restarts"
        return server.state

    def log(self, stream: str, text: str) -> None:
        self.logs.append(LogLine(stream, text))
        self.log_count += 1
        if self.echo_logs:
            print(text, file=sys.stderr, flush=True)

    def echo_from_now(self) -> None:
        """Headless: the server's output goes on to stderr, starting with what it said so far
        (uvicorn's start-up lines, and any request that came in before we saw the port open)."""
        for line in self.logs:
            print(line.text, file=sys.stderr)
        sys.stderr.flush()
        self.echo_logs = True

    async def open_channel(self, *, tcp: bool = False) -> Address:
        """Start listening for recorders; batches go straight into the collector."""
        self.collector.on_close = self._closed
        self.listener = Listener(self._feed, tcp=tcp, on_gone=self._recorder_gone)
        return await self.listener.start()

    def _feed(self, frame: bytes) -> str:
        """Apply a batch from the channel; which recorder sent it."""
        self.collector.feed(frame)
        return self.collector.last_source

    def _recorder_gone(self, source: str) -> None:
        """A recorder's connection ended. After a close (its last batch came) nothing is
        left open; else its process died: once the batches in flight are read, what it left
        open is settled as lost. The server child's own recorder is left to
        :meth:`_server_exited`, which knows the exit code."""
        server = self.server
        if server is not None and server.pid is not None and source_pid(source) == server.pid:
            return
        pid = source_pid(source)
        process = f"process {pid}" if pid is not None else "process"
        self._exits.append(([source], f"the recorder's {process} ended during this request "
                                      f"without closing it: its last records were lost",
                            f"the recorder's {process} ended"))
        loop = asyncio.get_running_loop()
        loop.call_later(EXIT_GRACE, self._settle_exits)
        if server is not None and server.spec.reload and pid is not None:
            loop.call_later(EXIT_GRACE, self._worker_gone, source, pid)

    def _worker_gone(self, source: str, pid: int) -> None:
        """Under --reload, a worker's recorder that did not close died with its process: the
        header says so (the reloader starts no other worker until the next save)."""
        if self.server is not None and not self.collector.closed(source):
            self.server.dead_worker = pid

    def _closed(self, exchange: Exchange) -> None:
        for callback in self.on_close:
            callback(exchange)

    async def start_server(self, server: ServerProcess) -> None:
        """Start the app's server process; its output goes to the logs."""
        self.server = server
        server.on_output = self.log
        server.on_exit = self._server_exited
        await server.start()

    def _server_exited(self, code: int) -> None:
        """The server process ended: its recorders with it. Once the batches already on
        their way are read, what they left open is settled as lost and counted as dropped."""
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        note = f"server {how} during this request: its last records were lost"
        self._exits.append((self.collector.live_sources(), note, f"server process {how}"))
        asyncio.get_running_loop().call_later(EXIT_GRACE, self._settle_exits)

    def _settle_exits(self) -> None:
        exits, self._exits = self._exits, []
        for sources, note, lifespan_note in exits:
            self.collector.end_sources(sources, note, lifespan_note=lifespan_note)

    async def close(self) -> None:
        if self.replayer is not None:
            await self.replayer.close()
        if self.server is not None:
            await self.server.stop()
        if self.listener is not None:
            await asyncio.sleep(0.05)  # let the last batches arrive
            await self.listener.stop()
        self._settle_exits()
