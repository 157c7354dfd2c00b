"""Replay: send a recorded (or edited) request again, and get the new exchange.

Two ways, one request model (:class:`ReplayRequest`):

- in-process, with :class:`~asgi_inspect.driver.Driver`, which runs the app the way a server
  would and feeds it the recorded ``receive()`` sequence (``view --app``, ``replay --app``);
- :func:`replay_over_http` re-sends the request to a running server (``asgi-inspect run``), whose
  recorder captures the replay; a ``x-asgi-inspect-replay`` header links it to the original.

The original exchange is never changed: every replay is a new exchange with ``replay_of`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from asgi_inspect.model import REPLAY_HEADER, Exchange

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te",
                        b"transfer-encoding", b"upgrade", b"content-length", b"host"})
_WS_HANDSHAKE = frozenset({b"sec-websocket-key", b"sec-websocket-version",
                           b"sec-websocket-extensions", b"sec-websocket-protocol"})


class ReplayError(Exception):
    """The exchange cannot be replayed (one line, for the user)."""


@dataclass
class ReplayRequest:
    """What a replay sends; built from an exchange and editable before sending."""

    type: str
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    scope: dict[str, Any]  # the recorded scope, for the fields not edited here
    receives: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    complete: bool = True  # False when the request body was capped at capture
    stop_after: int | None = None  # for a stream still open when recorded: sends to wait for

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> ReplayRequest:
        if exchange.type not in ("http", "websocket"):
            raise ReplayError(f"only HTTP and WebSocket exchanges replay, not {exchange.type}")
        scope = exchange.scope if isinstance(exchange.scope, dict) else {}
        if "path" not in scope:
            raise ReplayError("the exchange's scope was not recorded (records were dropped)")
        receives, sends = [], 0
        for event in exchange.events:
            if event.direction == "send":
                sends += 1
            elif isinstance(event.message, dict) and event.status == "ok":
                receives.append((dict(event.message), sends))
        complete = not exchange.request.elided and all(
            e.size is None for e in exchange.events if e.direction == "receive")
        query = scope.get("query_string") or b""
        return cls(type=exchange.type, method=str(scope.get("method", "GET")),
                   path=str(scope["path"]), query=query if isinstance(query, bytes) else b"",
                   headers=[h for h in exchange.request_headers if h[0] != REPLAY_HEADER],
                   body=exchange.body("receive"),
                   scope=scope, receives=receives, complete=complete,
                   stop_after=sends if exchange.outcome == "streaming" else None)

    def edited(self, *, method: str | None = None, path: str | None = None,
               query: bytes | None = None, headers: list[tuple[bytes, bytes]] | None = None,
               body: bytes | None = None) -> ReplayRequest:
        """A copy with some parts replaced; a new body is sent as one chunk."""
        new = replace(self, method=method or self.method, path=path or self.path,
                      query=self.query if query is None else query,
                      headers=self.headers if headers is None else headers,
                      body=self.body if body is None else body)
        if body is not None and self.type == "http":
            rest = [(m, n) for m, n in self.receives if m.get("type") != "http.request"]
            new.receives = [({"type": "http.request", "body": body, "more_body": False}, 0), *rest]
            new.complete = True
        return new

    def build_scope(self, state: dict[str, Any] | None) -> dict[str, Any]:
        """A fresh scope for the app: the recorded one with the (edited) request parts."""
        scope = {k: v for k, v in self.scope.items() if k != "state"}
        path = self.path
        scope.update(path=path, query_string=self.query, headers=[list(h) for h in self.headers],
                     raw_path=path.encode("utf-8"))
        if self.type == "http":
            scope["method"] = self.method
        if state is not None:
            scope["state"] = dict(state)
        return scope


async def replay_over_http(request: ReplayRequest, base_url: str, original_id: str,
                           timeout: float = 30.0) -> int | None:
    """Send the request to a running server; the server's recorder captures the replay.

    Returns the response status (None for WebSocket). The body is read and discarded here: the
    recorded exchange is the result.
    """
    import httpx

    headers = [(k, v) for k, v in request.headers
               if k.lower() not in HOP_BY_HOP and k.lower() != REPLAY_HEADER]
    host = _header(request.headers, b"host")
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
    as it had by then in the original; then let the server close first, as it did."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = _url(base_url.replace("http", "ws", 1), request)
    extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
             if k.lower() not in _WS_HANDSHAKE and k.lower() != b"host"]
    protocols = request.scope.get("subprotocols") or None
    frames = [(m, max(0, n - 1)) for m, n in request.receives  # n - 1: the accept is no frame
              if m.get("type") == "websocket.receive"]
    async with connect(url, additional_headers=extra, subprotocols=protocols) as socket:
        answers = 0
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(timeout):
                for frame, answered_before in frames:
                    while answers < answered_before:
                        await socket.recv()
                        answers += 1
                    data = frame.get("bytes")
                    await socket.send(data if data is not None else frame.get("text") or "")
                async for _ in socket:  # until the server closes (or the timeout)
                    pass


def _url(base_url: str, request: ReplayRequest) -> str:
    base = urlsplit(base_url)
    root = base.path.rstrip("/")
    path = request.path if request.path.startswith(root) else root + request.path
    query = f"?{request.query.decode('latin-1')}" if request.query else ""
    return f"{base.scheme}://{base.netloc}{path}{query}"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


def base_url_of(exchange: Exchange) -> str | None:
    """Where the exchange's server listened, from its scope (for replay under ``listen``)."""
    scope = exchange.scope if isinstance(exchange.scope, dict) else {}
    server = scope.get("server")
    if not isinstance(server, list) or len(server) != 2 or server[1] is None:
        return None
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    host = str(server[0])
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{server[1]}{scope.get('root_path', '')}"


