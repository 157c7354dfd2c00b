"""The filter expression language: mitmproxy's, plus ranges for status, duration and size.

``compile_filter("~m POST & ~c 5xx")`` returns a :class:`Filter`, a callable
``(Exchange) -> bool``; ``Filter.select`` filters a whole list at once. Grammar, loosest first::

    expr  := and ("|" and)*
    and   := unary (["&"] unary)*       juxtaposition means AND, as in mitmproxy
    unary := "!" unary | "(" expr ")" | "~name" [argument] | word   a bare word is ~u word

Regexes are case-insensitive. A word runs to the next space or unbalanced ``)``; an ``&`` or
``|`` inside a word ends it when a space, ``~``, ``!``, ``(`` or ``)`` follows, so
``~u a|b`` is a regex and ``~m GET|~m PUT`` two tests. Quoted strings ("..." or '...') take
anything; in them ``\\"``, ``\\'`` and ``\\\\`` stand for the character and other backslashes
are kept, so regex escapes work as written.

Every test reads the exchange directly: at 100k exchanges a per-exchange summary cache costs
as much to look up as the fast accessors below cost to run (see benchmarks/bench_filters.py).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import get_args

from rich.cells import cell_len

from asgi_inspect import http, inside, lenses
from asgi_inspect.content import data_of
from asgi_inspect.model import Direction, Exchange, Outcome
from asgi_inspect.text import printable
from asgi_inspect.units import parse_size

Test = Callable[[Exchange], object]

__all__ = ["OPERATORS", "Filter", "FilterError", "Operator", "Settings", "compile_filter"]


class FilterError(ValueError):
    """An expression that does not compile; ``position`` is the 0-based index of the fault."""

    def __init__(self, message: str, position: int, text: str = "") -> None:
        super().__init__(message, position, text)
        self.message = message
        self.position = position
        self.text = text

    def __str__(self) -> str:
        where = f"{self.message} at column {self.position + 1}"
        return f"{printable(self.text)}: {where}" if self.text else where

    def caret(self) -> str:
        """The expression on one line and a ``^`` under the fault on the next."""
        before = cell_len(printable(self.text[:self.position]))
        return f"{printable(self.text)}\n{' ' * before}^"


class Filter:
    """A compiled expression: call it on one exchange, or ``select`` from many at once."""

    __slots__ = ("_test", "text")

    def __init__(self, text: str, test: Test) -> None:
        self.text = text
        self._test = test

    def __call__(self, exchange: Exchange) -> bool:
        return bool(self._test(exchange))

    def select(self, exchanges: Iterable[Exchange]) -> list[Exchange]:
        """The matching exchanges, in order; one comprehension, no call through ``__call__``."""
        test = self._test
        if test is _everything:
            return list(exchanges)
        return [e for e in exchanges if test(e)]

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def compile_filter(text: str, *, n_plus_one: int = inside.DEFAULT_N_PLUS_ONE) -> Filter:
    """Compile ``text``; an empty expression matches everything. ``~n1`` is a statement shape
    run ``n_plus_one`` times or more: a session's ``--n-plus-one``, as its views flag it.
    Raises :class:`FilterError`."""
    return Filter(text, _Parser(text, Settings(n_plus_one)).parse())


@dataclass(frozen=True, slots=True)
class Settings:
    """What a session decides that a test depends on, given to every operator's ``make``."""

    n_plus_one: int = inside.DEFAULT_N_PLUS_ONE  # the runs of one statement shape: an N+1


# -- operators ------------------------------------------------------------------------------

