"""Replay over HTTP: re-send a request to a running server, whose recorder captures the replay.

Used under ``asgi-inspect run``, ``proxy`` and ``listen``; a ``x-asgi-inspect-replay`` header
links the recorded replay to its original.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from asgi_inspect import http
from asgi_inspect.model import REPLAY_HEADER, Exchange
from asgi_inspect.replay.request import ReplayError, ReplayRequest

# What the client sending the replay sets itself.
_NOT_RESENT = http.CONNECTION_HEADERS | http.FRAMING_HEADERS | {REPLAY_HEADER}


async def replay_over_http(request: ReplayRequest, base_url: str, original_id: str,
                           timeout: float = 30.0) -> int | None:
    """Send the request to a running server; the server's recorder captures the replay.

    Returns the response status (None for WebSocket). The body is read and discarded here: the
    recorded exchange is the result.
    """
    import httpx

    headers = [(k, v) for k, v in request.headers
               if k.lower() not in _NOT_RESENT]
    host = http.header(request.headers, b"host")
    if host:
        headers.append((b"host", host))
    headers.append((REPLAY_HEADER, original_id.encode()))
    if request.type == "websocket":
        await _replay_websocket(request, base_url, headers, timeout)
        return None
    url = _url(base_url, request)
    async with httpx.AsyncClient(timeout=timeout) as client:
        client.headers.clear()  # send the recorded headers only, not httpx's defaults
        async with client.stream(request.method, url, headers=headers,
                                 content=_chunks(request)) as response:
            async for _ in response.aiter_raw():
                pass
            return response.status_code


def _chunks(request: ReplayRequest) -> bytes | AsyncIterator[bytes]:
    """The body as recorded: several chunks go out chunked, one goes out whole."""
    chunks = [m.get("body") or b"" for m, _ in request.receives if m.get("type") == "http.request"]
    if len([c for c in chunks if c]) <= 1:
        return request.body

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            if chunk:
                yield chunk

    return stream()


async def _replay_websocket(request: ReplayRequest, base_url: str,
                            headers: list[tuple[bytes, bytes]], timeout: float) -> None:
    """Send the recorded client frames in order, each once the server has answered as often
    as it had by then in the original; then close as the client did (a recorded
    ``websocket.disconnect``), or let the server close first, as it did."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = _url(base_url.replace("http", "ws", 1), request)
    extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
             if k.lower() not in http.WEBSOCKET_HANDSHAKE_HEADERS and k.lower() != b"host"]
    protocols = request.scope.get("subprotocols") or None
    messages = [(m, max(0, n - 1)) for m, n in request.receives  # n - 1: the accept is no frame
                if m.get("type") in ("websocket.receive", "websocket.disconnect")]
    async with connect(url, additional_headers=extra, subprotocols=protocols) as socket:
        answers = 0
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(timeout):
                for message, answered_before in messages:
                    while answers < answered_before:
                        await socket.recv()
                        answers += 1
                    if message["type"] == "websocket.disconnect":
                        await socket.close(*_close_of(message))
                        return
                    data = message.get("bytes")
                    await socket.send(data if data is not None else message.get("text") or "")
                async for _ in socket:  # until the server closes (or the timeout)
                    pass


def _close_of(disconnect: dict[str, Any]) -> tuple[int, str]:
    """The close code and reason a client may send for a recorded ``websocket.disconnect``:
    1005/1006/1015 only describe a close without a frame, so 1000 is sent for them."""
    code, reason = disconnect.get("code"), disconnect.get("reason")
    if not isinstance(code, int) or code in (1004, 1005, 1006) or not (
            1000 <= code <= 1014 or 3000 <= code <= 4999):
        code = 1000
    return code, reason if isinstance(reason, str) else ""


def _url(base_url: str, request: ReplayRequest) -> str:
    base = urlsplit(base_url)
    root = base.path.rstrip("/")
    path = request.path if request.path.startswith(root) else root + request.path
    query = f"?{request.query.decode('latin-1')}" if request.query else ""
    return f"{base.scheme}://{base.netloc}{path}{query}"


class HttpReplayer:
    """Replays to a running server whose recorder feeds this session (run, proxy, listen)."""

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.where = base_url or "each exchange's own server"

    async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None:
        base = self.base_url or http.server_url_of(original)
        if base is None:
            raise ReplayError("the exchange's scope does not say where its server listens")
        await replay_over_http(request, base, original.id)
        return None

    async def close(self) -> None:
        pass
