"""The diff of two sessions: pair their exchanges, then diff each pair as a replay is diffed.

Pairing (``PAIRINGS``): ``method-path`` pairs the nth ``GET /a?x=1`` of A with the nth of B;
``path`` does the same with the query string left out (a changed query is then a change of
that exchange, not one missing and one added); ``order`` pairs the nth exchange of A with
the nth of B whatever they are. What only A has is *missing*, what only B has is *added*, and
each pair is *same* or *changed* by :func:`~asgi_inspect.replay.diff.diff_exchanges` with the
same ignore rules as ``replay``. The CLI's ``diff`` and the TUI's comparison call this.

When both sessions recorded what their apps did inside (any exchange of each has a call,
query or span), each pair also compares that: a changed number of queries or outbound calls,
an N+1 that B has and A had not, and more or fewer failed calls and queries make the pair
*changed* (the regressions CI should stop); their summed times and an N+1 gone are reported
without. A session recorded without them (version 1, or without ``capture_calls``) would make
every pair look changed, so then nothing inside is compared.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from asgi_inspect import inside
from asgi_inspect.http import VOLATILE_HEADERS, status_text
from asgi_inspect.model import Exchange
from asgi_inspect.replay.diff import Change, Diff, diff_exchanges
from asgi_inspect.replay.ignore import NOTHING, BodyIgnore
from asgi_inspect.store.view import by_start
from asgi_inspect.units import format_duration

Pairing = Literal["method-path", "path", "order"]
PAIRINGS: tuple[Pairing, ...] = get_args(Pairing)
Kind = Literal["same", "changed", "missing", "added"]
COMPARED = ("http", "websocket")  # a lifespan is no exchange of the session's traffic
MARKS: dict[Kind, str] = {"same": "=", "changed": "~", "missing": "-", "added": "+"}


@dataclass(frozen=True)
class Pair:
    """An exchange of A and its partner in B; one side is None when the other has none."""

    a: Exchange | None
    b: Exchange | None
    diff: Diff | None = None

    @property
    def kind(self) -> Kind:
        if self.a is None:
            return "added"
        if self.b is None:
            return "missing"
        return "changed" if self.diff is not None and self.diff.differs else "same"

    @property
    def title(self) -> str:
        """``GET /api/items (#3 → #9)``: the request and the ids on each side."""
        ids = " → ".join(f"#{side.id}" if side is not None else "none"
                         for side in (self.a, self.b))
        return f"{self.exchange.method} {self.exchange.path} ({ids})"

    def headline(self) -> str:
        """The pair in one line, as ``diff`` reports it and the TUI lists it:
        ``~ changed  GET /api/items (#3 → #3)  200 → 500  differs: status 200 → 500``."""
        head = f"{MARKS[self.kind]} {self.kind:<8} {self.title}"
        if self.diff is None:
            return f"{head}  only in {'A' if self.kind == 'missing' else 'B'}"
        before, after = status_text(self.diff.original), status_text(self.diff.replay)
        return f"{head}  {before} → {after}  {self.diff.summary()}"

    @property
    def exchange(self) -> Exchange:
        """The exchange that names the pair: A's, or B's when A has none."""
        side = self.a if self.a is not None else self.b
        assert side is not None  # a pair has at least one side
        return side


@dataclass(frozen=True)
class SessionDiff:
    pairs: list[Pair]

    def count(self, kind: Kind) -> int:
        return sum(pair.kind == kind for pair in self.pairs)

    @property
    def differs(self) -> bool:
        return any(pair.kind != "same" for pair in self.pairs)

    def summary(self) -> str:
        """One line: how many exchanges each side has, and how many pairs are same, changed,
        missing (only in A) and added (only in B)."""
        a = sum(pair.a is not None for pair in self.pairs)
        b = sum(pair.b is not None for pair in self.pairs)
        return (f"A: {a} exchanges, B: {b}; {self.count('same')} same, "
                f"{self.count('changed')} changed, "
                f"{self.count('missing')} missing (only in A), "
                f"{self.count('added')} added (only in B)")


def diff_sessions(a: Iterable[Exchange], b: Iterable[Exchange], *,
                  pairing: Pairing = "method-path",
                  ignore_headers: Sequence[str] = VOLATILE_HEADERS,
                  ignore_body: BodyIgnore = NOTHING,
                  n_plus_one: int = inside.DEFAULT_N_PLUS_ONE) -> SessionDiff:
    """Pair the HTTP and WebSocket exchanges of ``a`` and ``b`` (each in the order they
    started) and diff each pair, leaving out ``ignore_headers`` and the body parts
    ``ignore_body`` names; and what the apps did inside, when both sessions recorded it
    (``n_plus_one``: the runs of one statement that make an N+1)."""
    first_side, second_side = _compared(a), _compared(b)
    compare_inside = _recorded_inside(first_side) and _recorded_inside(second_side)
    pairs = []
    for first, second in pair_exchanges(first_side, second_side, pairing):
        diff = None
        if first is not None and second is not None:
            diff = diff_exchanges(first, second, ignore_headers=ignore_headers,
                                  ignore_body=ignore_body)
            if compare_inside:
                diff.changes += inside_changes(first, second, n_plus_one)
        pairs.append(Pair(first, second, diff))
    return SessionDiff(pairs)


def _recorded_inside(exchanges: Sequence[Exchange]) -> bool:
    return any(exchange.inside for exchange in exchanges)


def inside_changes(a: Exchange, b: Exchange,
                   n_plus_one: int = inside.DEFAULT_N_PLUS_ONE) -> list[Change]:
    """What changed inside from ``a`` to ``b``: the counts of queries and calls, new N+1
    shapes and failures (significant); their times and N+1 shapes gone (informative)."""
    before, after = inside.totals(a), inside.totals(b)
    changes = [Change(section, f"{section} {old} → {new}")
               for section, old, new in (("queries", before.queries, after.queries),
                                         ("calls", before.calls, after.calls),
                                         ("inside errors", before.errors, after.errors))
               if old != new]
    old_shapes = {r.shape: r for r in inside.repeated(a, n_plus_one)}
    new_shapes = {r.shape: r for r in inside.repeated(b, n_plus_one)}
    changes += [Change("N+1", f"new N+1: {r.count}× {_short(shape)} (at {r.location})")
                for shape, r in new_shapes.items() if shape not in old_shapes]
    changes += [Change("N+1", f"N+1 gone: {r.count}× {_short(shape)}", significant=False)
                for shape, r in old_shapes.items() if shape not in new_shapes]
    changes += [Change(section, f"{section} time {format_duration(old)} → "
                                f"{format_duration(new)}", significant=False)
                for section, old, new in (("queries", before.query_ns, after.query_ns),
                                          ("calls", before.call_ns, after.call_ns))
                if old != new]
    return changes


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _compared(exchanges: Iterable[Exchange]) -> list[Exchange]:
    return by_start(e for e in exchanges if e.type in COMPARED)


def pair_exchanges(a: Sequence[Exchange], b: Sequence[Exchange], pairing: Pairing,
                   ) -> list[tuple[Exchange | None, Exchange | None]]:
    """The pairs in A's order, each exchange of B only in A's partner's place; what only B
    has comes after, in B's order."""
    key = _KEYS[pairing]
    waiting: defaultdict[object, deque[int]] = defaultdict(deque)
    for index, exchange in enumerate(b):
        waiting[key(exchange, index)].append(index)
    pairs: list[tuple[Exchange | None, Exchange | None]] = []
    taken = set()
    for index, exchange in enumerate(a):
        partners = waiting.get(key(exchange, index))
        partner = partners.popleft() if partners else None
        if partner is not None:
            taken.add(partner)
        pairs.append((exchange, None if partner is None else b[partner]))
    pairs += [(None, exchange) for index, exchange in enumerate(b) if index not in taken]
    return pairs


def _path_only(exchange: Exchange) -> str:
    path = exchange.scope.get("path") if isinstance(exchange.scope, dict) else None
    return path if isinstance(path, str) else exchange.path


_KEYS: dict[Pairing, Callable[[Exchange, int], object]] = {
    "method-path": lambda exchange, _index: (exchange.type, exchange.method, exchange.path),
    "path": lambda exchange, _index: (exchange.type, exchange.method, _path_only(exchange)),
    "order": lambda _exchange, index: index,
}
