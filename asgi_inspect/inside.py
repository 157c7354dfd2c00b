"""What an exchange did inside, read for the views: its outbound calls, queries and spans,
their totals, and the statements it ran over and over (N+1).

The recording side is ``record/inside/`` (the hooks in the app's process); this module only
reads what they recorded, so every view (the TUI's list, Overview and Inside tab, headless
lines, filters, exports, the MCP tools) counts and flags the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from asgi_inspect.model import Exchange, Inside, OutboundCall, Query, Span

DEFAULT_N_PLUS_ONE = 5  # the same statement shape this many times in one exchange: an N+1


@dataclass(frozen=True, slots=True)
class Totals:
    """How much an exchange did inside: counts, and the time each kind took (summed, so
    concurrent calls may add up to more than the exchange's own duration)."""

    queries: int = 0
    query_ns: int = 0
    calls: int = 0
    call_ns: int = 0
    spans: int = 0
    errors: int = 0

    @property
    def empty(self) -> bool:
        return not (self.queries or self.calls or self.spans)


@dataclass(frozen=True, slots=True)
class Repeat:
    """One statement shape run ``count`` times in an exchange (an inferred N+1)."""

    shape: str
    count: int
    total_ns: int
    location: str  # where the first of them was made


def calls(exchange: Exchange) -> list[OutboundCall]:
    return [item for item in exchange.inside if isinstance(item, OutboundCall)]


def queries(exchange: Exchange) -> list[Query]:
    return [item for item in exchange.inside if isinstance(item, Query)]


def spans(exchange: Exchange) -> list[Span]:
    return [item for item in exchange.inside if isinstance(item, Span)]


def duration_ns(item: Inside) -> int | None:
    return None if item.t_end is None else max(item.t_end - item.t_start, 0)


def totals(exchange: Exchange) -> Totals:
    """The exchange's totals (cached until something more is recorded inside it)."""
    inside = exchange.inside
    cached = exchange.__dict__.get("_inside_totals")
    if cached is not None and cached[0] == len(inside):
        return cached[1]  # type: ignore[no-any-return]
    counts = {OutboundCall: 0, Query: 0, Span: 0}
    times = {OutboundCall: 0, Query: 0, Span: 0}
    errors = 0
    for item in inside:
        kind = type(item)
        counts[kind] += 1
        times[kind] += duration_ns(item) or 0
        errors += item.error is not None or (isinstance(item, OutboundCall)
                                             and item.status is not None and item.status >= 500)
    result = Totals(queries=counts[Query], query_ns=times[Query], calls=counts[OutboundCall],
                    call_ns=times[OutboundCall], spans=counts[Span], errors=errors)
    exchange.__dict__["_inside_totals"] = (len(inside), result)
    return result


def counts(found: Totals) -> str:
    """``3q 1c 2s``: queries, outbound calls and spans, the kinds with none left out (the
    list's inside column, headless lines)."""
    return " ".join(f"{count}{unit}" for count, unit in
                    ((found.queries, "q"), (found.calls, "c"), (found.spans, "s")) if count)


_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w])", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\$\d+|%\(\w+\)s|%s|:\w+|\?")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")  # IN (?, ?, ?): any length is one shape
_OPERATOR = re.compile(r"\s*([=<>!]+|,)\s*")  # "id=?" and "id = ?" are one shape
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)  # an app runs the same few statements over and over
def shape(statement: str) -> str:
    """A statement with its values taken out: literals and placeholders of every driver
    style become ``?``, lists of them one ``(?)``, comments and spacing go, case folds.
    ``SELECT * FROM t WHERE id = 3`` and ``select * from t where id = $1`` are one shape."""
    text = _COMMENT.sub(" ", statement)
    text = _STRING.sub("?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _LIST.sub("(?)", text)
    text = _OPERATOR.sub(lambda m: f" {m.group(1)} " if m.group(1) != "," else ", ", text)
    return _SPACE.sub(" ", text).strip().lower()


def repeated(exchange: Exchange, threshold: int = DEFAULT_N_PLUS_ONE) -> list[Repeat]:
    """The statement shapes run ``threshold`` times or more in the exchange, most first:
    the N+1 pattern (one query for a list, then one per item of it)."""
    return repeats(queries(exchange), threshold)


def repeats(items: Sequence[Query], threshold: int = DEFAULT_N_PLUS_ONE) -> list[Repeat]:
    groups: dict[str, list[Query]] = {}
    for query in items:
        groups.setdefault(shape(query.statement), []).append(query)
    found = [Repeat(shape=key, count=len(group),
                    total_ns=sum(duration_ns(q) or 0 for q in group),
                    location=group[0].location)
             for key, group in groups.items() if len(group) >= max(threshold, 2)]
    return sorted(found, key=lambda r: (-r.count, r.shape))
