"""What the database hooks share: a statement timed from its start to its end, made into a
:class:`~asgi_inspect.model.Query` and emitted, and the guard that records a statement once.

A statement run through SQLAlchemy or Django reaches a driver we hook too (sqlite3, psycopg,
asyncpg). The outer hook knows more (the dialect, the app's statement before the driver
rewrote it), so it records the statement and sets :data:`OUTER` while the driver runs it;
the driver's hook records nothing while it is set. A context variable follows the statement
into the thread or greenlet the driver runs in, and never leaks into another request.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from time import perf_counter_ns
from typing import Any

from asgi_inspect.model import Query
from asgi_inspect.record.context import Tag
from asgi_inspect.record.inside import current, emit
from asgi_inspect.record.inside.location import location, location_of
from asgi_inspect.record.wire import opaque
from asgi_inspect.values import safe_repr

# Set while SQLAlchemy or Django runs a statement it records itself: the driver's hook under
# it stays quiet.
OUTER: ContextVar[bool] = ContextVar("asgi_inspect_query_outer", default=False)

# executemany: the parameter sets kept of a larger batch (``Query.many`` counts them all).
MANY_KEPT = 100


class Running:
    """A statement on its way: what was sent, from where, since when. :meth:`done` records
    it once it ended."""

    __slots__ = ("database", "library", "limit", "location", "parameters", "passed", "sets",
                 "statement", "t_start", "tag")

    def __init__(self, tag: Tag, library: str, database: str, statement: Any,
                 parameters: Any, many: bool) -> None:
        self.tag = tag
        self.library = library
        self.database = database
        self.statement = statement if type(statement) is str else statement_text(statement)
        self.limit = None if tag.redactor is not None else tag.batch.max_body
        # executemany: the sets as the driver reads them; else the parameters; copied now
        # (the app may reuse its list once the call returned, or for the next set)
        self.sets = _Sets(parameters, self.limit) if many else None
        self.passed = parameters if self.sets is None else self.sets.passed
        self.parameters = None if many else snapshot(parameters, self.limit)
        self.location = location()
        self.t_start = perf_counter_ns()

    def done(self, rows: int | None = None, error: BaseException | None = None) -> None:
        """Record the statement as ended now; never raises into the app."""
        t_end = perf_counter_ns()
        try:
            emit(self.tag, Query(
                library=self.library, statement=self.statement, t_start=self.t_start,
                t_end=t_end, parameters=self.parameters if self.sets is None else self.sets.kept,
                many=None if self.sets is None else self.sets.count,
                rows=rows if rows is not None and rows >= 0 else None,
                database=self.database, location=self.location,
                error=None if error is None else error_text(error)))
        except Exception as exc:
            self.tag.batch.error(exc)


def start(library: str, database: str, statement: Any, parameters: Any = None,
          many: bool = False) -> Running | None:
    """A statement to time, or None when nothing is to be recorded: outside an exchange,
    under SQLAlchemy or Django, which record it themselves, or past the exchange's cap (only
    counted then, as :func:`emit` counts, without building what it would not keep: an N+1
    loop of thousands of statements pays little for those past the cap)."""
    tag = current()
    if tag is None or OUTER.get() or tag.full():
        return None
    try:
        return Running(tag, library, database, statement, parameters, many)
    except Exception as exc:
        tag.batch.error(exc)
        return None


def run_recorded(tag: Tag, library: str, database: str, statement: Any, parameters: Any,
                 where: str | None, cursor: Any, call: Callable[..., Any], /,
                 *args: Any) -> Any:
    """``call(*args)``, one statement run with ``parameters`` on a DB-API ``cursor``, recorded
    for ``tag`` (a caller that found it with :func:`current`, outside :data:`OUTER`, and not
    :meth:`~Tag.full`): the common path of the sqlite3 and SQLAlchemy hooks, what
    :func:`start` and :func:`recorded` do, in one frame. Its result returned, its exception
    raised as it was; ``where`` None: the location read from the caller's frames."""
    try:
        limit = None if tag.redactor is not None else tag.batch.max_body
        text = statement if type(statement) is str else statement_text(statement)
        kept = snapshot(parameters, limit)
        if where is None:
            where = location_of(sys._getframe(1))
    except Exception as exc:
        tag.batch.error(exc)
        return call(*args)
    t_start = perf_counter_ns()
    try:
        result = call(*args)
    except BaseException as exc:
        t_end = perf_counter_ns()
        try:
            emit(tag, Query(library=library, statement=text, t_start=t_start, t_end=t_end,
                            parameters=kept, database=database, location=where,
                            error=error_text(exc)))
        except Exception as failed:
            tag.batch.error(failed)
        raise
    t_end = perf_counter_ns()
    try:
        rows = cursor_rows(cursor, database)
    except Exception:  # a driver that cannot say (a closed cursor): not known
        rows = None
    try:
        emit(tag, Query(library=library, statement=text, t_start=t_start, t_end=t_end,
                        parameters=kept, rows=rows, database=database, location=where))
    except Exception as exc:
        tag.batch.error(exc)
    return result


