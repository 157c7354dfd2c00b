"""Where exchanges' spans go: OTLP over HTTP/protobuf or gRPC, through the official
``opentelemetry-sdk`` exporters, never in the way of whoever hands the exchanges over.

:class:`SpanSender` converts and sends in the caller's thread (a saved trace's export).
:class:`SpanExport` is a closed-exchange callback (a session's ``on_close``, a collector's):
it puts the exchange on a bounded queue and returns. One thread takes what is queued,
prepares each exchange (the caller's redaction) and converts it (:func:`~.spans.to_spans`),
another sends each batch in one request (so the next batch is built while one is on the
wire). Why our own queue rather than the SDK's
``BatchSpanProcessor``: it drops what it cannot queue or send with only a log line, and we
count every span lost, as we count our own dropped records (the TUI's header, headless stats).
Exchanges the queue cannot take, and the spans of a request the exporter gave up on (after
its own retries), are counted in :attr:`SpanExport.dropped` and said through ``warn``: once
when losses start, then at most every :data:`WARN_EVERY` seconds, and at :meth:`close`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from asgi_inspect.model import DEFAULT_OTLP_BODY, Exchange
from asgi_inspect.otel.spans import carried, span_count, to_spans

Protocol = Literal["http/protobuf", "grpc"]
PROTOCOLS: Final[tuple[Protocol, ...]] = ("http/protobuf", "grpc")
_PROTOCOL_NAMES: Final[dict[str, Protocol]] = {name: name for name in PROTOCOLS}
ENV_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENV_SERVICE = "OTEL_SERVICE_NAME"
DEFAULT_ENDPOINTS: Final[dict[Protocol, str]] = {"http/protobuf": "http://localhost:4318",
                                                 "grpc": "http://localhost:4317"}
TRACES_PATH = "/v1/traces"  # the signal path OTLP/HTTP appends to a base endpoint
MAX_QUEUED = 8192  # exchanges waiting to be converted and sent; beyond, their spans are lost
MAX_BATCH = 512  # spans sent in one request at most
WARN_EVERY = 5.0  # seconds between two lines about a growing loss
CLOSE_TIMEOUT = 5.0  # seconds the queue has to drain at exit


class OtlpError(ValueError):
    """Bad OTLP settings (one line, for the user)."""


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    """Where and how spans are sent, and what they carry."""

    endpoint: str  # a base URL: http://collector:4318 (HTTP), http://collector:4317 (gRPC)
    protocol: Protocol = "http/protobuf"
    service_name: str = "asgi-inspect"
    max_body: int = DEFAULT_OTLP_BODY  # body bytes per direction on a span; 0: none

    def resource(self) -> Resource:
        return service_resource(self.service_name)

    @property
    def url(self) -> str:
        """Where the spans go: the base URL with the traces path (HTTP), or as given (gRPC)."""
        base = self.endpoint.rstrip("/")
        return base + TRACES_PATH if self.protocol == "http/protobuf" else base


def service_resource(service_name: str = "asgi-inspect") -> Resource:
    """The resource every span names: ``OTEL_SERVICE_NAME`` wins over ``service_name``, and
    ``OTEL_RESOURCE_ATTRIBUTES`` adds to it (the SDK reads both)."""
    return Resource.create({"service.name": os.environ.get(ENV_SERVICE) or service_name})


def settings(endpoint: str | None, *, protocol: str | None = None,
             service_name: str = "asgi-inspect",
             max_body: int = DEFAULT_OTLP_BODY) -> OtlpSettings:
    """Settings from what the user gave, the standard environment variables filling in what
    they did not (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL``); raises
    :class:`OtlpError` with one line saying what is wrong."""
    chosen = protocol or os.environ.get(ENV_PROTOCOL) or "http/protobuf"
    kind = _PROTOCOL_NAMES.get(chosen)
    if kind is None:
        raise OtlpError(f"unknown OTLP protocol {chosen!r}; one of {', '.join(PROTOCOLS)}")
    url = endpoint or os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINTS[kind]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OtlpError(f"not an OTLP endpoint URL: {url!r} (e.g. http://collector:4318)")
    if max_body < 0:
        raise OtlpError("the OTLP body size must be 0 or more")
    return OtlpSettings(url, kind, service_name, max_body)


def make_exporter(config: OtlpSettings) -> SpanExporter:
    """The official exporter for the protocol (``OTEL_EXPORTER_OTLP_HEADERS``, timeouts and
    certificates are read by it from the environment, as everywhere in OpenTelemetry)."""
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        parts = urlsplit(config.url)
        return GrpcExporter(endpoint=parts.netloc, insecure=parts.scheme == "http")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=config.url)


class _LastError(logging.Handler):
    """Keeps the exporters' last complaint, for our own line about the loss (their log
    records would otherwise land on a terminal the TUI draws on)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.text = record.getMessage().splitlines()[0][:200] if record.getMessage() else ""


_EXPORTER_LOG = logging.getLogger("opentelemetry.exporter")
_last_error = _LastError()


def last_error() -> str:
    """The exporters' last complaint (their own words on why a request failed), or ""."""
    return _last_error.text


def _quiet_exporters() -> None:
    """Route the exporters' log records to :data:`_last_error` (once per process)."""
    if _last_error not in _EXPORTER_LOG.handlers:
        _EXPORTER_LOG.addHandler(_last_error)
        _EXPORTER_LOG.propagate = False


