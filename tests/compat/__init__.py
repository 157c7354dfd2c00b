"""The compatibility matrix: one small app per framework, each served by real servers.

Every app module serves the same three endpoints, so one test drives them all:

- ``GET /hello?name=...`` answers ``greeting(name)`` as text/plain;
- ``POST /echo`` answers the JSON object it was sent;
- ``/ws`` (where the framework has WebSockets) accepts, answers one text message with
  ``echo(text)`` and closes (Sanic, which cannot close under ASGI, waits for the client's close).

Each module exposes ``app``: its framework's app wrapped by :func:`inspected`, which records to
the JSONL file named by ``$ASGI_INSPECT_COMPAT_TRACE`` (set by ``tests/compat/servers.py``).
"""

from __future__ import annotations

import os
from typing import Any

from asgi_inspect import Inspector, JsonlSink

TRACE_ENV = "ASGI_INSPECT_COMPAT_TRACE"


def greeting(name: str) -> str:
    return f"hello {name}"


def echo(text: str) -> str:
    return f"echo: {text}"


def inspected(app: Any) -> Inspector:
    """Wrap ``app`` so that it records to the trace file the test named."""
    return Inspector(app, sink=JsonlSink(os.environ[TRACE_ENV]))
