"""The compat endpoints in Sanic, served as an ASGI app.

In ASGI mode Sanic's ``ws.close()`` does nothing, so the WebSocket handler waits for the client
to close instead of closing itself.
"""

from __future__ import annotations

from sanic import Request, Sanic, Websocket
from sanic.response import HTTPResponse, json, text

from tests.compat import echo, greeting, inspected

sanic_app = Sanic("asgi_inspect_compat")  # names are unique per process: one app per server


@sanic_app.get("/hello")
async def hello(request: Request) -> HTTPResponse:
    return text(greeting(request.args.get("name", "")))


@sanic_app.post("/echo")
async def echo_json(request: Request) -> HTTPResponse:
    return json(request.json)


@sanic_app.websocket("/ws")
async def ws_echo(request: Request, ws: Websocket) -> None:
    await ws.send(echo(str(await ws.recv())))
    await ws.recv()  # returns None on the client's close


app = inspected(sanic_app)
