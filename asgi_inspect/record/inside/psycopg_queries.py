"""psycopg 3: every statement run through a cursor's ``execute`` or ``executemany``, sync or
async (``connection.execute()`` makes a cursor and runs it there).

psycopg has no hook for the statements a connection runs. A cursor factory would be one, but
it is set per connection (``connect(cursor_factory=...)``) and would take the place of the
app's own. So the narrowest point that sees every statement of every connection, made before
the hook or after (pools too), is the cursor classes' own methods: ``execute`` and
``executemany`` of ``Cursor`` and ``AsyncCursor`` (which the client-side and raw cursors
inherit), and ``execute`` of the server-side cursors (which define their own). Rows come from
the cursor's ``rowcount``. Not seen: ``copy()`` and ``stream()``. Under SQLAlchemy or Django
the statement is theirs to record (``queries.OUTER``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from asgi_inspect.record.inside.queries import (
    Running,
    cursor_rows,
    recorded,
    recorded_async,
    start,
    statement_text,
)

LIBRARY = "psycopg"
DATABASE = "postgresql"
_KEYWORDS = {False: "params", True: "params_seq"}  # the parameters' name: execute, executemany


def install(module: ModuleType) -> None:
    """Wrap the methods on the classes that define them (once: a wrapped one is left; a class
    this psycopg does not have, skipped)."""
    for cls, names, timed in (
            (getattr(module, "Cursor", None), ("execute", "executemany"), _timed),
            (getattr(module, "AsyncCursor", None), ("execute", "executemany"), _timed_async),
            (getattr(module, "ServerCursor", None), ("execute",), _timed),
            (getattr(module, "AsyncServerCursor", None), ("execute",), _timed_async)):
        for name in names:
            method = getattr(cls, "__dict__", {}).get(name)
            if method is not None and not getattr(method, "asgi_inspect", False):
                setattr(cls, name, timed(method, name == "executemany"))


def _start(cursor: Any, query: Any, parameters: Any, many: bool) -> Running | None:
    text = statement_text(query, lambda composed: composed.as_string(cursor))
    return start(LIBRARY, DATABASE, text, parameters, many=many)


def _cursor_rows(cursor: Any) -> Callable[[Any], int | None]:
    return lambda _: cursor_rows(cursor, DATABASE)


def _timed(method: Callable[..., Any], many: bool) -> Callable[..., Any]:
    keyword = _KEYWORDS[many]

    @functools.wraps(method)
    def timed(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        params = kwargs.pop(keyword, params)  # passed by name: passed on by position
        running = _start(self, query, params, many)
        if running is None:
            return method(self, query, params, *args, **kwargs)
        return recorded(running, _cursor_rows(self), method, self, query, running.passed,
                        *args, **kwargs)

    timed.asgi_inspect = True  # type: ignore[attr-defined]
    return timed


def _timed_async(method: Callable[..., Awaitable[Any]], many: bool
                 ) -> Callable[..., Awaitable[Any]]:
    keyword = _KEYWORDS[many]

    @functools.wraps(method)
    async def timed(self: Any, query: Any, params: Any = None, *args: Any,
                    **kwargs: Any) -> Any:
        params = kwargs.pop(keyword, params)  # passed by name: passed on by position
        running = _start(self, query, params, many)
        if running is None:
            return await method(self, query, params, *args, **kwargs)
        return await recorded_async(running, _cursor_rows(self), method, self, query,
                                    running.passed, *args, **kwargs)

    timed.asgi_inspect = True  # type: ignore[attr-defined]
    return timed