class SpanSender:
    """Converts exchanges and sends their spans, in the caller's thread, counting what is
    lost. ``prepare`` makes the copy that is sent (redaction); ``exporter`` defaults to the
    official one for ``config``; ``warn`` says losses (default: the log)."""

    def __init__(self, config: OtlpSettings, prepare: Callable[[Exchange], Exchange], *,
                 exporter: SpanExporter | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        _quiet_exporters()
        self.config = config
        self.prepare = prepare
        self.exporter = exporter or make_exporter(config)
        self.warn = warn or logging.getLogger("asgi_inspect").warning
        self.sent = 0  # spans the backend took
        self.dropped = 0  # spans lost: not queued, not converted, or not accepted
        self._resource = config.resource()
        self._said = (0, 0.0)  # the loss last said, and when (time.monotonic())
        self._counting = threading.Lock()  # losses may be counted from two threads

    def send(self, exchanges: Iterable[Exchange]) -> None:
        """Convert and send, MAX_BATCH spans to a request (a saved trace's export)."""
        spans: list[ReadableSpan] = []
        for exchange in exchanges:
            spans += self.convert(exchange)
            if len(spans) >= MAX_BATCH:
                self.export(spans)
                spans = []
        self.export(spans)

    def convert(self, exchange: Exchange) -> list[ReadableSpan]:
        try:
            return to_spans(self.prepare(carried(exchange)), self._resource,
                            max_body=self.config.max_body)
        except Exception as exc:  # a conversion bug loses this exchange, not the rest
            self.lose(span_count(exchange), f"conversion failed: {exc!r}")
            return []

    def export(self, spans: list[ReadableSpan]) -> None:
        """One request (the exporter retries it as OTLP says); its spans counted sent or
        lost."""
        if not spans:
            return
        try:
            result = self.exporter.export(spans)
        except Exception as exc:  # the exporter's own retries ended in an error
            _last_error.text = repr(exc)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.sent += len(spans)
        else:
            self.lose(len(spans), _last_error.text or "the endpoint did not accept them")

    def lose(self, count: int, why: str) -> None:
        """Count lost spans; say so when losses start, then at most every WARN_EVERY s."""
        if not count:
            return
        with self._counting:
            self.dropped += count
            shown, at = self._said
            now = time.monotonic()
            if shown and now - at < WARN_EVERY:
                return
            self._said = (self.dropped, now)
        what = "spans lost" if not shown else "still losing spans"
        self.warn(f"asgi-inspect: OTLP {what}: {self.dropped:,} not sent to "
                  f"{self.config.url} so far ({why})")

    def shutdown(self) -> None:
        """Release the exporter (its connections) and say the total loss, if any."""
        self.exporter.shutdown()
        if self.dropped:
            self.warn(f"asgi-inspect: {self.dropped:,} span{'' if self.dropped == 1 else 's'} "
                      f"could not be sent to {self.config.url} ({self.sent:,} sent)")


class SpanExport(SpanSender):
    """A :class:`SpanSender` behind a bounded queue and two threads of its own: calling it
    with a closed exchange never waits (see the module's docstring). One thread converts, the
    other sends: a batch is built while the one before it is on the wire (the exporter waits
    for each answer)."""

    def __init__(self, config: OtlpSettings, prepare: Callable[[Exchange], Exchange], *,
                 exporter: SpanExporter | None = None, max_queued: int = MAX_QUEUED,
                 warn: Callable[[str], None] | None = None) -> None:
        super().__init__(config, prepare, exporter=exporter, warn=warn)
        self._queue: queue.Queue[Exchange | None] = queue.Queue(max_queued)
        self._batches: queue.Queue[list[ReadableSpan] | None] = queue.Queue(2)
        self._threads = [threading.Thread(target=target, name=name, daemon=True) for
                         target, name in ((self._convert_batches, "asgi-inspect-otlp"),
                                          (self._send_batches, "asgi-inspect-otlp-send"))]
        for thread in self._threads:
            thread.start()

    def __call__(self, exchange: Exchange) -> None:
        """Queue a closed exchange; when the queue is full its spans are lost, and counted."""
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            self.lose(span_count(exchange), "the exporter cannot keep up")

    def _convert_batches(self) -> None:
        """Take what is queued (up to MAX_BATCH spans) and hand it to the sender, again;
        waits while the sender has two batches (the queue before it fills, then loses)."""
        going = True
        while going:
            first = self._queue.get()
            if first is None:
                break
            spans = self.convert(first)
            while len(spans) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    going = False
                    break
                spans += self.convert(more)
            if spans:
                self._batches.put(spans)
        self._batches.put(None)

    def _send_batches(self) -> None:
        while (spans := self._batches.get()) is not None:
            self.export(spans)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Send what is queued (for at most ``timeout`` seconds), stop, and say the total
        loss if any. What is still queued then is counted as lost."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):  # full and not draining: all of it is lost
            self._queue.put(None, timeout=timeout)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = sum(span_count(item) for item in _drained(self._queue) if item is not None)
        left += sum(len(spans) for spans in _drained(self._batches) if spans is not None)
        with self._counting:
            self.dropped += left
        self.shutdown()


T = TypeVar("T")


def _drained(waiting: queue.Queue[T]) -> list[T]:
    """What is left in a queue, taken out."""
    items = []
    while True:
        try:
            items.append(waiting.get_nowait())
        except queue.Empty:
            return items
