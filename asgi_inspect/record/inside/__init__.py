"""What the app does inside an exchange: outbound HTTP calls, database queries, and the
OpenTelemetry spans of any instrumented library, attributed to the exchange being handled.

Nothing is hooked until :func:`install` (``asgi-inspect run`` and ``proxy`` call it in the
server process; ``Inspector(..., capture_calls=True)`` does for library users). Each library
is hooked through its own extension point when it is imported (``imports.py``), never by
importing it ourselves; the module per library says which point it uses (docs/inside.md).

Every hook follows the same steps: :func:`current` (nothing to do outside an exchange, or
when the process records no calls), time the call with ``perf_counter_ns()``, build a
:class:`~asgi_inspect.model.OutboundCall`, :class:`~asgi_inspect.model.Query` or
:class:`~asgi_inspect.model.Span` with those absolute times, and :func:`emit` it once it
ended. The collector makes the times relative to the exchange. A hook never raises into the
app: its own failures are the recorder's errors, counted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from asgi_inspect.model import Inside
from asgi_inspect.record.context import CURRENT, Tag
from asgi_inspect.record.inside.imports import when_imported
from asgi_inspect.record.wire import InsideRecord, tag_of

INSIDE = tag_of(InsideRecord)

# The module whose import triggers a hook, and the module of ours that hooks it (each has an
# ``install(module)`` that is safe to call twice).
_OURS = "asgi_inspect.record.inside."
HOOKS: dict[str, str] = {
    "httpx": _OURS + "httpx_calls",
    "httpx2": _OURS + "httpx_calls",  # pydantic's fork, the same API (the mcp SDK uses it)
    "urllib3": _OURS + "urllib3_calls",  # requests too
    "aiohttp": _OURS + "aiohttp_calls",
    "sqlalchemy": _OURS + "sqlalchemy_queries",
    "django.db": _OURS + "django_queries",
    "sqlite3": _OURS + "sqlite_queries",
    "asyncpg": _OURS + "asyncpg_queries",
    "psycopg": _OURS + "psycopg_queries",
    "opentelemetry.sdk.trace": _OURS + "otel_spans",
}
_installed = False


def current() -> Tag | None:
    """The exchange calls are recorded for right now, or None: outside any exchange, or in a
    process that records none. The first thing every hook asks, and the cheapest."""
    tag = CURRENT.get()
    return tag if tag is not None and tag.calls else None


def emit(tag: Tag, item: Inside) -> None:
    """Record one finished call, query or span for ``tag``'s exchange: redacted first when
    the process records with redaction; past the cap (the recorder's ``max_events``) only
    counted, and the count said when the exchange ends."""
    if tag.full():
        return
    tag.inside_left -= 1
    try:
        if tag.redactor is not None:
            item = tag.redactor.inside(item, capture=True)
    except Exception as exc:  # never keep unredacted what could not be redacted
        tag.batch.error(exc)
        return
    tag.add((INSIDE, tag.xid, item))


def skipped_note(count: int) -> str:
    """The note of an exchange that made more calls and queries than were kept."""
    plural = "y" if count == 1 else "ies"
    return (f"{count} more call{'' if count == 1 else 's'} or quer{plural} not kept: the "
            f"recorder keeps at most max_events of them per exchange")


def install() -> None:
    """Hook every supported library, now if imported, else when it is (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    for module_name, ours in HOOKS.items():
        when_imported(module_name, _installer(ours))


def _installer(ours: str) -> Callable[[ModuleType], None]:
    def hook(module: ModuleType) -> None:
        importlib.import_module(ours).install(module)

    return hook
