"""sqlite3, the standard library's driver: every statement run on a connection made once the
recording process hooked it.

sqlite3 has no hook that sees a statement with its parameters, its time and its error (its
trace callback gets the expanded text only, per connection). So ``sqlite3.connect`` (and the
same function as ``sqlite3.dbapi2.connect``, which SQLAlchemy and Django call) is replaced by
one that passes a ``factory``: a subclass of the Connection class asked for whose cursors
time ``execute``, ``executemany`` and ``executescript`` (a factory of the app's own stays
first in line, ours under it). Not seen: connections made before the hook (before
``asgi-inspect run`` loaded the app, or before ``Inspector(..., capture_calls=True)``), and a
``connect`` imported by name before then. aiosqlite runs sqlite3 in a thread of its own that
does not carry the exchange's context: its statements are recorded only through SQLAlchemy.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from asgi_inspect.record.context import CURRENT
from asgi_inspect.record.inside.queries import (
    OUTER,
    cursor_rows,
    recorded,
    run_recorded,
    start,
)

LIBRARY = "sqlite3"
DATABASE = "sqlite"
_FACTORY_POSITION = 5  # connect(database, timeout, detect_types, isolation_level, ..., factory)


def install(module: ModuleType) -> None:
    """Replace ``connect`` under both its names (once: a second call finds ours)."""
    dbapi2: Any = getattr(module, "dbapi2", module)
    original = dbapi2.connect
    if getattr(original, "asgi_inspect", False):
        return

    @functools.wraps(original)
    def connect(*args: Any, **kwargs: Any) -> Any:
        if len(args) > _FACTORY_POSITION:
            args = (*args[:_FACTORY_POSITION], _timed_connection(args[_FACTORY_POSITION]),
                    *args[_FACTORY_POSITION + 1:])
        else:
            kwargs["factory"] = _timed_connection(kwargs.get("factory", sqlite3.Connection))
        return original(*args, **kwargs)

    connect.asgi_inspect = True  # type: ignore[attr-defined]
    dbapi2.connect = connect
    module.connect = connect  # type: ignore[attr-defined]


def _cursor_rows(cursor: sqlite3.Cursor) -> int | None:
    return cursor_rows(cursor, DATABASE)


# sqlite3's own methods, called as ``super()`` would (sqlite3's class is always next in line
# after ours, also under an app's subclass), without making a ``super`` object per call.
_execute = sqlite3.Cursor.execute
_cursor = sqlite3.Connection.cursor


class TimedCursor(sqlite3.Cursor):
    """A cursor that records its statements for the exchange being handled."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        # the common path in this one frame: outside an exchange, one context variable read
        tag = CURRENT.get()
        if tag is None or not tag.calls or OUTER.get() or tag.full():
            return _execute(self, sql, parameters)
        return run_recorded(tag, LIBRARY, DATABASE, sql, parameters, None, self, _execute,
                            self, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        running = start(LIBRARY, DATABASE, sql, parameters, many=True)
        if running is None:
            return super().executemany(sql, parameters)
        return recorded(running, _cursor_rows, super().executemany, sql, running.passed)

    def executescript(self, sql_script: str, /) -> Any:
        running = start(LIBRARY, DATABASE, sql_script)
        if running is None:
            return super().executescript(sql_script)
        return recorded(running, _cursor_rows, super().executescript, sql_script)


class TimedConnection(sqlite3.Connection):
    """A connection whose cursors are timed, its ``execute`` shortcuts included (sqlite3's
    own make a plain cursor in C, which no subclass could time)."""

    # whether a subclass (an app's factory joined with ours) has a ``cursor`` of its own,
    # which the shortcuts then call; else they make ours directly
    _own_cursor = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._own_cursor = cls.cursor is not TimedConnection.cursor

    def cursor(self, factory: Any = sqlite3.Cursor) -> Any:
        return _cursor(self, TimedCursor if factory is sqlite3.Cursor
                       else _timed_cursor(factory))

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        if self._own_cursor:
            return self.cursor().execute(sql, parameters)
        # what TimedCursor.execute would do on a cursor of ours, without its frame: the
        # shortcut is how most apps run sqlite3 statements
        cursor = _cursor(self, TimedCursor)
        tag = CURRENT.get()
        if tag is None or not tag.calls or OUTER.get() or tag.full():
            return _execute(cursor, sql, parameters)
        return run_recorded(tag, LIBRARY, DATABASE, sql, parameters, None, cursor, _execute,
                            cursor, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)


def _timed_connection(factory: Any) -> Any:
    return _timed(factory, sqlite3.Connection, TimedConnection)


def _timed_cursor(factory: Any) -> Any:
    return _timed(factory, sqlite3.Cursor, TimedCursor)


def _timed(factory: Any, base: type, timed: type) -> Any:
    """``timed`` itself for sqlite3's own class; for a subclass of the app's, a class that
    runs the app's methods first and ours under them (they call ``super()``); anything else
    (a callable that is not a subclass, a class ours cannot join) as it is: not timed."""
    if factory is base:
        return timed
    if not isinstance(factory, type) or not issubclass(factory, base) \
            or issubclass(factory, timed):
        return factory
    try:
        return _joined(factory, timed)
    except TypeError:  # a layout or metaclass conflict: the app's class, untimed
        return factory


_JOINED: dict[tuple[type, type], type] = {}  # one class per factory of the app's


def _joined(factory: type, timed: type) -> type:
    joined = _JOINED.get((factory, timed))
    if joined is None:
        joined = type(factory.__name__, (factory, timed), {"__module__": factory.__module__})
        _JOINED[factory, timed] = joined
    return joined
