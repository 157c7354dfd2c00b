"""The collector: turns the recorder's records into exchanges, kept in a :class:`Store`.

It runs wherever the records arrive: in the app's process (memory and file sinks) or in the
inspector's (the live channel). Exchanges are updated in place as their events come in, so an
open SSE response or WebSocket is visible while it lasts; the store's ``changed`` tells views
which.

Nothing lost is left looking alive. Each recorder (a *source*) numbers its batches and counts
the records it could not deliver; a gap in the numbers or a higher count means records went
missing, and every exchange of that source open at the time may have lost its end. Such an
exchange that stays silent for :data:`LOST_AFTER_NS` of the recorder's time is settled as lost
(``lost_records``, a note, an outcome read from what did arrive) and handed to ``on_close``
like any other; if its records turn up after all, it is open again. When a source ends (its
last batch, which holds no records, arrives; or the session sees its process exit,
:meth:`Collector.end_sources`), whatever it left open is settled as lost at once.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from asgi_inspect.model import (
    REPLAY_HEADER,
    Caps,
    Direction,
    Event,
    ExceptionInfo,
    Exchange,
    Inside,
    OutboundCall,
    OutputLine,
    header,
    header_pairs,
)
from asgi_inspect.record.wire import (
    STATUS_NAMES,
    BatchDecoder,
    Closed,
    Header,
    InsideRecord,
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
from asgi_inspect.store.untracked import untrack, untrack_exchange, untrack_inside

_PAYLOAD_TYPES = {
    "http.request": "body", "http.response.body": "body", "websocket.http.response.body": "body",
    "websocket.receive": "", "websocket.send": "",
}
_RECENT = 4096  # closed exchanges still matched by late events
# How long (the recorder's clock) an exchange that was open when its recorder lost records may
# stay silent before it is taken as lost: long enough for a slow handler, short enough to see.
LOST_AFTER_NS = 10 * 10**9
LOST_IN_TRANSIT = ("the recorder's records for this exchange were lost (it dropped a batch, or "
                   "a batch went missing on the way): its end was not recorded")
RECORDER_CLOSED = "the recorder shut down while this exchange was open: its end was not recorded"
LIFESPAN_UNSUPPORTED = ("lifespan unsupported: the app raised {} on the lifespan scope before "
                        "taking lifespan.startup, so the server runs without a lifespan "
                        "(uvicorn: \"ASGI 'lifespan' protocol appears unsupported.\")")


class _Live:
    __slots__ = ("closed", "elided", "exchange", "key", "lost", "next_seq", "partial",
                 "suspect", "t0")

    def __init__(self, exchange: Exchange, key: tuple[str, int], t0: int) -> None:
        self.exchange = exchange
        self.key = key
        self.t0 = t0
        self.closed = False
        self.next_seq = 0  # a gap in the recorder's sequence numbers means records were lost
        self.elided = (0, 0, 0, 0, 0, 0)  # the last elided totals the recorder reported
        self.partial: dict[str, OutputLine] | None = None  # output lines awaiting their end
        self.suspect: int | None = None  # open when records went missing (recorder's time)
        self.lost: tuple[str, bool] | None = None  # taken as lost: its note, lost_records before


class _Source:
    """What the collector knows of one recorder (one Inspector in one process)."""

    __slots__ = ("batch", "closed", "dropped", "ended", "errors", "missing", "now", "suspects")

    def __init__(self) -> None:
        self.batch = -1  # the last batch number seen
        self.dropped = 0  # records the recorder reports it could not deliver (running total)
        self.errors = 0  # its internal errors (running total)
        # Records known lost beyond what it reported: batches that never arrived although it
        # handed them on, and the last record of each exchange it left open when it died.
        self.missing = 0
        self.now = 0  # the time of its latest record, on its clock
        self.suspects: list[_Live] = []  # open when records went missing, silent since
        self.ended = False  # its last batch arrived, or its process is gone
        self.closed = False  # its last batch arrived: it closed, its process did not die


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
        self._sources: dict[str, _Source] = {}
        self._decoder = BatchDecoder()
        self._source = ""
        self._clock = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            Open: self._open, Received: self._received, Sent: self._sent,
            Progress: self._progress, Note: self._note, Output: self._output,
            InsideRecord: self._inside,
            Closed: self._closed,
        }

    # counts reported by the recorders -----------------------------------------------------

    @property
    def dropped(self) -> int:
        """Records lost on the way: those the recorders reported, plus those known lost
        without their word (batches that never arrived, the ends of exchanges a dead
        recorder left open)."""
        return sum(s.dropped + s.missing for s in self._sources.values())

    @property
    def recorder_errors(self) -> int:
        return sum(s.errors for s in self._sources.values())

    def live_sources(self) -> list[str]:
        """The recorders that have not ended (see :meth:`end_sources`)."""
        return [name for name, source in self._sources.items() if not source.ended]

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

    def apply(self, header: Header, records: Sequence[Record]) -> None:
        name = self._source = header.source
        self._clock = header.clock
        source = self._sources.get(name)
        if source is None:
            source = self._sources[name] = _Source()
        self._count_missing(name, source, header)
        self.caps = Caps(max_body=header.max_body, max_events=header.max_events)
        handlers = self._handlers
        for record in records:
            handlers[type(record)](record)
        if records:
            source.ended = source.closed = False  # it speaks: whatever ended it, it is alive
            source.now = max(source.now, _time_of(records[-1]))
            if source.suspects:
                self._settle_silent(source)
        else:  # only a recorder's close sends a batch without records: its last word
            source.closed = True
            self._end(name, source, RECORDER_CLOSED, count=False)
        store = self.store
        if store.max_memory is not None and store.memory > store.max_memory:
            store.evict()

    def end_sources(self, names: Iterable[str], note: str, *,
                    lifespan_note: str | None = None) -> int:
        """These recorders are gone (their process exited): settle what they left open as
        lost, with ``note`` (a lifespan with ``lifespan_note``: it is no request), and count
        its last record as dropped. How many were open."""
        return sum(self._end(name, self._sources[name], note, count=True,
                             lifespan_note=lifespan_note)
                   for name in names if name in self._sources)

    def closed(self, name: str) -> bool:
        """Whether this recorder closed (sent its last batch) rather than died."""
        source = self._sources.get(name)
        return source is not None and source.closed

    @property
    def last_source(self) -> str:
        """The recorder the last batch came from (the live channel ties it to a connection)."""
        return self._source

    # losses --------------------------------------------------------------------------------

    def _count_missing(self, name: str, source: _Source, header: Header) -> None:
        """Read the header's batch number and drop count: when records went missing, every
        exchange of this source open now may have lost some, its end among them."""
        gap = header.batch - source.batch - 1
        reported = header.dropped - source.dropped
        source.batch = max(source.batch, header.batch)
        source.dropped, source.errors = header.dropped, header.errors
        if gap <= 0 and reported <= 0:
            return
        source.missing += max(0, gap - max(reported, 0))  # a refused batch held >= 1 record
        for (owner, _), live in self._running.items():
            # A lifespan is silent by nature: it is settled when its source ends, not here.
            if owner == name and live.suspect is None and live.exchange.type != "lifespan":
                live.suspect = source.now
                source.suspects.append(live)

    def _settle_silent(self, source: _Source) -> None:
        """Settle as lost the suspects that stayed silent for LOST_AFTER_NS."""
        waiting = []
        for live in source.suspects:
            if live.suspect is None or live.closed:
                continue  # heard from since, or settled otherwise
            if source.now - live.suspect >= LOST_AFTER_NS:
                self._settle_lost(live, LOST_IN_TRANSIT)
            else:
                waiting.append(live)
        source.suspects = waiting

    def _end(self, name: str, source: _Source, note: str, *, count: bool,
             lifespan_note: str | None = None) -> int:
        """A source ended: what it left open will never close; count its ends if asked."""
        if source.ended:
            return 0
        source.ended = True
        left_open = [live for (owner, _), live in self._running.items() if owner == name]
        for live in left_open:
            lifespan = live.exchange.type == "lifespan"
            self._settle_lost(live, lifespan_note if lifespan and lifespan_note else note)
        source.suspects = []
        if count:
            source.missing += len(left_open)
        return len(left_open)

    def _settle_lost(self, live: _Live, note: str) -> None:
        """Close an exchange whose end will not arrive, saying so; views hear of it as of any
        other closed exchange."""
        exchange = live.exchange
        live.lost = (note, exchange.lost_records)
        live.suspect = None
        self._retire(live)
        exchange.lost_records = True
        outcomes.settle_lost(exchange, note)
        self.store.changed.add(exchange.id)
        if self.on_close is not None:
            self.on_close(exchange)

    def _revive(self, live: _Live) -> None:
        """An exchange taken as lost had records after all: it is open; undo the settling."""
        assert live.lost is not None
        note, live.exchange.lost_records = live.lost
        live.lost = None
        live.closed = False
        self._recent.pop(live.key, None)
        self._running[live.key] = live
        outcomes.unsettle_lost(live.exchange, note)
        self.store.changed.add(live.exchange.id)

    def _retire(self, live: _Live) -> None:
        """Move a closed exchange from the running ones to the recent ones."""
        live.closed = True
        self._running.pop(live.key, None)
        self._recent[live.key] = live
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    # records -------------------------------------------------------------------------------

    def _open(self, record: Open) -> None:
        scope = record.scope if isinstance(record.scope, dict) else {}
        exchange = Exchange(id=self.store.new_id(), type=str(scope.get("type", "?")),
                            started_at=(record.t + self._clock) / 1e9, scope=record.scope,
                            source=self._source, replay_of=_replay_of(scope))
        key = (self._source, record.xid)
        self._running[key] = _Live(exchange, key, record.t)
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
        untrack(message)
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

    def _inside(self, record: InsideRecord) -> None:
        """A call, query or span the app made: its times made relative to the exchange, and
        kept in the order they began (one that ended later may have begun earlier)."""
        item = record.item
        live = self._find(record.xid, item.t_start)
        t0 = live.t0
        item.t_start -= t0
        if item.t_end is not None:
            item.t_end -= t0
        if isinstance(item, OutboundCall) and item.t_first_byte is not None:
            item.t_first_byte -= t0
        untrack_inside(item)
        inside = live.exchange.inside
        inside.append(item)
        if len(inside) > 1 and inside[-2].t_start > item.t_start:
            inside.sort(key=_start_of)
        self.store.changed.add(live.exchange.id)

    def _closed(self, record: Closed) -> None:
        live = self._find(record.xid, record.t)
        exchange = live.exchange
        self._retire(live)
        exchange.ended_ns = record.t - live.t0
        if record.elided is not None:
            _add_elided(live, record.elided)
        status = STATUS_NAMES[record.status]
        if record.failure is not None and _lifespan_unsupported(exchange):
            f = record.failure
            exchange.notes.append(LIFESPAN_UNSUPPORTED.format(f"{f.type}: {f.message}"))
            status = "ok"  # the server runs on without a lifespan: nothing failed
        elif record.failure is not None:
            f = record.failure
            exchange.exception = ExceptionInfo(type=f.type, message=f.message,
                                               traceback=f.traceback, after_event=f.after_event)
        if record.scope_added is not None:
            exchange.scope_added = record.scope_added
            untrack_exchange(exchange)  # setting a dict tracked it again
        if record.returned is not None:
            exchange.notes.append(f"the app returned {record.returned} instead of None")
        outcomes.settle(exchange, status)
        self.store.changed.add(exchange.id)
        if self.on_close is not None:
            self.on_close(exchange)

    # helpers -------------------------------------------------------------------------------

    def _find(self, xid: int, t: int) -> _Live:
        key = (self._source, xid)
        live = self._running.get(key)
        if live is None:
            return self._find_closed(key, t)
        if live.suspect is not None:
            live.suspect = None  # heard from: still open
        return live

    def _find_closed(self, key: tuple[str, int], t: int) -> _Live:
        """The exchange of a record that is not running: a recent one (a late event, or one
        taken as lost too soon), else a new one whose Open was dropped on the way."""
        live = self._recent.get(key)
        if live is None:
            exchange = Exchange(id=self.store.new_id(), type="?", started_at=0.0, scope={},
                                source=self._source, lost_records=True)
            live = self._running[key] = _Live(exchange, key, t)
            self.store.keep(exchange)
        elif live.lost is not None:
            self._revive(live)
        return live


def _lifespan_unsupported(exchange: Exchange) -> bool:
    """A lifespan the app raised on before taking ``lifespan.startup``: the app has none
    (Strawberry's, Django's), and servers then run without it."""
    return exchange.type == "lifespan" and not any(
        e.type == "lifespan.startup" and e.status == "ok" for e in exchange.events)


def _time_of(record: Record) -> int:
    """When a record was made, on its recorder's clock."""
    if isinstance(record, InsideRecord):
        return record.item.t_end or record.item.t_start
    return record.t_call if isinstance(record, Received) else record.t


def _start_of(item: Inside) -> int:
    return item.t_start


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
