"""Sinks: where the recorder's batches go.

A sink takes one encoded batch at a time and must answer at once: ``True`` when it took the
batch, ``False`` when it could not (the recorder then counts the batch as dropped). Three ship:
:class:`MemorySink` (a ring buffer in this process), :class:`JsonlSink` (a file, written from a
thread) and :class:`SocketSink` (the live channel to ``asgi-inspect``'s collector).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from asgi_inspect.record.files import LineFile

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from asgi_inspect.model import Exchange
    from asgi_inspect.store.collector import Collector

ENV_ADDRESS = "ASGI_INSPECT"

log = logging.getLogger("asgi_inspect")


@runtime_checkable
class Sink(Protocol):
    def deliver(self, frame: bytes) -> bool:
        """Take one batch without blocking; False means it was not taken (and is lost)."""
        ...

    def close(self) -> None:
        """Finish: write or send what is pending. Called once, at shutdown."""
        ...


def resolve_sink(sink: Sink | str | os.PathLike[str] | None) -> Sink:
    """A sink from what the user gave: a sink, a JSONL path, or None (environment, else memory)."""
    if sink is None:
        address = os.environ.get(ENV_ADDRESS)
        return SocketSink(address) if address else MemorySink()
    if isinstance(sink, (str, os.PathLike)):
        return JsonlSink(sink)
    if not isinstance(sink, Sink):
        raise TypeError(f"not a sink: {sink!r}")
    return sink


class MemorySink:
    """Keeps the last ``max_exchanges`` exchanges in memory, assembled as batches arrive."""

    def __init__(self, max_exchanges: int | None = 10_000) -> None:
        # Assembling exchanges is the inspector's work, done here in the app's process because
        # this sink was asked for: nothing of it loads for the other sinks.
        from asgi_inspect.store.collector import Collector

        self.collector = Collector(max_exchanges)
        # Set by the Inspector that records into this sink: its pending batch, delivered
        # before the exchanges are read, so a test sees every record made so far.
        self.pending: Callable[[], None] | None = None

    def deliver(self, frame: bytes) -> bool:
        self.collector.feed(frame)
        self.collector.store.changed.clear()  # no view drains it here
        return True

    def close(self) -> None:
        pass

    @property
    def exchanges(self) -> list[Exchange]:
        """The exchanges recorded so far, with the records still pending in the recorder's
        batch (read them from the app's thread, or once its requests are done)."""
        if self.pending is not None:
            self.pending()
        return list(self.collector.store)


class JsonlSink:
    """Appends one JSON line per finished exchange to ``path`` (owner-only, 0600), from a
    writer thread.

    Each line is written whole or not at all (:class:`~asgi_inspect.record.files.LineFile`),
    so neither a killed process nor a full disk leaves a torn line. An exchange that cannot be
    written (the disk is full, the file cannot be opened) is counted in ``unwritten``: one
    warning is logged when the loss starts, another with the count at :meth:`close`, and the
    count goes into the file's stats line if that can still be written. Safe with several
    worker processes appending to one file.
    """

    def __init__(self, path: str | os.PathLike[str], max_pending: int = 1024) -> None:
        self.path = Path(path)
        self.unwritten = 0  # exchanges that could not be written
        self.errors = 0  # batches the writer could not apply
        self._queue: queue.Queue[bytes | None] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._file: LineFile | None = None

    def deliver(self, frame: bytes) -> bool:
        if self._pid != os.getpid():
            self._start()
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            return False
        return True

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue(self._queue.maxsize)  # a forked child starts afresh
            self._pid = os.getpid()
            self.unwritten = self.errors = 0
            self._thread = threading.Thread(target=self._run, name="asgi-inspect-jsonl",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """The writer thread: assemble exchanges, write each as it closes. Never raises: what
        goes wrong is counted, and the recorder's requests never notice."""
        from asgi_inspect.formats import codec
        from asgi_inspect.store.collector import Collector

        try:
            self._file = LineFile(self.path, codec.header_line(), append=True)
        except OSError as exc:
            log.warning("asgi-inspect: cannot open %s (%s): exchanges are counted, not "
                        "recorded", self.path, exc.strerror or exc)
            self._file = None
        collector = Collector()
        collector.on_close = functools.partial(self._write, collector)
        while (frame := self._queue.get()) is not None:
            try:
                collector.feed(frame)
            except Exception as exc:  # a batch that does not decode: counted, never fatal
                self.errors += 1
                log.warning("asgi-inspect: a batch could not be recorded: %r", exc)
            collector.store.changed.clear()  # nothing views this collector
        for exchange in list(collector.store):  # still open at shutdown
            self._write(collector, exchange)
        stats = codec.stats_line(collector.dropped, collector.recorder_errors + self.errors,
                                 self.unwritten)
        if self._file is not None and not self._file.close(stats):
            log.warning("asgi-inspect: the stats line could not be written to %s (%s)",
                        self.path, _reason(self._file.error))
        if self.unwritten:
            log.warning("asgi-inspect: %d exchanges could not be written to %s", self.unwritten,
                        self.path)

    def _write(self, collector: Collector, exchange: Exchange) -> None:
        """Write one closed exchange (the collector's ``on_close``), or count it unwritten."""
        from asgi_inspect.formats import codec

        collector.store.remove([exchange])
        file = self._file
        if file is not None and file.write(codec.exchange_line(exchange)):
            return
        self.unwritten += 1
        if self.unwritten == 1 and file is not None:
            log.warning("asgi-inspect: cannot write to %s (%s): exchanges are counted, not "
                        "recorded, until it can", self.path, _reason(file.error))

    def close(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None


def _reason(error: OSError | None) -> str:
    return "unknown error" if error is None else str(error.strerror or error)


class SocketSink:
    """Streams batches to a collector over a Unix socket or loopback TCP, never blocking.

    Frames the socket cannot take at once wait in a bounded outbox drained by the event loop;
    past that bound batches are refused (and counted as dropped by the recorder). A collector
    that is gone is retried at most once a second.
    """

    MAX_OUTBOX = 8 * 1024 * 1024

    def __init__(self, address: str) -> None:
        from asgi_inspect.record.channel import Address

        self.address = Address.parse(address)
        self._sock: socket.socket | None = None
        self._pid = 0
        self._outbox = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_at = 0.0

    def deliver(self, frame: bytes) -> bool:
        from asgi_inspect.record.channel import frame_bytes

        if self._pid != os.getpid():
            self._sock, self._outbox, self._pid = None, bytearray(), os.getpid()
        if self._sock is None and not self._connect():
            return False
        data = frame_bytes(frame)
        if self._outbox:
            if len(self._outbox) + len(data) > self.MAX_OUTBOX:
                return False
            self._outbox += data
            return True
        return self._write(data)

    def _connect(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._sock = self.address.connect(timeout=1.0)
        except OSError:
            self._retry_at = time.monotonic() + 1.0
            return False
        self._sock.setblocking(False)
        return True

    def _write(self, data: bytes | bytearray) -> bool:
        assert self._sock is not None
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._reset()
            return False
        if sent < len(data):
            self._outbox += data[sent:]
            self._watch()
        return True

    def _watch(self) -> None:
        import asyncio

        try:
            self._loop = asyncio.get_running_loop()
            self._loop.add_writer(self._sock, self._drain)  # type: ignore[arg-type]
        except RuntimeError:  # no loop: finish the write blocking, within a bound
            self._finish()

    def _drain(self) -> None:
        try:
            sent = self._sock.send(self._outbox)  # type: ignore[union-attr]
        except BlockingIOError:
            return
        except OSError:
            self._reset()
            return
        del self._outbox[:sent]
        if not self._outbox and self._loop is not None:
            self._loop.remove_writer(self._sock)  # type: ignore[arg-type]

    def _finish(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.settimeout(2.0)
            sock.sendall(self._outbox)
            self._outbox.clear()
            sock.setblocking(False)
        except OSError:
            self._reset()

    def _unwatch(self) -> None:
        if self._loop is not None and self._sock is not None:
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._loop.remove_writer(self._sock)

    def _reset(self) -> None:
        if self._sock is not None:
            self._unwatch()
            self._sock.close()
        self._sock, self._outbox = None, bytearray()
        self._retry_at = time.monotonic() + 1.0

    def close(self) -> None:
        if self._sock is not None and self._pid == os.getpid():
            self._unwatch()
            self._finish()
            if self._sock is not None:
                self._sock.close()
                self._sock = None
