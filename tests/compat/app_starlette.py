"""The compat endpoints in Starlette."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.compat import echo, greeting, inspected


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(greeting(request.query_params["name"]))


async def echo_json(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(echo(await websocket.receive_text()))
    await websocket.close()


app = inspected(Starlette(routes=[
    Route("/hello", hello), Route("/echo", echo_json, methods=["POST"]),
    WebSocketRoute("/ws", ws_echo),
]))
