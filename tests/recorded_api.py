"""A FastAPI app with a login cookie and a JSON API, recorded by the gen-test and diff tests.

``RECORDED_API_CHANGE=1`` in the environment changes its answers (a price), as a regression
would: the tests generated from its traffic must then fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Cookie, FastAPI, HTTPException, Response

ITEMS: dict[int, dict[str, Any]] = {}
SESSIONS: set[str] = set()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    ITEMS.clear()
    ITEMS[1] = {"id": 1, "name": "apple", "price": _price(3)}
    yield


app = FastAPI(lifespan=lifespan)


def _price(cents: int) -> int:
    return cents * 10 if os.environ.get("RECORDED_API_CHANGE") else cents


@app.post("/login")
async def login(body: dict[str, str], response: Response) -> dict[str, str]:
    if body.get("password") != "pw":
        raise HTTPException(401, "bad password")
    token = uuid.uuid4().hex
    SESSIONS.add(token)
    response.set_cookie("session", token, httponly=True)
    return {"user": body.get("user", ""), "request_id": uuid.uuid4().hex}


@app.get("/api/items")
async def items() -> list[dict[str, Any]]:
    return list(ITEMS.values())


@app.post("/api/items", status_code=201)
async def create(body: dict[str, Any], session: str | None = Cookie(None)) -> dict[str, Any]:
    if session not in SESSIONS:
        raise HTTPException(401, "log in first")
    item = {"id": max(ITEMS) + 1, "name": body["name"], "price": _price(int(body["price"]))}
    ITEMS[item["id"]] = item
    return item


@app.get("/api/items/{item_id}")
async def item(item_id: int) -> dict[str, Any]:
    if item_id not in ITEMS:
        raise HTTPException(404, "no such item")
    return ITEMS[item_id]


@app.get("/health", response_model=None)
async def health() -> Response:
    return Response("ok\n", media_type="text/plain")
