"""asgi-inspect: record every ASGI scope, receive() and send(), and inspect them live.

The package is a pipeline, and its layout follows it:

- ``record/``: what runs in the app's process (the :class:`Inspector` middleware, the batches
  it writes, the sinks they go to). Importing it loads nothing of the inspector's side.
- ``store/``: the inspector's side: the collector (records → exchanges), the store that keeps
  them, and the view (filter, order, focus, selections) every front end looks through.
- ``formats/``: reading and writing traces (our JSON/JSONL, HAR, curl, HTTPie).
- ``replay/``: sending a recorded request again, and the diff of the result.
- ``ops/``: the operations every front end calls (export, replay).
- ``runtime/``, ``cli/``, ``tui/``: the server child and sessions, the command line, the UI.

The replay loop is ``asgi_inspect.ops.replay.replay`` (``asgi_inspect.replay`` is the package
of replay's parts). The public names below load lazily, so ``from asgi_inspect import
Inspector`` in an app's process pulls in only the recorder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Inspector": "asgi_inspect.record.middleware",
    "Sink": "asgi_inspect.record.sinks",
    "MemorySink": "asgi_inspect.record.sinks",
    "JsonlSink": "asgi_inspect.record.sinks",
    "SocketSink": "asgi_inspect.record.sinks",
    "Redactor": "asgi_inspect.record.redact",
    "Event": "asgi_inspect.model",
    "Exchange": "asgi_inspect.model",
    "Trace": "asgi_inspect.model",
    "TraceError": "asgi_inspect.formats.codec",
    "read": "asgi_inspect.formats.reader",
    "Store": "asgi_inspect.store.store",
    "View": "asgi_inspect.store.view",
    "export": "asgi_inspect.ops.export",
}

if TYPE_CHECKING:
    from asgi_inspect.formats.codec import TraceError
    from asgi_inspect.formats.reader import read
    from asgi_inspect.model import Event, Exchange, Trace
    from asgi_inspect.ops.export import export
    from asgi_inspect.record.middleware import Inspector
    from asgi_inspect.record.redact import Redactor
    from asgi_inspect.record.sinks import JsonlSink, MemorySink, Sink, SocketSink
    from asgi_inspect.store.store import Store
    from asgi_inspect.store.view import View


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'asgi_inspect' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = ["Event", "Exchange", "Inspector", "JsonlSink", "MemorySink", "Redactor", "Sink",
           "SocketSink", "Store", "Trace", "TraceError", "View", "__version__", "export",
           "read"]