class _BadArgument(Exception):
    """Raised while building a test; ``offset`` is relative to the argument's first character."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Operator:
    """One ``~name`` test: what it takes, what it means (for help screens) and how to build it.

    ``argument`` is empty for a test without one. ``make`` builds the test from the argument
    and the session's :class:`Settings`. ``cost`` orders the operands of ``&`` and ``|`` so
    that cheap tests run first.
    """

    argument: str
    help: str
    make: Callable[[str, Settings], Test]
    cost: int


# Reading malformed snapshot data (a scope that is not a dict, a non-str method) fails the
# one test that reads it, not the whole filter, and never the view that applies it.
_UNREADABLE = (AttributeError, TypeError, ValueError, LookupError)


def _everything(exchange: Exchange) -> bool:
    """``~all`` and the empty expression; ``select`` skips calling it."""
    return True


def _flag(help_text: str, test: Test) -> Operator:
    return Operator("", help_text, lambda _argument, _settings: test, 1)


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags | re.IGNORECASE)
    except re.error as err:
        raise _BadArgument(f"bad regex: {err.msg}", err.pos or 0) from None


def _regex(help_text: str, field: Callable[[Exchange], str], cost: int = 2,
           flags: int = 0) -> Operator:
    """A test that searches one string of the exchange."""
    def make(pattern: str, _settings: Settings) -> Test:
        search = _compile(pattern, flags).search

        def test(exchange: Exchange) -> bool:
            try:
                return search(field(exchange)) is not None
            except _UNREADABLE:
                return False
        return test
    return Operator("regex", help_text, make, cost)


def _regex_any(help_text: str, fields: Callable[[Exchange], Iterable[str]], cost: int,
               flags: int = 0) -> Operator:
    """A test that searches several strings of the exchange (bodies, frames)."""
    def make(pattern: str, _settings: Settings) -> Test:
        search = _compile(pattern, flags).search

        def test(exchange: Exchange) -> bool:
            try:
                return any(search(text) is not None for text in fields(exchange))
            except _UNREADABLE:
                return False
        return test
    return Operator("regex", help_text, make, cost)


Bounds = tuple[float, float]


def _within(argument: str, help_text: str, parse: Callable[[str], Bounds],
            field: Callable[[Exchange], int | None]) -> Operator:
    """A test that compares a number of the exchange with inclusive bounds."""
    def make(text: str, _settings: Settings) -> Test:
        low, high = parse(text)

        def test(exchange: Exchange) -> bool:
            value = field(exchange)
            return value is not None and low <= value <= high
        return test
    return Operator(argument, help_text, make, 2)


def _outcome_test(pattern: str, _settings: Settings) -> Test:
    """``~o``: the regex must name whole outcomes (``complete`` is not ``incomplete``)."""
    fullmatch = _compile(pattern, 0).fullmatch
    names = frozenset(o for o in _OUTCOMES if fullmatch(o))
    if not names:
        raise _BadArgument(f"no outcome is called that (one of {', '.join(_OUTCOMES)})")
    return lambda exchange: exchange.outcome in names


# -- comparisons ----------------------------------------------------------------------------

_NUMBER = r"(\d+(?:\.\d+)?)"
_STATUS = re.compile(r"(?:([1-9])xx|(<=|>=|<|>|=)?(\d+)|(\d+)-(\d+))\Z", re.IGNORECASE)
_QUANTITY = re.compile(rf"(?:(<=|>=|<|>|=)?{_NUMBER}([^\s<>=-]*)|"
                       rf"{_NUMBER}([^\s<>=-]*)-{_NUMBER}([^\s<>=-]*))\Z")
_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9}


def _bounds(op: str | None, value: Decimal) -> Bounds:
    """Inclusive integer bounds for ``op value`` (no operator means exactly ``value``)."""
    if op == ">":
        return math.floor(value) + 1, math.inf
    if op == ">=":
        return math.ceil(value), math.inf
    if op == "<":
        return -math.inf, math.ceil(value) - 1
    if op == "<=":
        return -math.inf, math.floor(value)
    return math.ceil(value), math.floor(value)


def _range(low: Decimal, high: Decimal) -> Bounds:
    if low > high:
        raise _BadArgument("the range is empty: its start is above its end")
    return math.ceil(low), math.floor(high)


def _status_bounds(text: str) -> Bounds:
    match = _STATUS.match(text)
    if match is None:
        raise _BadArgument("expected a status code, a class like 5xx or a comparison")
    klass, op, code, low, high = match.groups()
    if klass:
        return int(klass) * 100, int(klass) * 100 + 99
    if code:
        return _bounds(op, Decimal(code))
    return _range(Decimal(low), Decimal(high))


def _quantity_bounds(what: str, example: str, amount: Callable[[str, str], Decimal],
                     exact: bool) -> Callable[[str], Bounds]:
    """A parser for ``>200ms``, ``<=1MB`` or ``1KB-2MB``, with ``amount(number, unit)``."""
    expected = f"expected a {what} comparison like >{example} or a range"

    def parse(text: str) -> Bounds:
        match = _QUANTITY.match(text)
        if match is None:
            raise _BadArgument(expected)
        op, number, unit, low, low_unit, high, high_unit = match.groups()
        if number is None:
            return _range(amount(low, low_unit), amount(high, high_unit))
        if op is None and not exact:
            raise _BadArgument(f"{expected} (an exact {what} would match next to nothing)")
        return _bounds(op, amount(number, unit))
    return parse


def _nanoseconds(number: str, unit: str) -> Decimal:
    scale = _DURATION_UNITS.get(unit.lower())
    if scale is None:
        raise _BadArgument(f"a duration needs a unit: {', '.join(_DURATION_UNITS)}")
    return Decimal(number) * scale


def _count(number: str, unit: str) -> Decimal:
    if unit:
        raise _BadArgument("a count takes no unit: >5, 0 or 2-10")
    return Decimal(number)


def _bytes(number: str, unit: str) -> Decimal:
    try:
        return Decimal(parse_size(number + unit))
    except ValueError:
        raise _BadArgument("a size takes a unit among B, KB, MB, GB, KiB, MiB, GiB") from None


# -- what the tests read --------------------------------------------------------------------

def _host(exchange: Exchange) -> str:
    """The Host header, else the server address of the scope."""
    return http.host_of(exchange, default="")


def _lines(pairs: Sequence[tuple[bytes, bytes]]) -> str:
    """Headers as ``name: value`` lines, so ``^`` and ``$`` anchor on one header."""
    return b"\n".join(n + b": " + v for n, v in pairs).decode("latin-1")


def _handler(exchange: Exchange) -> str:
    """The endpoint and the route a framework chose (``scope_added``), one per line."""
    return f"{exchange.endpoint}\n{exchange.added('route')}"


def _request_type(exchange: Exchange) -> str:
    return http.header_text(exchange.request_headers, b"content-type")


_FRAME = {"receive": "websocket.receive", "send": "websocket.send"}


def _payloads(exchange: Exchange, direction: Direction) -> Iterator[str]:
    """The kept body of one direction (its Content-Encoding undone), then that direction's
    WebSocket frames, as text."""
    body = data_of(exchange, direction)
    if body:
        yield _text(body)
    if exchange.type != "websocket":
        return
    frame = _FRAME[direction]
    for event in exchange.events:
        if event.type == frame and type(event.message) is dict:
            payload = event.message.get("text") or event.message.get("bytes")
            if isinstance(payload, str):
                yield payload
            elif isinstance(payload, bytes):
                yield _text(payload)


def _text(data: bytes) -> str:
    """UTF-8 text, else one character per byte so ``~b '\\x89PNG'`` finds binary bodies."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_OUTCOMES: tuple[str, ...] = get_args(Outcome)
