"""Headless recording: one line per finished exchange on stdout, every exchange to a file.

Like ``mitmdump``: ``asgi-inspect run app --headless --record trace.jsonl``. Losses are shown
as they happen, on stderr: records the recorders dropped (a line when drops start, then the
count as it grows, at most one line a second) and exchanges the file could not take (a full
disk: one line when it starts); both counts again at exit, and in the file's stats line.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from asgi_inspect import inside, lenses
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange
from asgi_inspect.otel.context import trace_label
from asgi_inspect.record.files import LineFile
from asgi_inspect.store.collector import Collector
from asgi_inspect.text import printable
from asgi_inspect.units import format_duration, format_size, plural


def format_line(exchange: Exchange, n_plus_one: int = inside.DEFAULT_N_PLUS_ONE) -> str:
    """``12:00:01.123 127.0.0.1:5000 GET /items 200 1.2ms 35B`` (with the operation a protocol
    lens named after the path: ``POST /graphql «query GetItems» 200``), then what the app did
    inside (``3q 1c``, ``N+1`` when a statement ran ``n_plus_one`` times or more), the
    protocol's error, the outcome when not complete, the exception, and ``→ module.endpoint``
    when a framework routed it."""
    clock = time.strftime("%H:%M:%S", time.localtime(exchange.started_at))
    millis = int(exchange.started_at * 1000) % 1000
    client = exchange.scope.get("client") if isinstance(exchange.scope, dict) else None
    peer = f"{client[0]}:{client[1]}" if isinstance(client, list) and len(client) == 2 else "-"
    status = exchange.status
    parts = [f"{clock}.{millis:03d}", peer, exchange.method or exchange.type, exchange.label or "-",
             str(status) if status is not None else "---",
             format_duration(exchange.duration_ns), format_size(exchange.response.bytes)]
    operation, failure = lenses.operation(exchange), lenses.error(exchange)
    if operation:
        parts.insert(4, f"«{operation}»")
    if exchange.inside:
        parts.append(inside.counts(inside.totals(exchange)))
        if inside.repeated(exchange, n_plus_one):
            parts.append("N+1")
    if failure:
        parts.append(f"[{failure}]")
    if exchange.outcome != "complete":
        parts.append(f"[{exchange.outcome}]")
    if exchange.lost_records:
        parts.append("[records lost]")
    if exchange.exception is not None:
        parts.append(f"{exchange.exception.type}: {exchange.exception.message}")
    if exchange.endpoint:
        parts.append(f"→ {exchange.endpoint}")
    return printable(" ".join(parts))


DROPS_EVERY = 1.0  # seconds between two lines about a growing drop count


class HeadlessRecorder:
    """Prints and records exchanges as they finish (``Session.on_close`` callback).

    ``record`` is written owner-only (0600), one whole line per exchange (see
    :class:`~asgi_inspect.record.files.LineFile`); opening it raises ``OSError``. Nothing
    here raises once recording has begun: what cannot be written or printed is counted and
    said as it starts (``warn``: stderr unless given, e.g. the TUI's Logs pane), never a
    traceback in the middle of a batch; the totals go to stderr at :meth:`finish`.
    """

    def __init__(self, record: Path | None, keep: Callable[[Exchange], bool] | None = None, *,
                 echo: bool = True, out: IO[str] | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.keep = keep or (lambda exchange: True)
        self.echo = echo
        self.out = out or sys.stdout
        self.warn = warn or _to_stderr
        self.count = 0
        self.trace_url: str | None = None  # --otlp: lines end with the trace (a link or id)
        self.n_plus_one = inside.DEFAULT_N_PLUS_ONE  # a statement run this often: an N+1
        self.unwritten = 0  # exchanges the file could not take
        self.record = record
        self._file = LineFile(record, codec.header_line()) if record else None
        self._drops_shown = 0  # the drop count last shown
        self._drops_at = 0.0  # when (time.monotonic())

    def __call__(self, exchange: Exchange) -> None:
        if not self.keep(exchange):
            return
        self.count += 1
        if self.echo:
            line = format_line(exchange, self.n_plus_one)
            label = "" if self.trace_url is None else trace_label(exchange, self.trace_url)
            if label:
                line += " " + printable(label)
            self._print(line)
        if self._file and not self._file.write(codec.exchange_line(exchange)):
            self.unwritten += 1
            if self.unwritten == 1:
                self.warn(f"asgi-inspect: cannot write to {self.record} ({self._reason()}): "
                          f"exchanges are counted, not recorded, until it can")

    def _print(self, line: str) -> None:
        try:
            print(line, file=self.out, flush=True)
        except OSError as exc:  # stdout on a full disk, or a closed pipe: stop printing
            self.echo = False
            self.warn(f"asgi-inspect: cannot print exchanges ({exc.strerror or exc}); "
                      f"no more lines on stdout")

    def poll(self, collector: Collector) -> None:
        """Headless, every tick: drain the store's change log (no other view reads it, and
        it would grow forever) and show the drop count when it grows, at most once a
        second."""
        collector.store.drain_changes()
        dropped = collector.dropped
        now = time.monotonic()
        if dropped > self._drops_shown and now - self._drops_at >= DROPS_EVERY:
            what = "dropping records" if not self._drops_shown else "still dropping records"
            self.warn(f"asgi-inspect: {what}: {dropped:,} lost so far (the inspector cannot "
                      f"keep up, or a recorder lost its link)")
            self._drops_shown, self._drops_at = dropped, now

    def finish(self, collector: Collector) -> None:
        """Record what is still open, and the drop counts, then close the file."""
        for exchange in collector.store:
            if exchange.outcome == "streaming":
                self(exchange)
        dropped, errors = collector.dropped, collector.recorder_errors
        if self.echo and (dropped or errors):
            _to_stderr(f"asgi-inspect: {plural(dropped, 'record')} dropped, "
                       f"{plural(errors, 'recorder error')}")
        if self._file and not self._file.close(codec.stats_line(dropped, errors,
                                                               self.unwritten)):
            _to_stderr(f"asgi-inspect: the stats line could not be written to {self.record} "
                       f"({self._reason()})")
        if self.unwritten:
            _to_stderr(f"asgi-inspect: {plural(self.unwritten, 'exchange')} could not be "
                       f"written to {self.record} ({self._reason()})")

    def _reason(self) -> str:
        error = self._file.error if self._file else None
        return "unknown error" if error is None else str(error.strerror or error)


def _to_stderr(text: str) -> None:
    with contextlib.suppress(OSError):  # nowhere left to say it
        print(text, file=sys.stderr, flush=True)
