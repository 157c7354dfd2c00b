"""The store: the exchanges of a session, oldest first, and a log of what changed in it.

Everything that adds to, edits or removes from a session's exchanges goes through here: the
collector as records arrive, a file being opened, a replay's result, and the user's own edits
(mark, comment, duplicate, delete, clear). Each change names the exchange in
:attr:`Store.changed`, so every view (the TUI's list, the headless printer) learns of it in one
place and nothing sets flags behind the others' backs.

At most ``max_exchanges`` are kept, holding at most about ``max_memory`` bytes (see
:func:`memory_estimate`); the newest exchange stays whatever its size. The oldest go first and
are counted in :attr:`Store.evicted`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from asgi_inspect.formats.codec import exchange_copy
from asgi_inspect.model import Exchange
from asgi_inspect.store.untracked import untrack_exchange

# What an exchange holds beside its events (scope, counters, the Exchange), and an event
# beside its payload (message, Event): measured with tracemalloc on small HTTP exchanges,
# about 2.8 KB and 450 bytes. Rounded up; more headers cost more.
EXCHANGE_COST = 3072
EVENT_COST = 512


def memory_estimate(exchange: Exchange) -> int:
    """What an exchange holds, as the store counts it: its kept payloads, plus
    :data:`EXCHANGE_COST`, plus :data:`EVENT_COST` per event."""
    return (exchange.request.kept_bytes + exchange.response.kept_bytes + EXCHANGE_COST +
            EVENT_COST * len(exchange.events))


class Store:
    """The exchanges of a session by id, in the order they started."""

    def __init__(self, max_exchanges: int | None = None, *,
                 max_memory: int | None = None) -> None:
        # Ordered so that the oldest goes in O(1): a dict leaves a hole at its front for each
        # one popped, and finding its first entry then walks them all (57 µs per eviction
        # at 100k: a quarter of the TUI's event loop at its cap under full load).
        self.exchanges: OrderedDict[str, Exchange] = OrderedDict()
        self.max_exchanges = max_exchanges
        self.max_memory = max_memory
        self.memory = 0  # what the kept exchanges hold, estimated (see memory_estimate)
        self.evicted = 0
        self.changed: set[str] = set()
        self._next_id = 1

    # reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.exchanges.values())

    def __contains__(self, exchange_id: object) -> bool:
        return exchange_id in self.exchanges

    def get(self, exchange_id: str | None) -> Exchange | None:
        return self.exchanges.get(exchange_id) if exchange_id is not None else None

    def original_of(self, exchange: Exchange) -> Exchange | None:
        """The exchange a replay replayed, while it is still kept."""
        return self.get(exchange.replay_of)

    def marked(self) -> list[Exchange]:
        return [e for e in self.exchanges.values() if e.marked]

    def drain_changes(self) -> set[str]:
        """The ids changed (added, updated or removed) since the last call."""
        changed, self.changed = self.changed, set()
        return changed

    # adding -------------------------------------------------------------------------------

    def new_id(self) -> str:
        exchange_id = str(self._next_id)
        self._next_id += 1
        return exchange_id

    def keep(self, exchange: Exchange) -> None:
        """Take an exchange whose id is new here (the collector's, as it opens)."""
        untrack_exchange(exchange)
        self.exchanges[exchange.id] = exchange
        self.memory += memory_estimate(exchange)
        self.changed.add(exchange.id)
        self.evict()

    def add(self, exchange: Exchange) -> Exchange:
        """Store a finished exchange (loaded from a file, or a replay); a new id if its own is
        taken or missing."""
        if not exchange.id or exchange.id in self.exchanges:
            exchange.id = self.new_id()
        elif exchange.id.isdigit():
            self._next_id = max(self._next_id, int(exchange.id) + 1)
        self.keep(exchange)
        return exchange

    def grew(self, exchange: Exchange, size: int) -> None:
        """An exchange took in an event holding ``size`` payload bytes (the collector's call)."""
        if exchange.id in self.exchanges:  # not if evicted while it ran
            self.memory += EVENT_COST + size
        self.changed.add(exchange.id)

    def evict(self) -> None:
        """Drop the oldest exchanges while over either bound; never the newest one."""
        exchanges, count, memory = self.exchanges, self.max_exchanges, self.max_memory
        while len(exchanges) > 1 and ((count is not None and len(exchanges) > count) or
                                      (memory is not None and self.memory > memory)):
            oldest, exchange = exchanges.popitem(last=False)
            self.memory -= memory_estimate(exchange)
            self.changed.add(oldest)
            self.evicted += 1

    # the user's edits ---------------------------------------------------------------------

    def mark(self, exchanges: Iterable[Exchange], marked: bool | None = None) -> None:
        """Mark (``True``), unmark (``False``) or toggle (``None``) each exchange."""
        for exchange in exchanges:
            exchange.marked = (not exchange.marked) if marked is None else marked
            self.changed.add(exchange.id)

    def comment(self, exchange: Exchange, text: str) -> None:
        """Keep a note with the exchange (an empty one removes it)."""
        exchange.comment = text.strip()
        self.changed.add(exchange.id)

    def duplicate(self, exchange: Exchange) -> Exchange:
        """A deep copy, stored as a new exchange at the end; its comment starts with
        ``copy of #N`` so the list and exports tell it from the original."""
        copy = exchange_copy(exchange)
        copy.id = ""
        mark = f"copy of #{exchange.id}"
        copy.comment = f"{mark}: {exchange.comment}" if exchange.comment else mark
        return self.add(copy)

    def remove(self, exchanges: Iterable[Exchange]) -> int:
        """Delete exchanges; how many were kept here."""
        removed = 0
        for exchange in exchanges:
            if self.exchanges.pop(exchange.id, None) is not None:
                self.memory -= memory_estimate(exchange)
                self.changed.add(exchange.id)
                removed += 1
        return removed

    def clear(self) -> None:
        self.changed.update(self.exchanges)
        self.exchanges.clear()
        self.memory = 0
