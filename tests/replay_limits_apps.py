"""Apps for the tests of what replay cannot do: a FastAPI app (a multipart upload, volatile
JSON and text, an endpoint that prints and raises) and a Strawberry subscription."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from strawberry.asgi import GraphQL

app = FastAPI()
_calls = itertools.count(1)
log = logging.getLogger("tests.noisy")
NOISY_LINES = 150


@app.post("/upload")
async def upload(file: Annotated[UploadFile, File()], note: Annotated[str, Form()]) -> dict:
    return {"size": len(await file.read()), "note": note}


@app.post("/blob")
async def blob(request: Request) -> dict:
    await request.body()
    return {"ok": True}


@app.get("/rows")
async def rows() -> dict:
    """Datasette's shape: the same rows each time, a fresh ``query_ms``."""
    return {"rows": [[1, "a"], [2, "b"]], "query_ms": next(_calls) * 1.7}


@app.get("/page", response_class=HTMLResponse)
async def page() -> str:
    return f"<p>2 rows</p>\n<p>Queries took {next(_calls) * 1.7:.1f}ms</p>\n"


@app.get("/noisy")
async def noisy() -> dict:
    for number in range(NOISY_LINES - 1):
        print(f"noisy line {number}")
    log.warning("noisy log line")
    raise ValueError("noisy failure")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, target: int = 3) -> AsyncGenerator[int, None]:
        for number in range(target):
            yield number
            await asyncio.sleep(0.01)


graphql = GraphQL(strawberry.Schema(query=Query, subscription=Subscription))