# the request as text, for editing ----------------------------------------------------------

BINARY_MARKER = "# binary body"


class RequestTextError(ValueError):
    """An edited request that does not parse (one line, for the user)."""


def request_text(request: ReplayRequest) -> str:
    """The request as an editor shows it: ``METHOD target``, header lines, a blank line, body.

    A body that is not UTF-8 text is shown as a marker line; leaving the marker keeps it.
    """
    target = request.path + (f"?{request.query.decode('latin-1')}" if request.query else "")
    lines = [f"{request.method} {target}"]
    lines += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in request.headers]
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        body = f"{BINARY_MARKER} ({len(request.body)} bytes, kept as recorded)"
    return "\n".join([*lines, "", body])


def edited_request(request: ReplayRequest, text: str) -> ReplayRequest:
    """``request`` with what the user wrote in :func:`request_text`'s format."""
    head, _, body = text.partition("\n\n")
    first, *header_lines = head.split("\n")
    method, _, target = first.strip().partition(" ")
    if not method.isalpha() or not target.startswith("/"):
        raise RequestTextError("the first line must be a method and a path, like GET /items")
    path, _, query = target.strip().partition("?")
    headers = []
    for number, line in enumerate(header_lines, 2):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise RequestTextError(f"line {number} is not a header (name: value)")
        headers.append((name.strip().lower().encode("latin-1"),
                        value.strip().encode("latin-1")))
    kept = body.startswith(BINARY_MARKER)
    new_body = request.body if kept else body.encode("utf-8")
    return request.edited(method=method.upper(), path=path, query=query.encode("latin-1"),
                          headers=_with_length(headers, new_body),
                          body=None if new_body == request.body else new_body)


def _with_length(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    """Keep a Content-Length header true to the (possibly edited) body."""
    if not any(k == b"content-length" for k, _ in headers):
        return headers
    return [(k, str(len(body)).encode() if k == b"content-length" else v) for k, v in headers]


# where replays go ---------------------------------------------------------------------------

class Replayer(Protocol):
    """Sends replays for a view; returns the new exchange, or None when it arrives live."""

    where: str  # for messages: "http://127.0.0.1:8000" or "in-process app.module:app"

    async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None: ...

    async def close(self) -> None: ...


class HttpReplayer:
    """Replays to a running server whose recorder feeds this session (run, proxy, listen)."""

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.where = base_url or "each exchange's own server"

    async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None:
        base = self.base_url or base_url_of(original)
        if base is None:
            raise ReplayError("the exchange's scope does not say where its server listens")
        await replay_over_http(request, base, original.id)
        return None

    async def close(self) -> None:
        pass


class InProcessReplayer:
    """Replays against an app in this process (``view --app``), with its lifespan."""

    def __init__(self, app: Any, where: str, timeout: float = 30.0) -> None:
        from asgi_inspect.driver import Driver

        self.where = where
        self._driver = Driver(app, timeout=timeout)
        self._started = False

    async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None:
        if not self._started:
            await self._driver.__aenter__()
            self._started = True
        return await self._driver.replay(request, original.id)

    async def close(self) -> None:
        if self._started:
            await self._driver.__aexit__(None, None, None)
