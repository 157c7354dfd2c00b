"""The compat endpoints in FastAPI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse

from tests.compat import echo, greeting, inspected

api = FastAPI()


@api.get("/hello", response_class=PlainTextResponse)
async def hello(name: str) -> str:
    return greeting(name)


@api.post("/echo")
async def echo_json(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


@api.websocket("/ws")
async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(echo(await websocket.receive_text()))
    await websocket.close()


app = inspected(api)
