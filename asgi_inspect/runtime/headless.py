"""Headless recording: one line per finished exchange on stdout, every exchange to a file.

Like ``mitmdump``: ``asgi-inspect run app --headless --record trace.jsonl``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange
from asgi_inspect.store.collector import Collector
from asgi_inspect.text import printable
from asgi_inspect.units import format_duration, format_size


def format_line(exchange: Exchange) -> str:
    """``12:00:01.123 127.0.0.1:5000 GET /items 200 1.2ms 35B``, then the outcome when not
    complete, the exception, and ``→ module.endpoint`` when a framework routed it."""
    clock = time.strftime("%H:%M:%S", time.localtime(exchange.started_at))
    millis = int(exchange.started_at * 1000) % 1000
    client = exchange.scope.get("client") if isinstance(exchange.scope, dict) else None
    peer = f"{client[0]}:{client[1]}" if isinstance(client, list) and len(client) == 2 else "-"
    status = exchange.status
    parts = [f"{clock}.{millis:03d}", peer, exchange.method or exchange.type, exchange.label or "-",
             str(status) if status is not None else "---",
             format_duration(exchange.duration_ns), format_size(exchange.response.bytes)]
    if exchange.outcome != "complete":
        parts.append(f"[{exchange.outcome}]")
    if exchange.exception is not None:
        parts.append(f"{exchange.exception.type}: {exchange.exception.message}")
    if exchange.endpoint:
        parts.append(f"→ {exchange.endpoint}")
    return printable(" ".join(parts))


class HeadlessRecorder:
    """Prints and records exchanges as they finish (``Session.on_close`` callback)."""

    def __init__(self, record: Path | None, keep: Callable[[Exchange], bool] | None = None, *,
                 echo: bool = True, out: IO[str] | None = None) -> None:
        self.keep = keep or (lambda exchange: True)
        self.echo = echo
        self.out = out or sys.stdout
        self.count = 0
        self._file = open(record, "wb") if record else None  # noqa: SIM115 - closed in finish()
        if self._file:
            self._file.write(codec.header_line())
            self._file.flush()

    def __call__(self, exchange: Exchange) -> None:
        if not self.keep(exchange):
            return
        self.count += 1
        if self.echo:
            print(format_line(exchange), file=self.out, flush=True)
        if self._file:
            self._file.write(codec.exchange_line(exchange))
            self._file.flush()

    def finish(self, collector: Collector) -> None:
        """Record what is still open, and the drop counts, then close the file."""
        for exchange in collector.store:
            if exchange.outcome == "streaming":
                self(exchange)
        dropped, errors = collector.dropped, collector.recorder_errors
        if self.echo and (dropped or errors):
            print(f"asgi-inspect: {dropped} records dropped, {errors} recorder errors",
                  file=sys.stderr, flush=True)
        if self._file:
            self._file.write(codec.stats_line(dropped, errors))
            self._file.close()
