"""SQLAlchemy: every statement an engine sends to its database, through SQLAlchemy's event
API: ``before_cursor_execute``, ``after_cursor_execute`` and ``handle_error``, listened to on
the ``Engine`` class, so every engine is seen, made before the hook or after. An
``AsyncEngine`` runs its statements on its sync engine, in a greenlet that SQLAlchemy gives
the calling task's context: the exchange is known there too, and the code location is read
from the task's own frames, which the greenlet's stack does not reach.

The statement is recorded as SQLAlchemy sends it to the driver (its placeholders, its
parameters), with the dialect's name as the database; the driver's hook under it (sqlite3,
psycopg, asyncpg) stays quiet meanwhile (``queries.OUTER``).
"""

from __future__ import annotations

import sys
from contextvars import Token
from types import FrameType, ModuleType
from typing import Any

from asgi_inspect.record.inside.location import location_of
from asgi_inspect.record.inside.queries import OUTER, Running, cursor_rows, start

LIBRARY = "sqlalchemy"
_RUNNING = "_asgi_inspect_query"  # the statement in flight, on SQLAlchemy's execution context


def install(module: ModuleType) -> None:
    """Listen on every engine (listening twice would record twice: checked first)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if event.contains(Engine, "before_cursor_execute", _before):
        return
    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _failed)


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
            executemany: bool) -> None:
    if context is None:
        return
    running = start(LIBRARY, conn.dialect.name, statement, parameters, many=executemany)
    if running is None:
        return
    if not running.location:
        running.location = location_of(_awaiting_frame())
    setattr(context, _RUNNING, (running, OUTER.set(True)))


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
           executemany: bool) -> None:
    running = _ended(context)
    if running is not None:
        running.done(rows=cursor_rows(cursor, running.database))


def _failed(exception_context: Any) -> None:
    running = _ended(exception_context.execution_context)
    if running is not None:
        running.done(error=exception_context.original_exception)


def _ended(context: Any) -> Running | None:
    """The statement that just ended on ``context``, the driver's hook listening again."""
    pending: tuple[Running, Token[bool]] | None = getattr(context, _RUNNING, None)
    if pending is None:
        return None
    delattr(context, _RUNNING)
    running, token = pending
    try:
        OUTER.reset(token)
    except ValueError:  # ended in another context than it started in: clear it here
        OUTER.set(False)
    return running


def _awaiting_frame() -> FrameType | None:
    """The frame of the task that awaits this greenlet (an AsyncEngine's statement), where
    the app's code is; None outside SQLAlchemy's greenlets."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return None
    parent = greenlet.getcurrent().parent
    return None if parent is None else parent.gr_frame
