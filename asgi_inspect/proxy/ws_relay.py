"""WebSocket frames both ways between client and upstream, and each side's close to the other."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import EXTERNAL_CLOSE_CODES

from asgi_inspect.types import Message, Receive, Send

_MAX_CLOSE_REASON = 123  # bytes a WebSocket close frame can carry
_BAD_GATEWAY_CLOSE = 1014  # RFC 6455 registry: "Bad Gateway"


class WebSocketRelay:
    """Pumps frames both ways between the client and the upstream, and relays the close."""

    __slots__ = ("client_gone", "receive", "send", "upstream")

    def __init__(self, upstream: ClientConnection, receive: Receive, send: Send) -> None:
        self.upstream = upstream
        self.receive = receive
        self.send = send
        self.client_gone = False

    async def run(self) -> None:
        """Both directions at once, until the client's side is closed and relayed."""
        down = asyncio.ensure_future(self.downstream())
        try:
            await self.upstream_pump()
            await down
        finally:
            down.cancel()

    async def upstream_pump(self) -> None:
        """Client to upstream, until the client's side is closed."""
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "websocket.receive":
                data = message.get("bytes")
                with contextlib.suppress(ConnectionClosed):  # downstream relays the close
                    await self.upstream.send(data if data is not None else message.get("text", ""))
            elif kind == "websocket.disconnect":
                self.client_gone = True
                await _close_upstream(self.upstream, message)
                return

    async def downstream(self) -> None:
        """Upstream to client, then the upstream's close code and reason."""
        send = self.send
        closed: ConnectionClosed | None = None
        try:
            async for data in self.upstream:
                key = "text" if isinstance(data, str) else "bytes"
                await send({"type": "websocket.send", key: data})
        except ConnectionClosed as exc:
            closed = exc  # an abnormal close; the frame received (or its absence) tells how
        except OSError:
            return  # the client is gone; upstream_pump sees its disconnect
        if not self.client_gone:
            with contextlib.suppress(OSError):
                await send({"type": "websocket.close", **_client_close(self.upstream, closed)})


async def _close_upstream(upstream: ClientConnection, message: Message) -> None:
    """Close the upstream the way the client closed: its code and reason when they can travel."""
    code = message.get("code", 1000)
    reason = message.get("reason") or ""
    if code == 1005:  # the client sent a close frame without a code: so do we
        await upstream.close(None, "")  # type: ignore[arg-type]
    elif code in EXTERNAL_CLOSE_CODES or 3000 <= code < 5000:
        await upstream.close(code, close_reason(reason))
    else:  # 1006 and the like: the client vanished without a close frame
        await upstream.close(1001, "client connection lost")


def _client_close(upstream: ClientConnection, closed: ConnectionClosed | None) -> dict[str, Any]:
    """The close message for the client that mirrors how the upstream closed."""
    received = upstream.protocol.close_rcvd
    if received is None:
        cause = closed or "no close frame"
        return {"code": _BAD_GATEWAY_CLOSE,
                "reason": close_reason(f"upstream connection lost: {cause}")}
    if received.code == 1005:
        return {"code": 1000, "reason": ""}
    return {"code": received.code, "reason": received.reason}


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame can carry, without splitting a UTF-8 character."""
    return text.encode()[:_MAX_CLOSE_REASON].decode("utf-8", "ignore")