_event_status = attrgetter("status")
_FAILED = frozenset({"exception", "no_response", "incomplete", "cancelled",
                     "client_disconnected"})


def _failed(exchange: Exchange) -> bool:
    return (exchange.exception is not None or exchange.outcome in _FAILED
            or "raised" in map(_event_status, exchange.events)  # no generator frame
            or bool(lenses.error(exchange)))


def _statements(exchange: Exchange) -> Iterable[str]:
    if not exchange.inside:  # most exchanges: nothing to look through
        return ()
    return [query.statement for query in inside.queries(exchange)]


def _call_lines(exchange: Exchange) -> Iterable[str]:
    """Each outbound call's URL, then ``METHOD URL``: ``^https://`` anchors on the URL and
    ``'^POST '`` on the method."""
    if not exchange.inside:
        return ()
    return [line for call in inside.calls(exchange)
            for line in (call.url, f"{call.method} {call.url}")]


def _failed_inside(exchange: Exchange) -> bool:
    """A call or query that raised, a call answered 5xx or a span with an error: the same
    count as the Overview's (``inside.totals``)."""
    return bool(exchange.inside) and inside.totals(exchange).errors > 0


def _n_plus_one(_argument: str, settings: Settings) -> Test:
    """Statements are shaped (regexes) only where there are enough of them to repeat: the
    counts are cached on the exchange, the shapes are not."""
    runs = settings.n_plus_one

    def test(exchange: Exchange) -> bool:
        return (bool(exchange.inside) and inside.totals(exchange).queries >= runs
                and bool(inside.repeated(exchange, runs)))
    return test


