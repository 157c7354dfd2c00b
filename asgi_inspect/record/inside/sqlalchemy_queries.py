"""SQLAlchemy: every statement an engine sends to its database, through SQLAlchemy's event
API: the dialect events ``do_execute``, ``do_executemany`` and ``do_execute_no_params``,
listened to on the ``Engine`` class (SQLAlchemy applies them to every dialect), so every
engine is seen, made before the hook or after. An ``AsyncEngine`` runs its statements on its
sync engine, in a greenlet that SQLAlchemy gives the calling task's context: the exchange is
known there too, and the code location is read from the task's own frames, which the
greenlet's stack does not reach.

Why not the cursor events (``before_cursor_execute``/``after_cursor_execute``/
``handle_error``): any listener on them sends every statement of every engine through
SQLAlchemy's connection-event dispatch, measured at +32% on a sqlite ``Connection.execute``
even with no exchange to record; a dialect event within the noise
(``benchmarks/sqlalchemy_events.py``).
A ``do_execute`` listener runs the statement itself: outside an exchange ours declines and
SQLAlchemy goes on as without it; inside one it runs the listeners after it (the app's own,
in order, as SQLAlchemy would) and then the dialect's own method, timed, and errors pass
through untouched to SQLAlchemy's error handling.

The statement is recorded as SQLAlchemy sends it to the driver (its placeholders, its
parameters), with the dialect's name as the database; the driver's hook under it (sqlite3,
psycopg, asyncpg) stays quiet meanwhile (``queries.OUTER``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any

from asgi_inspect.record.context import CURRENT, Tag
from asgi_inspect.record.inside.location import location_of
from asgi_inspect.record.inside.queries import (
    OUTER,
    Running,
    cursor_rows,
    recorded,
    run_recorded,
)

LIBRARY = "sqlalchemy"
Listener = Callable[..., bool]


def install(module: ModuleType) -> None:
    """Listen on every engine's dialect (listening twice would record twice: checked)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    for name, listener in _LISTENERS.items():
        if not event.contains(Engine, name, listener):
            event.listen(Engine, name, listener)


def _listener(name: str, many: bool, with_parameters: bool) -> Listener:
    """The listener for dialect event ``name``: its arguments are the cursor, the statement,
    the parameters (unless ``with_parameters`` is False) and the execution context."""

    def listener(cursor: Any, statement: str, *rest: Any) -> bool:
        tag = CURRENT.get()  # outside an exchange, all it costs: one read
        if tag is None or not tag.calls or OUTER.get():
            return False  # SQLAlchemy runs it, as if we were not here
        token = OUTER.set(True)  # the driver's hook under it stays quiet, kept or not
        try:
            if tag.full():  # past the cap: counted once, here, and run unrecorded
                _execute(name, listener, cursor, statement, *rest)
                return True
            database = rest[-1].dialect.name
            where = location_of(sys._getframe(1)) or location_of(_awaiting_frame())
            if many:
                _recorded_many(tag, database, where, name, listener, cursor, statement, *rest)
            else:
                run_recorded(tag, LIBRARY, database, statement,
                             rest[0] if with_parameters else None, where, cursor, _execute,
                             name, listener, cursor, statement, *rest)
        finally:
            OUTER.reset(token)
        return True  # it ran

    return listener


def _recorded_many(tag: Tag, database: str, where: str, name: str, ours: Listener,
                   cursor: Any, statement: str, *rest: Any) -> None:
    """An executemany: its parameter sets counted and copied as :class:`Running` does."""
    try:
        running = Running(tag, LIBRARY, database, statement, rest[0], True)
    except Exception as exc:
        tag.batch.error(exc)
        _execute(name, ours, cursor, statement, *rest)
        return
    running.location = where
    recorded(running, lambda _: cursor_rows(cursor, database), _execute,
             name, ours, cursor, statement, *rest)


def _execute(name: str, ours: Listener, cursor: Any, statement: str, *rest: Any) -> None:
    """What SQLAlchemy does for dialect event ``name`` after our listener: the listeners
    after ours in order (those before it ran already) until one says it ran the statement,
    else the dialect's method."""
    dialect = rest[-1].dialect
    listeners = list(getattr(dialect.dispatch, name))
    after = listeners.index(ours) + 1 if ours in listeners else 0
    for listener in listeners[after:]:
        if listener is not ours and listener(cursor, statement, *rest):
            return
    getattr(dialect, name)(cursor, statement, *rest)


_LISTENERS: dict[str, Listener] = {
    "do_execute": _listener("do_execute", many=False, with_parameters=True),
    "do_executemany": _listener("do_executemany", many=True, with_parameters=True),
    "do_execute_no_params": _listener("do_execute_no_params", many=False,
                                      with_parameters=False),
}


def _awaiting_frame() -> FrameType | None:
    """The frame of the task that awaits this greenlet (an AsyncEngine's statement), where
    the app's code is; None outside SQLAlchemy's greenlets."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return None
    parent = greenlet.getcurrent().parent
    return None if parent is None else parent.gr_frame
