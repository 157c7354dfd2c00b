"""The compat endpoints in Quart."""

from __future__ import annotations

from typing import Any

from quart import Quart, request, websocket

from tests.compat import echo, greeting, inspected

quart_app = Quart(__name__)


@quart_app.get("/hello")
async def hello() -> tuple[str, dict[str, str]]:
    return greeting(request.args["name"]), {"content-type": "text/plain; charset=utf-8"}


@quart_app.post("/echo")
async def echo_json() -> Any:
    return await request.get_json()


@quart_app.websocket("/ws")
async def ws_echo() -> None:
    await websocket.accept()
    await websocket.send(echo(str(await websocket.receive())))
    await websocket.close(1000)


app = inspected(quart_app)