def _count_of(kind: str) -> Callable[[Exchange], int]:
    """How many queries or calls the exchange made (0 when it made none)."""
    read = attrgetter(kind)
    return lambda exchange: read(inside.totals(exchange)) if exchange.inside else 0


_COUNT = _quantity_bounds("count", "5", _count, exact=True)


def _recognised_by(tag: str) -> Test:
    return lambda exchange: lenses.tagged(exchange, tag)


def _of_type(kind: str) -> Test:
    return lambda exchange: exchange.type == kind


_WEBSOCKET = _flag("WebSocket sessions", _of_type("websocket"))
_BODY = re.DOTALL
_LINES = re.MULTILINE

OPERATORS: dict[str, Operator] = {
    "m": _regex("method (WS for WebSockets)", lambda e: e.method),
    "u": _regex("request target: path and query string (the default for a bare word)",
                attrgetter("path")),
    "d": _regex("host: the Host header, else the server address", _host),
    "c": _within("status", "status: 404, 5xx, >=400 or 200-299", _status_bounds,
                 attrgetter("status")),
    "h": _regex("a request or response header line, name: value",
                lambda e: f"{_lines(e.request_headers)}\n{_lines(e.response_headers)}",
                3, _LINES),
    "hq": _regex("a request header line", lambda e: _lines(e.request_headers), 3, _LINES),
    "hs": _regex("a response header line", lambda e: _lines(e.response_headers), 3, _LINES),
    "b": _regex_any("request or response body, or a WebSocket message",
                    lambda e: chain(_payloads(e, "receive"), _payloads(e, "send")), 4, _BODY),
    "bq": _regex_any("request body, or a message from the client",
                     lambda e: _payloads(e, "receive"), 4, _BODY),
    "bs": _regex_any("response body, or a message to the client",
                     lambda e: _payloads(e, "send"), 4, _BODY),
    "t": _regex("request or response content type",
                lambda e: f"{_request_type(e)}\n{e.content_type}", 3, _LINES),
    "tq": _regex("request content type", _request_type, 3),
    "ts": _regex("response content type", attrgetter("content_type"), 3),
    "dur": _within("duration", "duration: >200ms, <1s or 100ms-2s (ns, us, µs, ms, s)",
                   _quantity_bounds("duration", "200ms", _nanoseconds, exact=False),
                   attrgetter("duration_ns")),
    "size": _within("size", "response bytes sent: >1MB, 0 or 1KB-2MB (B, KB, MB, GB, KiB, MiB)",
                    _quantity_bounds("size", "1MB", _bytes, exact=True),
                    attrgetter("response.bytes")),
    "sizeq": _within("size", "request bytes received, as ~size",
                     _quantity_bounds("size", "1MB", _bytes, exact=True),
                     attrgetter("request.bytes")),
    "o": Operator("outcome", f"outcome: {', '.join(_OUTCOMES)}", _outcome_test, 1),
    "comment": _regex("comment", attrgetter("comment")),
    "ep": _regex("the endpoint (module.qualname) or route a framework chose",
                 _handler, 2, _LINES),
    "out": _regex("a line the app printed or logged while handling it (asgi-inspect run)",
                  lambda e: "\n".join(line.text for line in e.output), 3, _LINES),
    "op": _regex("the operation a protocol lens named: a GraphQL operation, a JSON-RPC "
                 "method or MCP tool, a Socket.IO event", lenses.operation, 3),
    "sql": _regex_any("a database query's statement (SQLAlchemy, Django, sqlite3, asyncpg, "
                      "psycopg)", _statements, 3, _BODY),
    "call": _regex_any("an outbound HTTP call the app made: its URL, or METHOD URL",
                       _call_lines, 3),
    "nq": _within("count", "how many database queries: >5, 0 or 2-10", _COUNT,
                  _count_of("queries")),
    "nc": _within("count", "how many outbound HTTP calls: >0, 3 or 1-4", _COUNT,
                  _count_of("calls")),
    "n1": Operator("", "an N+1: one statement shape run N times or more (--n-plus-one N, "
                   f"default {inside.DEFAULT_N_PLUS_ONE})", _n_plus_one, 3),
    "ie": _flag("something inside failed: a call or query that raised, a call answered "
                "5xx, a span with an error (~e is the exchange itself)", _failed_inside),
    **{lens.tag: _flag(lens.summary, _recognised_by(lens.tag)) for lens in lenses.LENSES},
    "e": _flag("an exception, a failed outcome, a raised receive/send, or an error the "
               "protocol reported (GraphQL errors, a JSON-RPC error)", _failed),
    "q": _flag("a request without a response", lambda e: e.status is None),
    "s": _flag("has a response", lambda e: e.status is not None),
    "http": _flag("HTTP exchanges", _of_type("http")),
    "websocket": _WEBSOCKET,
    "ws": _WEBSOCKET,
    "lifespan": _flag("the lifespan session", _of_type("lifespan")),
    "replay": _flag("replays of another exchange", lambda e: e.replay_of is not None),
    "marked": _flag("marked exchanges", attrgetter("marked")),
    "all": _flag("every exchange", _everything),
}


