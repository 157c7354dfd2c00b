"""Real traffic of :mod:`tests.recorded_api` through uvicorn, recorded to a JSONL trace."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.formats import codec
from tests import recorded_api
from tests.servers import uvicorn_server

CHANGE = "RECORDED_API_CHANGE"  # set: the app answers differently (a regression)


def record(path: Path, *, changed: bool = False) -> Path:
    """Log in, list, create and read items, then write what was recorded to ``path``."""
    before = os.environ.pop(CHANGE, None)
    if changed:
        os.environ[CHANGE] = "1"
    try:
        sink = MemorySink()
        inspector = Inspector(recorded_api.app, sink)
        with uvicorn_server(inspector) as url:
            asyncio.run(_drive(url))
        inspector.flush()
    finally:
        os.environ.pop(CHANGE, None)
        if before is not None:
            os.environ[CHANGE] = before
    codec.write(codec.new_trace(sink.exchanges), path, jsonl=True)
    return path


async def _drive(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        (await client.get("/health")).raise_for_status()
        (await client.get("/api/items")).raise_for_status()
        (await client.post("/login", json={"user": "ann", "password": "pw"})).raise_for_status()
        created = await client.post("/api/items", json={"name": "pear", "price": 5})
        created.raise_for_status()
        (await client.get(f"/api/items/{created.json()['id']}")).raise_for_status()
        assert (await client.get("/api/items/99")).status_code == 404
