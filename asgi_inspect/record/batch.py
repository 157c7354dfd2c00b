"""The recorder's outbox: records are encoded as they happen and handed to the sink in batches.

Encoding a record the moment it is made *is* the snapshot: nothing of the app's message is kept
alive or copied twice. Batches leave on a short timer from the event loop, so the request path
never waits for a consumer. A sink that refuses a batch loses it whole; the loss is counted and
reported in the next batch's header, so nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from time import perf_counter_ns, time_ns
from typing import TYPE_CHECKING, Any

import msgspec

from asgi_inspect.record.wire import Header, array_prefix, encode_opaque, scrubbed

if TYPE_CHECKING:
    from asgi_inspect.record.sinks import Sink

log = logging.getLogger("asgi_inspect")

FLUSH_INTERVAL = 0.02
MAX_BUFFER = 64 * 1024  # flush at once past this many encoded bytes


class Batcher:
    def __init__(self, sink: Sink, *, max_body: int, max_events: int,
                 flush_interval: float = FLUSH_INTERVAL) -> None:
        self.sink = sink
        self.source = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.max_body = max_body
        self.max_events = max_events
        self.flush_interval = flush_interval
        self.dropped = 0  # records lost because the sink refused them
        self.errors = 0  # internal recorder errors
        self._encoder = msgspec.msgpack.Encoder(enc_hook=encode_opaque)
        self._encode_into = self._encoder.encode_into
        self._buffer = bytearray()  # the pending batch; the same object for the batcher's life
        self._count = 0
        self._batches = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._logged_error = False

    def add(self, record: Any) -> None:
        """Encode one record into the pending batch. Hot path: never blocks, never raises."""
        buffer = self._buffer
        start = len(buffer)
        try:
            self._encode_into(record, buffer, -1)
        except Exception as exc:
            self._recover(record, start, exc)
            return
        self._count += 1
        if self._timer is None:
            self._schedule()
        elif start > MAX_BUFFER:
            self.flush()

    def _recover(self, record: Any, start: int, exc: Exception) -> None:
        """An unencodable value: keep what we can of the record, count the error."""
        buffer = self._buffer
        del buffer[start:]
        self.error(exc)
        try:
            self._encode_into(scrubbed(record), buffer, -1)
        except Exception:
            del buffer[start:]
            return
        self._count += 1
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        """The first record after a quiet interval leaves at once, the rest of the interval's
        on the timer: an exchange's start reaches the inspector even when the process dies
        within the interval (``os._exit`` in a handler), at no cost under load, where the
        timer is nearly always running (at most one more batch per interval)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self.flush()
        self._timer = loop.call_later(self.flush_interval, self.flush)
        self._timer_loop = loop

    def check_timer(self) -> None:
        """Flush now if the timer was set on an event loop that has closed since, where it
        never fires (Starlette's ``TestClient`` runs each request on a loop of its own):
        without this, records would wait for 64 KiB more of them, or for :meth:`close`."""
        loop = self._timer_loop
        if self._timer is not None and loop is not None and loop.is_closed():
            self.flush()

    def flush(self) -> None:
        """Hand the pending batch to the sink now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._count:
            return
        count, self._count = self._count, 0
        self._send(self._buffer, count)  # copied into the frame there, so it can be reused
        self._buffer.clear()

    def _send(self, body: bytes | bytearray, count: int) -> None:
        header = Header(self.source, self._batches, self.dropped, self.errors,
                        self.max_body, self.max_events, time_ns() - perf_counter_ns())
        self._batches += 1
        frame = b"".join((array_prefix(count + 1), self._encoder.encode(header), body))
        try:
            delivered = self.sink.deliver(frame)
        except Exception as exc:
            self.error(exc)
            delivered = False
        if not delivered:
            self.dropped += count

    def close(self) -> None:
        """Flush, report the final counts, and close the sink."""
        self.flush()
        self._send(b"", 0)
        try:
            self.sink.close()
        except Exception as exc:
            self.error(exc)

    def error(self, exc: BaseException) -> None:
        """Count an internal error; log the first one so it is seen without flooding."""
        self.errors += 1
        if not self._logged_error:
            self._logged_error = True
            log.warning("asgi-inspect recorder error (counted, request unaffected): %r", exc)