# -- parsing --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "op" (one of !&|()), "test" (~name), "word", "end"
    value: str
    pos: int
    offsets: tuple[int, ...] = ()  # where each character of a quoted word came from

    def source(self, offset: int) -> int:
        """The position in the expression of the word's ``offset``-th character."""
        if self.offsets:
            return self.offsets[min(offset, len(self.offsets) - 1)]
        return self.pos + offset


_Node = tuple[Test, int]  # a compiled test and its cost
_ENDS_WORD_AFTER_OP = frozenset("~!()") | {""}
_NAME = re.compile(r"[a-z]+", re.IGNORECASE | re.ASCII)
_NAME_DIGITS = re.compile(r"\d+(?!\w)")  # ~n1: digits end a name only when it is a test's
_MAX_DEPTH = 64  # keeps parsing and matching far from Python's recursion limit


class _Parser:
    """Recursive descent over tokens read on demand: an argument is read differently from a
    filter (it may start with ``(`` or ``!``), so the parser asks for one or the other."""

    def __init__(self, text: str, settings: Settings) -> None:
        self.text = text
        self.settings = settings
        self.i = 0
        self.peeked: _Token | None = None
        self.last = _Token("end", "", 0)
        self.depth = 0

    def parse(self) -> Test:
        if self._peek().kind == "end":
            return _everything
        test, _ = self._or()
        token = self._peek()
        if token.kind != "end":
            raise self._error("unmatched ')'", token.pos)
        return test

    def _or(self) -> _Node:
        nodes = [self._and()]
        while self._peek().kind == "op" and self._peek().value == "|":
            self._take()
            nodes.append(self._and())
        return _join(nodes, _either)

    def _and(self) -> _Node:
        nodes = [self._unary()]
        while True:
            token = self._peek()
            if token.kind == "op" and token.value == "&":
                self._take()
            elif token.kind == "end" or (token.kind == "op" and token.value in "|)"):
                return _join(nodes, _both)
            nodes.append(self._unary())

    def _unary(self) -> _Node:
        if self._peek().kind == "end":
            raise self._error(f"expected a filter after '{self.last.value}'", len(self.text))
        token = self._take()
        if token.kind == "word":
            return self._build(OPERATORS["u"], token), OPERATORS["u"].cost
        if token.kind == "test":
            return self._test(token)
        if token.value not in "!(":
            raise self._error(f"expected a filter, found '{token.value}'", token.pos)
        if self.depth == _MAX_DEPTH:
            raise self._error(f"more than {_MAX_DEPTH} nested '(' and '!'", token.pos)
        self.depth += 1
        node = self._negation() if token.value == "!" else self._group(token)
        self.depth -= 1
        return node

    def _negation(self) -> _Node:
        test, cost = self._unary()
        return (lambda exchange: not test(exchange)), cost

    def _group(self, opening: _Token) -> _Node:
        node = self._or()
        if self._take().kind == "end":  # else the ")" that ended the group
            raise self._error("'(' is never closed", opening.pos)
        return node

    def _test(self, token: _Token) -> _Node:
        operator = OPERATORS.get(token.value)
        if operator is None:
            raise self._error(_unknown(token.value), token.pos)
        if not operator.argument:
            return operator.make("", self.settings), operator.cost
        argument = self._argument()
        if argument is None:
            article = "an" if operator.argument[0] in "aeiou" else "a"
            raise self._error(f"expected {article} {operator.argument} after ~{token.value}",
                              self.i)
        return self._build(operator, argument), operator.cost

    def _build(self, operator: Operator, argument: _Token) -> Test:
        try:
            return operator.make(argument.value, self.settings)
        except _BadArgument as err:
            raise self._error(err.message, argument.source(err.offset)) from None

    def _error(self, message: str, position: int) -> FilterError:
        return FilterError(message, position, self.text)

    # tokens ---------------------------------------------------------------------------------

    def _peek(self) -> _Token:
        if self.peeked is None:
            self.peeked = self._read()
        return self.peeked

    def _take(self) -> _Token:
        token = self._peek()
        self.peeked = None
        self.last = token
        return token

    def _skip_space(self) -> int:
        text, i = self.text, self.i
        while i < len(text) and text[i].isspace():
            i += 1
        self.i = i
        return i

    def _read(self) -> _Token:
        start = self._skip_space()
        if start == len(self.text):
            return _Token("end", "", start)
        char = self.text[start]
        if char in "!&|()":
            self.i = start + 1
            return _Token("op", char, start)
        if char == "~":
            name = _NAME.match(self.text, start + 1)
            if name is None:
                raise self._error("expected a filter name after '~'", start)
            return self._name(start, name)
        return self._word(start)

    def _name(self, start: int, name: re.Match[str]) -> _Token:
        """A test's name; digits right after it belong to it only if that names a test
        (``~n1``), so ``~c5xx`` is still ``~c`` with ``5xx``."""
        value, end = name.group().lower(), name.end()
        digits = _NAME_DIGITS.match(self.text, end)
        if digits is not None and value + digits.group() in OPERATORS:
            value, end = value + digits.group(), digits.end()
        self.i = end
        return _Token("test", value, start)

    def _argument(self) -> _Token | None:
        """The next word or string as an argument, which may start with ``(`` or ``!``; None
        at the end or before ``&``, ``|``, ``)`` or another ``~test``."""
        start = self._skip_space()
        if start == len(self.text) or self.text[start] in "&|)~":
            return None
        return self._word(start)

    def _word(self, start: int) -> _Token:
        text = self.text
        if text[start] in "\"'":
            return self._quoted(start)
        i, depth = start, 0
        while i < len(text) and not text[i].isspace():
            char = text[i]
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            elif char in "&|" and depth == 0 and (
                    text[i + 1:i + 2] in _ENDS_WORD_AFTER_OP or text[i + 1].isspace()):
                break
            i += 1
        self.i = i
        return _Token("word", text[start:i], start)

    def _quoted(self, start: int) -> _Token:
        text, quote = self.text, self.text[start]
        chars: list[str] = []
        offsets: list[int] = []
        i = start + 1
        while i < len(text) and text[i] != quote:
            if text[i] == "\\" and text[i + 1:i + 2] in ("\\", "'", '"'):
                i += 1
            chars.append(text[i])
            offsets.append(i)
            i += 1
        if i == len(text):
            raise self._error("this string is never closed", start)
        self.i = i + 1
        return _Token("word", "".join(chars), start, tuple(offsets) or (start,))


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, OPERATORS, n=1)
    hint = f" (did you mean ~{close[0]}?)" if close else ""
    return f"unknown filter ~{name}{hint}"


def _join(nodes: list[_Node], pair: Callable[[_Node, _Node], _Node]) -> _Node:
    """Operands of one ``&`` or ``|`` chain, cheapest first, folded as a balanced tree so that
    a long chain does not nest calls as deep as it is long."""
    def fold(part: list[_Node]) -> _Node:
        if len(part) == 1:
            return part[0]
        middle = len(part) // 2
        return pair(fold(part[:middle]), fold(part[middle:]))
    return fold(sorted(nodes, key=lambda node: node[1]))


def _both(left: _Node, right: _Node) -> _Node:
    """AND; ``~all`` drops out."""
    (a, a_cost), (b, b_cost) = left, right
    if a is _everything or b is _everything:
        return (b if a is _everything else a), max(a_cost, b_cost)
    return (lambda exchange: a(exchange) and b(exchange)), max(a_cost, b_cost)


def _either(left: _Node, right: _Node) -> _Node:
    """OR; ``~all`` makes the whole chain true."""
    (a, a_cost), (b, b_cost) = left, right
    if a is _everything or b is _everything:
        return _everything, 1
    return (lambda exchange: a(exchange) or b(exchange)), max(a_cost, b_cost)
