"""What the app prints and logs while it handles an exchange, attributed to that exchange.

``asgi-inspect run`` calls :func:`install` in the server process: ``sys.stdout`` and
``sys.stderr`` become thin proxies and log records are noted as they are made. Each looks up the
exchange being handled from a context variable that the recorder sets around the app's call
(``Inspector(capture_output=True)``), so a ``print()`` in an endpoint, in a task it awaits or in
a thread it runs through Starlette's or anyio's thread pool (they copy the context) lands on the
right exchange. Everything still reaches the real streams; output outside any exchange is only
passed through. Recording never raises into the app, and each exchange keeps at most
``max_body`` characters of output (the recorder's body cap), then says that it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, TextIO

from asgi_inspect.record.context import CURRENT
from asgi_inspect.record.wire import Output, tag_of

OUTPUT = tag_of(Output)
CAPPED = "\n[asgi-inspect: output capped here]\n"
_HANDLER_WRITES = logging.StreamHandler.emit.__code__  # also Python's last-resort handler's
# Loggers whose records are about the server or the recorder, not the app's own doing.
_NOT_THE_APP = ("uvicorn", "asgi_inspect", "hypercorn", "daphne", "asyncio")


def record(stream: str, text: str) -> None:
    """Add ``text`` to the output of the exchange being handled, if any; never raises."""
    tag = CURRENT.get()
    if tag is None or not tag.output or tag.left <= 0 or not text:
        return
    if len(text) >= tag.left:
        text = text[:tag.left] + CAPPED
    tag.left -= len(text)
    tag.add((OUTPUT, tag.xid, perf_counter_ns(), stream, text))


class TaggedStream:
    """A text stream that also records what is written to it during an exchange."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        # A logging handler writing a record: already noted as "log" when it was made.
        if isinstance(text, str) and sys._getframe(1).f_code is not _HANDLER_WRITES:
            record(self._name, text)
        return written

    def __getattr__(self, name: str) -> Any:  # fileno, flush, encoding, isatty, buffer...
        return getattr(self._stream, name)


def _log_records(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """A log record factory that also records the app's records (not the server's).

    A factory rather than a handler: it sees each record the app's loggers let through, and
    adds no handler, so what the app's logging prints (or Python's last-resort output when it
    configured none) stays exactly as it was.
    """
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        log = make(*args, **kwargs)
        tag = CURRENT.get()
        if tag is not None and tag.output and not log.name.startswith(_NOT_THE_APP):
            # A message whose arguments do not format: logging itself reports it later.
            with contextlib.suppress(Exception):
                record("log", formatter.format(log) + "\n")
        return log

    factory.asgi_inspect = True  # type: ignore[attr-defined]
    return factory


def install() -> None:
    """Hook stdout, stderr and the creation of log records (once per process)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, TaggedStream):
            setattr(sys, name, TaggedStream(stream, name))
    make = logging.getLogRecordFactory()
    if not getattr(make, "asgi_inspect", False):
        logging.setLogRecordFactory(_log_records(make))
