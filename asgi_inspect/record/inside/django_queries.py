"""Django's ORM (and raw ``connection.cursor()`` use): every statement a database connection
runs, through Django's own hook for it, ``connection.execute_wrappers`` (the list
``connection.execute_wrapper()`` adds to). Ours is put on each connection as it connects
(the ``connection_created`` signal: Django connects per thread, and again after closing an
old connection) and on the connections of the hooking thread open already; it goes first in
the list, so ``execute_wrapper()``'s own pop never takes it off.

The statement is recorded as Django hands it to the driver (its placeholders, its
parameters), with the backend's ``vendor`` as the database; the driver's hook under it
(sqlite3, psycopg) stays quiet meanwhile (``queries.OUTER``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from asgi_inspect.record.inside.queries import OUTER, cursor_rows, recorded, start

LIBRARY = "django"
_UID = "asgi_inspect.record.inside.django_queries"


def install(module: ModuleType) -> None:
    """Wrap every connection from now on, and those open in this thread already."""
    signals = importlib.import_module("django.db.backends.signals")
    signals.connection_created.connect(_connected, dispatch_uid=_UID, weak=False)
    for connection in _open_connections(module):
        _wrap(connection)


def _open_connections(module: ModuleType) -> list[Any]:
    """This thread's connections that exist already (none before settings are configured:
    ``django.db`` is often imported first)."""
    if not importlib.import_module("django.conf").settings.configured:
        return []
    return list(module.connections.all(initialized_only=True))


def _connected(sender: Any, connection: Any, **kwargs: Any) -> None:
    _wrap(connection)


def _wrap(connection: Any) -> None:
    if record not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, record)


def record(execute: Callable[..., Any], sql: str, params: Any, many: bool,
           context: dict[str, Any]) -> Any:
    """The execute wrapper: times the statement for the exchange being handled."""
    running = start(LIBRARY, getattr(context["connection"], "vendor", ""), sql, params,
                    many=many)
    if running is None:
        return execute(sql, params, many, context)
    token = OUTER.set(True)
    try:
        return recorded(running, lambda _: cursor_rows(context["cursor"], running.database),
                        execute, sql, running.passed, many, context)
    finally:
        OUTER.reset(token)
