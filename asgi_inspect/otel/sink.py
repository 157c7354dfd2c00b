"""``Inspector(app, otlp=ENDPOINT)`` without an ``asgi-inspect`` process: a sink that hands
each batch to a thread of its own, where a collector assembles exchanges and a
:class:`~asgi_inspect.otel.exporter.SpanExport` converts and sends them. The app's event loop
only queues the batch (and passes it to the sink it would have used anyway: a file, or the
live channel named by ``$ASGI_INSPECT``).

Batches the thread's queue cannot take are lost to the export, and counted with the spans it
could not send (:attr:`OtlpSink.dropped`); without another sink, the recorder counts them
too, as it counts every batch a sink refuses. Like the file sink, it starts its thread in the
process that first delivers to it, so a server that forks workers after loading the app gets
one thread per worker.
"""

from __future__ import annotations

import functools
import os
import queue
import threading

from asgi_inspect.model import Exchange
from asgi_inspect.ops.export import redact_exchange
from asgi_inspect.otel.exporter import OtlpSettings, SpanExport, settings
from asgi_inspect.record.redact import Redactor
from asgi_inspect.record.sinks import ENV_ADDRESS, Sink, resolve_sink
from asgi_inspect.store.collector import Collector

MAX_PENDING = 1024  # batches waiting for the thread


def otlp_sink(sink: Sink | str | os.PathLike[str] | None, endpoint: str,
              service_name: str = "asgi-inspect") -> OtlpSink:
    """The sink of ``Inspector(app, sink, otlp=endpoint)``: the export, beside ``sink`` when
    one was given or ``$ASGI_INSPECT`` names a collector (the in-memory default is left out:
    nobody reads it when the exchanges go to OpenTelemetry). ``endpoint`` "" takes the
    standard ``OTEL_EXPORTER_OTLP_ENDPOINT``. Raises ``ValueError`` for a bad endpoint."""
    config = settings(endpoint or None, service_name=service_name)
    beside = resolve_sink(sink) if sink is not None or os.environ.get(ENV_ADDRESS) else None
    return OtlpSink(config, beside)


class OtlpSink:
    """Exchanges to OpenTelemetry from a thread (see the module's docstring); ``beside``:
    the sink every batch also goes to."""

    def __init__(self, config: OtlpSettings, beside: Sink | None = None) -> None:
        self.config = config
        self.beside = beside
        self.lost_batches = 0  # batches the thread's queue could not take
        self.export: SpanExport | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def dropped(self) -> int:
        """Spans the export lost, and batches it never saw."""
        return self.lost_batches + (self.export.dropped if self.export is not None else 0)

    def deliver(self, frame: bytes) -> bool:
        if self._pid != os.getpid():
            self._start()
        taken = self.beside.deliver(frame) if self.beside is not None else True
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.lost_batches += 1
            return taken and self.beside is not None
        return taken

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue(MAX_PENDING)  # a forked child starts afresh
            self._pid = os.getpid()
            redact = functools.partial(redact_exchange, redactor=Redactor(), copied=True)
            self.export = SpanExport(self.config, redact)
            self._thread = threading.Thread(target=self._run, name="asgi-inspect-otlp-sink",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """The thread: batches into exchanges, each closed one to the export."""
        assert self.export is not None
        collector = Collector()
        collector.on_close = functools.partial(_hand_on, collector, self.export)
        while (frame := self._queue.get()) is not None:
            try:
                collector.feed(frame)
            except Exception as exc:  # a batch that does not decode: its spans are lost
                self.export.lose(1, f"a batch could not be read: {exc!r}")
            collector.store.changed.clear()  # nothing views this collector

    def close(self) -> None:
        if self.beside is not None:
            self.beside.close()
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self.export is not None and self._pid == os.getpid():
            self.export.close()


def _hand_on(collector: Collector, export: SpanExport, exchange: Exchange) -> None:
    """A closed exchange leaves this collector (nobody browses it) for the export."""
    collector.store.remove([exchange])
    export(exchange)
