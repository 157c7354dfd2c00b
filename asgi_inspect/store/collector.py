"""The collector: turns the recorder's records into exchanges, kept in a :class:`Store`.

It runs wherever the records arrive: in the app's process (memory and file sinks) or in the
inspector's (the live channel). Exchanges are updated in place as their events come in, so an
open SSE response or WebSocket is visible while it lasts; the store's ``changed`` tells views
which.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from asgi_inspect.model import (
    REPLAY_HEADER,
    Caps,
    Direction,
    Event,
    ExceptionInfo,
    Exchange,
    OutputLine,
    header,
    header_pairs,
)
from asgi_inspect.record.wire import (
    STATUS_NAMES,
    BatchDecoder,
    Closed,
    Header,
    Note,
    Open,
    Output,
    Progress,
    Received,
    Record,
    Sent,
)
from asgi_inspect.store import outcomes
from asgi_inspect.store.store import Store

_PAYLOAD_TYPES = {
    "http.request": "body", "http.response.body": "body", "websocket.http.response.body": "body",
    "websocket.receive": "", "websocket.send": "",
}
_RECENT = 4096  # closed exchanges still matched by late events


class _Live:
    __slots__ = ("closed", "elided", "exchange", "next_seq", "partial", "t0")

    def __init__(self, exchange: Exchange, t0: int) -> None:
        self.exchange = exchange
        self.t0 = t0
        self.closed = False
        self.next_seq = 0  # a gap in the recorder's sequence numbers means records were lost
        self.elided = (0, 0, 0, 0, 0, 0)  # the last elided totals the recorder reported
        self.partial: dict[str, OutputLine] | None = None  # output lines awaiting their end


class Collector:
    """Assembles records into :class:`Exchange` objects, kept in ``store`` (a new one, bounded
    by ``max_exchanges`` and ``max_memory``, unless given)."""

    def __init__(self, max_exchanges: int | None = None,
                 on_close: Callable[[Exchange], None] | None = None, *,
                 max_memory: int | None = None, store: Store | None = None) -> None:
        self.store = store if store is not None else Store(max_exchanges, max_memory=max_memory)
        self.on_close = on_close
        self.caps = Caps()
        # Exchanges still open, and the last _RECENT closed ones (late events still find them).
        self._running: dict[tuple[str, int], _Live] = {}
        self._recent: OrderedDict[tuple[str, int], _Live] = OrderedDict()
        self._sources: dict[str, tuple[int, int]] = {}
        self._decoder = BatchDecoder()
        self._source = ""
        self._clock = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            Open: self._open, Received: self._received, Sent: self._sent,
            Progress: self._progress, Note: self._note, Output: self._output,
            Closed: self._closed,
        }

    # counts reported by the recorders -----------------------------------------------------

    @property
    def dropped(self) -> int:
        return sum(d for d, _ in self._sources.values())

    @property
    def recorder_errors(self) -> int:
        return sum(e for _, e in self._sources.values())

    # input ---------------------------------------------------------------------------------

    def feed(self, frame: bytes | memoryview) -> int:
        """Apply one batch; returns the number of records. Raises ``msgspec.DecodeError``.

        The garbage collector is paused meanwhile: a batch creates thousands of containers
        that all live on, and collections triggered by them would find nothing to free.
        """
        paused = gc.isenabled()
        gc.disable()
        try:
            header, records = self._decoder.decode(frame)
            self.apply(header, records)
        finally:
            if paused:
                gc.enable()
        return len(records)

    def apply(self, header: Header, records: Iterable[Record]) -> None:
        self._source = header.source
        self._clock = header.clock
        self._sources[header.source] = (header.dropped, header.errors)
        self.caps = Caps(max_body=header.max_body, max_events=header.max_events)
        handlers = self._handlers
        for record in records:
            handlers[type(record)](record)
        store = self.store
        if store.max_memory is not None and store.memory > store.max_memory:
            store.evict()

    # records -------------------------------------------------------------------------------

    def _open(self, record: Open) -> None:
        scope = record.scope if isinstance(record.scope, dict) else {}
        exchange = Exchange(id=self.store.new_id(), type=str(scope.get("type", "?")),
                            started_at=(record.t + self._clock) / 1e9, scope=record.scope,
                            source=self._source, replay_of=_replay_of(scope))
        self._running[(self._source, record.xid)] = _Live(exchange, record.t)
        self.store.keep(exchange)

    def _received(self, record: Received) -> None:
        self._event(record, "receive", self._find(record.xid, record.t_call))

    def _sent(self, record: Sent) -> None:
        self._event(record, "send", self._find(record.xid, record.t_call))

    def _event(self, record: Received | Sent, direction: Direction, live: _Live) -> None:
        """One receive() or send() of a live exchange; counts its payload (runs per event)."""
        exchange = live.exchange
        if record.seq != live.next_seq:
            exchange.lost_records = True
        live.next_seq = record.seq + 1
        message = record.message
        kind = message.get("type") if isinstance(message, dict) else None
        kind = kind if isinstance(kind, str) else "?"
        exchange.events.append(Event(
            direction=direction, type=kind, t_call=record.t_call - live.t0,
            t_return=record.t_return - live.t0, status=STATUS_NAMES[record.status],
            message=message, size=record.size, error=record.error, late=live.closed))
        key = _PAYLOAD_TYPES.get(kind)
        if key is not None:
            counters = exchange.request if direction == "receive" else exchange.response
            kept = _payload_len(message, key)
            counters.chunks += 1
            counters.kept_bytes += kept
            counters.bytes += record.size if record.size is not None else kept
        else:
            kept = 0
        self.store.grew(exchange, kept)

    def _progress(self, record: Progress) -> None:
        live = self._find(record.xid, record.t)
        _add_elided(live, record.elided)
        self.store.changed.add(live.exchange.id)

    def _note(self, record: Note) -> None:
        live = self._find(record.xid, record.t)
        live.exchange.notes.append(record.text)
        self.store.changed.add(live.exchange.id)

    def _output(self, record: Output) -> None:
        """Text the app wrote: lines are completed across writes, one stream at a time."""
        live = self._find(record.xid, record.t)
        partial = live.partial
        if partial is None:
            partial = live.partial = {}
        for piece in record.text.splitlines(keepends=True):
            line = partial.pop(record.stream, None)
            if line is None:
                line = OutputLine(t=record.t - live.t0, stream=record.stream, text="")
                live.exchange.output.append(line)
            line.text += piece
            if line.text.endswith(("\n", "\r")):
                line.text = line.text.rstrip("\r\n")
            else:
                partial[record.stream] = line
        self.store.changed.add(live.exchange.id)

    def _closed(self, record: Closed) -> None:
        live = self._find(record.xid, record.t)
        exchange = live.exchange
        live.closed = True
        key = (self._source, record.xid)
        self._running.pop(key, None)
        self._recent[key] = live
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        exchange.ended_ns = record.t - live.t0
        if record.elided is not None:
            _add_elided(live, record.elided)
        if record.failure is not None:
            f = record.failure
            exchange.exception = ExceptionInfo(type=f.type, message=f.message,
                                               traceback=f.traceback, after_event=f.after_event)
        if record.scope_added is not None:
            exchange.scope_added = record.scope_added
        if record.returned is not None:
            exchange.notes.append(f"the app returned {record.returned} instead of None")
        outcomes.settle(exchange, STATUS_NAMES[record.status])
        self.store.changed.add(exchange.id)
        if self.on_close is not None:
            self.on_close(exchange)

    # helpers -------------------------------------------------------------------------------

    def _find(self, xid: int, t: int) -> _Live:
        key = (self._source, xid)
        live = self._running.get(key) or self._recent.get(key)
        if live is None:  # its Open was dropped on the way: keep what arrives, say so
            exchange = Exchange(id=self.store.new_id(), type="?", started_at=0.0, scope={},
                                source=self._source, lost_records=True)
            live = self._running[key] = _Live(exchange, t)
            self.store.keep(exchange)
        return live


def _replay_of(scope: dict[str, Any]) -> str | None:
    value = header(header_pairs(scope.get("headers")), REPLAY_HEADER)
    return None if value is None else value.decode("latin-1")


def _payload_len(message: dict[str, Any], key: str) -> int:
    if key:
        value = message.get(key)
    else:
        value = message.get("bytes")
        if value is None:
            value = message.get("text")
    return len(value) if isinstance(value, (bytes, str)) else 0


def _add_elided(live: _Live, elided: tuple[int, int, int, int, int, int]) -> None:
    """Add what went by unkept since the recorder's last report to the exchange's totals."""
    before, live.elided = live.elided, elided
    for counters, way in ((live.exchange.request, 0), (live.exchange.response, 3)):
        counters.bytes += elided[way] - before[way]
        counters.chunks += elided[way + 1] - before[way + 1]
        counters.elided = elided[way + 2]
