"""An app whose handlers end its process, for the crash tests: ``/crash`` calls ``os._exit(3)``
at once, ``/crash-later`` after 0.2 s, ``/slow`` starts a response and never finishes it;
anything else answers ``ok``. ``recorded`` wraps it for a server asgi-inspect does not start."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from asgi_inspect import Inspector
from tests.apps import serve_lifespan


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await serve_lifespan(receive, send)
    path = scope["path"]
    if path == "/crash":
        os._exit(3)
    if path == "/crash-later":
        await asyncio.sleep(0.2)
        os._exit(3)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok", "more_body": path == "/slow"})
    if path == "/slow":
        await asyncio.sleep(3600)


def recorded() -> Inspector:
    """uvicorn factory: the app recorded to ``$ASGI_INSPECT``."""
    return Inspector(app)
