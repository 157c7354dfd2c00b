"""The compat endpoints in Litestar."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, WebSocket, get, post, websocket

from tests.compat import echo, greeting, inspected


@get("/hello", media_type="text/plain")
async def hello(name: str) -> str:
    return greeting(name)


@post("/echo", status_code=200)
async def echo_json(data: dict[str, Any]) -> dict[str, Any]:
    return data


@websocket("/ws")
async def ws_echo(socket: WebSocket) -> None:
    await socket.accept()
    await socket.send_text(echo(await socket.receive_text()))
    await socket.close()


app = inspected(Litestar(route_handlers=[hello, echo_json, ws_echo]))