def recorded(running: Running, rows: Callable[[Any], int | None], call: Callable[..., Any],
             /, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` timed as ``running``: its result returned, its exception
    raised as it was; ``rows(result)`` read once it returned."""
    try:
        result = call(*args, **kwargs)
    except BaseException as exc:
        running.done(error=exc)
        raise
    running.done(rows=_rows(rows, result))
    return result


async def recorded_async(running: Running, rows: Callable[[Any], int | None],
                         call: Callable[..., Awaitable[Any]], /, *args: Any,
                         **kwargs: Any) -> Any:
    """:func:`recorded` for a coroutine function."""
    try:
        result = await call(*args, **kwargs)
    except BaseException as exc:
        running.done(error=exc)
        raise
    running.done(rows=_rows(rows, result))
    return result


def _rows(rows: Callable[[Any], int | None], result: Any) -> int | None:
    try:
        return rows(result)
    except Exception:  # a driver that cannot say (a closed cursor): not known
        return None


class _Sets:
    """An executemany's parameter sets: how many the driver read, and snapshots of the first
    :data:`MANY_KEPT` of them. A sequence is passed on as it is; an iterator (read once)
    through a generator that counts and copies them as they go by, so the driver still reads
    it lazily."""

    __slots__ = ("count", "kept", "limit", "passed")

    passed: Iterable[Any]

    def __init__(self, parameter_sets: Iterable[Any], limit: int | None) -> None:
        self.limit = limit
        if isinstance(parameter_sets, Sequence):
            self.count = len(parameter_sets)
            self.kept = [snapshot(one, limit) for one in parameter_sets[:MANY_KEPT]]
            self.passed = parameter_sets
        else:
            self.count = 0
            self.kept = []
            self.passed = self._counting(parameter_sets)

    def _counting(self, parameter_sets: Iterable[Any]) -> Iterator[Any]:
        for one in parameter_sets:
            self.count += 1
            if self.count <= MANY_KEPT:
                self.kept.append(self._copy(one))
            yield one

    def _copy(self, one: Any) -> Any:
        """A set's snapshot; read while the driver reads the sets, so it never raises."""
        try:
            return snapshot(one, self.limit)
        except Exception:
            return opaque(type(one).__qualname__, safe_repr(one))


def snapshot(parameters: Any, limit: int | None) -> Any:
    """The parameters as plain values, copied now (the app may reuse its list): sequences as
    lists, mappings as dicts, none sent as None; a string or bytes longer than ``limit``
    described by its size instead (``max_body`` bounds what is kept of a value, as of a
    body), an integer MessagePack cannot hold by its repr. ``limit`` None: values kept as
    they are, to be redacted to their type names. Every recorded statement passes here: the
    common shapes are tried first, and the common values (an int, a str, a float, None)
    judged inline, without a call per value (what :func:`_value` would make of them)."""
    kind = type(parameters)
    if kind is tuple or kind is list or (kind is not dict and parameters is not None
                                         and isinstance(parameters, (tuple, list))):
        if limit is None:
            return list(parameters) or None
        kept = []
        for value in parameters:
            kind = type(value)
            if (kind is int and value in _INTEGERS) or (kind is str and len(value) <= limit) \
                    or kind in _SCALARS:
                kept.append(value)
            else:
                kept.append(_value(value, limit))
        return kept or None
    if parameters is None:
        return None
    if kind is dict or isinstance(parameters, Mapping):
        if limit is None:
            return {key: value for key, value in parameters.items()} or None
        named = {}
        for key, value in parameters.items():
            kind = type(value)
            if (kind is int and value in _INTEGERS) or (kind is str and len(value) <= limit) \
                    or kind in _SCALARS:
                named[key] = value
            else:
                named[key] = _value(value, limit)
        return named or None
    return _value(parameters, limit)


_SCALARS = frozenset({float, bool, type(None)})
_INTEGERS = range(-2**63, 2**64)  # what MessagePack holds; PostgreSQL's numeric holds more


def _value(value: Any, limit: int | None) -> Any:
    kind = type(value)
    if kind in _SCALARS or limit is None:  # None: to be redacted to its type name next
        return value
    if kind is int:
        return value if value in _INTEGERS else opaque("int", safe_repr(value))
    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        unit = "characters" if isinstance(value, str) else "bytes"
        return opaque(type(value).__name__, f"{len(value):,} {unit}, more than max_body")
    if isinstance(value, (list, tuple)):  # an array parameter (PostgreSQL)
        return [_value(item, limit) for item in value]
    return value


def statement_text(statement: Any, render: Callable[[Any], str] | None = None) -> str:
    """A statement as text: str as it is, bytes decoded, a composed statement (psycopg's
    ``sql.SQL``) through ``render`` or its ``str()``."""
    if isinstance(statement, str):
        return statement
    if isinstance(statement, (bytes, bytearray, memoryview)):
        return bytes(statement).decode("utf-8", "replace")
    if render is not None:
        try:
            return render(statement)
        except Exception:
            pass
    return str(statement)


def error_text(exc: BaseException) -> str:
    """``ExcType: message``, as every hook writes a failed call or query."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def rows_of(rowcount: Any) -> int | None:
    """A DB-API ``rowcount`` when the driver knows it (it says -1 when not)."""
    return rowcount if isinstance(rowcount, int) and rowcount >= 0 else None


def cursor_rows(cursor: Any, database: str) -> int | None:
    """The rows a DB-API cursor's statement returned or changed, when known right after it
    ran: sqlite counts the rows of a statement that returns some (a SELECT, an INSERT ...
    RETURNING) only as they are read, so its count then means nothing yet."""
    if database == "sqlite" and getattr(cursor, "description", None) is not None:
        return None
    return rows_of(getattr(cursor, "rowcount", None))
