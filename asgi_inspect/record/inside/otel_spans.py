"""OpenTelemetry spans that start while an exchange runs, attached to it: any library with an
OpenTelemetry instrumentation (redis, celery, boto, httpx...) shows up with no code of ours.

The hook is the SDK's own extension point, a ``SpanProcessor``. The SDK keeps no registry of
its tracer providers, so when ``opentelemetry.sdk.trace`` is imported :func:`install` wraps
``TracerProvider.__init__`` to add our processor to every provider made from then on (the one
the app sets as global, any other it makes, subclasses too), and adds it to the global
provider if the app set one before recording began. A provider the app made before that and
never set as global is not seen. Spans the sampler drops never reach a processor, and under a
``ConcurrentMultiSpanProcessor`` (which calls processors on its own threads, without the
app's context) no span can be attributed.

A span is attributed when it starts (:func:`~asgi_inspect.record.inside.current` in
``on_start``, on the thread that starts it) and recorded when it ends (``on_end``), with its
epoch times moved to this process's ``perf_counter_ns()`` clock, as every hook records.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from time import perf_counter_ns, time_ns
from types import ModuleType
from typing import Any

from asgi_inspect.model import Span
from asgi_inspect.record.context import Tag
from asgi_inspect.record.inside import current, emit

log = logging.getLogger("asgi_inspect")

# Spans started and not ended that we remember; past it the oldest is let go (an app that never
# ends its spans must not grow our memory), counted as not kept on its exchange.
MAX_OPEN = 10_000
_STATUS = {"UNSET": "", "OK": "ok", "ERROR": "error"}


class InsideSpans:
    """A span processor (duck-typed: the SDK calls these five methods) that records each span
    begun inside an exchange on that exchange; it never raises into the app."""

    def __init__(self) -> None:
        self._open: OrderedDict[int, Tag] = OrderedDict()  # span id -> its exchange
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        tag = current()
        if tag is None:
            return
        try:
            with self._lock:
                if len(self._open) >= MAX_OPEN:
                    self._open.popitem(last=False)[1].skipped += 1
                self._open[span.context.span_id] = tag
        except Exception as exc:
            tag.batch.error(exc)

    def _on_ending(self, span: Any) -> None:
        """Called by SDKs that have it, before ``on_end``: nothing to do then."""

    def on_end(self, span: Any) -> None:
        if not self._open:  # the common case outside exchanges: no lock taken
            return
        try:
            with self._lock:
                tag = self._open.pop(span.context.span_id, None)
        except Exception:  # not an SDK span: nothing of ours started it
            return
        if tag is None:
            return
        try:
            emit(tag, span_of(span, perf_counter_ns() - time_ns()))
        except Exception as exc:
            tag.batch.error(exc)

    def shutdown(self) -> None:
        """The provider shuts down: spans still open stay attributed until they end."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is held here: each span was handed to the recorder when it ended."""
        return True


def span_of(span: Any, offset_ns: int) -> Span:
    """Our record of an ended SDK span; ``offset_ns`` moves its epoch times to the
    ``perf_counter_ns()`` clock."""
    context, parent, scope = span.context, span.parent, span.instrumentation_scope
    status = span.status
    end = span.end_time
    return Span(
        name=str(span.name), t_start=span.start_time + offset_ns,
        t_end=None if end is None else end + offset_ns,
        library="" if scope is None else str(scope.name),
        span_kind=span.kind.name.lower(),
        trace_id=format(context.trace_id, "032x"), span_id=format(context.span_id, "016x"),
        parent_id="" if parent is None else format(parent.span_id, "016x"),
        attributes=plain_attributes(span.attributes),
        status=_STATUS.get(status.status_code.name, ""),
        error=error_of(span))


def plain_attributes(attributes: Any) -> dict[str, Any] | None:
    """The span's attributes as a plain dict (sequences as lists), or None when it has none."""
    if not attributes:
        return None
    return {str(key): list(value) if isinstance(value, tuple) else value
            for key, value in attributes.items()}


def error_of(span: Any) -> str | None:
    """What went wrong: the recorded exception ("Type: message"), else the description of an
    error status; None when the span did not fail."""
    for event in span.events:
        if event.name == "exception":
            attributes = event.attributes or {}
            kind = str(attributes.get("exception.type", "Exception")).rpartition(".")[2]
            message = str(attributes.get("exception.message", ""))
            return f"{kind}: {message}" if message else kind
    if span.status.status_code.name == "ERROR":
        return span.status.description or "error"
    return None


PROCESSOR = InsideSpans()
_added: weakref.WeakSet[Any] = weakref.WeakSet()  # the providers that have our processor
_added_lock = threading.Lock()


def install(module: ModuleType) -> None:
    """Add our processor to every SDK tracer provider: those made from now on, and the global
    one already set. Safe to call twice."""
    provider_class = module.TracerProvider
    if not getattr(provider_class.__init__, "_asgi_inspect", False):
        provider_class.__init__ = _adding_processor(provider_class.__init__)
    api = sys.modules.get("opentelemetry.trace")
    provider = getattr(api, "_TRACER_PROVIDER", None)  # never get_tracer_provider(): it sets one
    if isinstance(provider, provider_class):
        add_to(provider)


def add_to(provider: Any) -> None:
    """Add our processor to ``provider`` once."""
    with _added_lock:
        if provider in _added:
            return
        _added.add(provider)
    provider.add_span_processor(PROCESSOR)


def _adding_processor(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        try:
            add_to(self)
        except Exception:
            log.exception("asgi-inspect could not add its span processor: spans not recorded")

    __init__._asgi_inspect = True  # type: ignore[attr-defined]
    return __init__
