"""The exchange being handled, as hooks that run inside the app see it.

The recorder sets :data:`CURRENT` around the app's call when the process captures what the app
prints (``output.py``) or what it does inside an exchange (``inside/``: outbound calls,
queries, spans). A context variable follows the exchange into the tasks it awaits and into
the threads Starlette, anyio and asgiref run sync code in (they copy the context), so two
concurrent requests never mix what they did. :meth:`Tag.add` is safe from any thread: the
batch belongs to the event loop's.
"""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asgi_inspect.record.batch import Batcher
    from asgi_inspect.record.redact import Redactor


class Tag:
    """One exchange in the making: where its records go and what it may still keep."""

    __slots__ = ("batch", "calls", "inside_left", "left", "loop", "output", "redactor",
                 "skipped", "thread", "xid")

    def __init__(self, batch: Batcher, xid: int, *, output: bool, calls: bool,
                 redactor: Redactor | None) -> None:
        self.batch = batch
        self.xid = xid
        self.output = output  # printed and logged text is kept
        self.calls = calls  # outbound calls, queries and spans are kept
        self.redactor = redactor  # set when capturing with redaction: calls are redacted too
        self.left = batch.max_body  # characters of output still kept
        self.inside_left = batch.max_events  # calls, queries and spans still kept
        self.skipped = 0  # calls, queries and spans past that cap: counted, said at the end
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()

    def full(self) -> bool:
        """Whether the exchange keeps no more calls, queries or spans (the cap): one more is
        counted as skipped then, and said when the exchange ends."""
        if self.inside_left > 0:
            return False
        self.skipped += 1
        return True

    def add(self, record: Any) -> None:
        """Hand a record to the batch, from the event loop's thread or any other; never
        raises into the caller (a failure is the recorder's error, counted)."""
        try:
            if threading.get_ident() == self.thread:
                self.batch.add(record)
            else:  # a worker thread: the batch belongs to the event loop's thread
                self.loop.call_soon_threadsafe(self.batch.add, record)
        except Exception as exc:  # the loop is closed: the process is going down
            self.batch.error(exc)


CURRENT: ContextVar[Tag | None] = ContextVar("asgi_inspect_exchange", default=None)
