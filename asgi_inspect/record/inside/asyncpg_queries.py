"""asyncpg: every statement run through a connection's query methods (``execute``,
``executemany``, ``fetch``, ``fetchrow``, ``fetchval``, ``fetchmany``) or a prepared
statement's (the same names).

asyncpg's own hook, ``Connection.add_query_logger``, is not enough: it has to be added to
each connection, it is called from the event loop after the statement ended (so the app's
code location is gone), and it gets the elapsed time without a start and no result (no
rows). So the methods are wrapped on the ``Connection`` and ``PreparedStatement`` classes,
which reaches every connection, made before the hook or after: pools too, whose
``Pool.fetch`` and ``acquire()``'s proxies call the connection's methods. Rows come from the
command's status (``INSERT 0 3``, ``SELECT 3``) or the records returned. Under SQLAlchemy the
statement is SQLAlchemy's to record (``queries.OUTER``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from asgi_inspect.record.inside.queries import recorded_async, start

LIBRARY = "asyncpg"
DATABASE = "postgresql"
Rows = Callable[[Any], int | None]


def _status_rows(status: Any) -> int | None:
    """The count at the end of a command status: ``INSERT 0 3``, ``UPDATE 2``, ``SELECT 5``."""
    last = status.rpartition(" ")[2] if isinstance(status, str) else ""
    return int(last) if last.isdigit() else None


def _records(result: Any) -> int | None:
    return len(result) if isinstance(result, list) else None


def _record(result: Any) -> int | None:
    return 0 if result is None else 1


def _unknown(result: Any) -> int | None:
    return None  # fetchval: a value, which may be NULL


# The query methods, and how each one's result tells the rows.
_METHODS: dict[str, Rows] = {"execute": _status_rows, "executemany": _unknown,
                             "fetch": _records, "fetchrow": _record, "fetchval": _unknown,
                             "fetchmany": _records}
_MANY = ("executemany", "fetchmany")  # their arguments are parameter sets


def install(module: ModuleType) -> None:
    """Wrap the query methods of both classes (once: a wrapped method is left alone)."""
    prepared_statement = importlib.import_module("asyncpg.prepared_stmt").PreparedStatement
    for cls, prepared in ((module.Connection, False), (prepared_statement, True)):
        for name, rows in _METHODS.items():
            method = getattr(cls, name, None)
            if method is not None and not getattr(method, "asgi_inspect", False):
                setattr(cls, name, _timed(method, rows, name in _MANY, prepared))


def _timed(method: Callable[..., Awaitable[Any]], rows: Rows, many: bool,
           prepared: bool) -> Callable[..., Awaitable[Any]]:
    """``method`` recording its statement: a connection's is its first argument, a prepared
    statement's its query; the parameters are the arguments after it (the sets, for
    executemany and fetchmany)."""

    first = 0 if prepared else 1  # where the parameters start

    @functools.wraps(method)
    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        statement = self.get_query() if prepared else args[0] if args else kwargs.get("query")
        sets_by_name = many and len(args) <= first
        parameters = (kwargs.get("args", ()) if sets_by_name else args[first]) if many \
            else args[first:]
        running = start(LIBRARY, DATABASE, statement, parameters, many=many)
        if running is None:
            return await method(self, *args, **kwargs)
        if running.passed is not parameters:  # sets from an iterator, counted as read
            if sets_by_name:
                kwargs = {**kwargs, "args": running.passed}
            else:
                args = (*args[:first], running.passed, *args[first + 1:])
        return await recorded_async(running, rows, method, self, *args, **kwargs)

    timed.asgi_inspect = True  # type: ignore[attr-defined]
    return timed
