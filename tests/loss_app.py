"""An app for the loss tests: ``/pid`` names the serving process, ``/slow`` starts a response
and never finishes it, anything else answers 1 KiB (to fill a disk quickly)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tests.apps import serve_lifespan

BODY = b"x" * 1024


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await serve_lifespan(receive, send)
    path = scope["path"]
    body = str(os.getpid()).encode() if path == "/pid" else BODY
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body, "more_body": path == "/slow"})
    if path == "/slow":
        await asyncio.sleep(3600)
