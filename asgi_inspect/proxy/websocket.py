"""A WebSocket through the proxy: the handshake with the upstream, then accept or deny."""

from __future__ import annotations

from typing import TypedDict

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from asgi_inspect.http import WEBSOCKET_HANDSHAKE_HEADERS
from asgi_inspect.proxy.failures import PLAIN_TEXT, BadRequest, failure
from asgi_inspect.proxy.headers import Headers, latin1_pairs, response_headers
from asgi_inspect.proxy.route import Route
from asgi_inspect.proxy.ws_relay import WebSocketRelay, close_reason
from asgi_inspect.types import Receive, Scope, Send

# The WebSocket client library writes these itself for its own handshake with the upstream.
_WS_HANDSHAKE = WEBSOCKET_HANDSHAKE_HEADERS | {b"host", b"sec-websocket-accept"}


async def forward_websocket(route: Route, scope: Scope, receive: Receive, send: Send) -> None:
    """Accept the client's WebSocket only once the upstream accepted it, then relay frames."""
    if (await receive())["type"] != "websocket.connect":
        return
    upstream = await _open_or_deny(route, scope, send)
    if upstream is None:
        return
    async with upstream:
        response = upstream.response
        assert response is not None  # connect() returns once the handshake's response is in
        headers = response_headers(latin1_pairs(response.headers.raw_items()))
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol,
                    "headers": [(n, v) for n, v in headers if n not in _WS_HANDSHAKE]})
        await WebSocketRelay(upstream, receive, send).run()


async def _open_or_deny(route: Route, scope: Scope, send: Send) -> ClientConnection | None:
    """The upstream WebSocket; None when it refused or failed, after telling the client why."""
    try:
        return await _open_upstream(route, scope)
    except InvalidStatus as exc:
        response = exc.response
        await _deny(scope, send, response.status_code,
                    response_headers(latin1_pairs(response.headers.raw_items())),
                    bytes(response.body or b""))
    except (OSError, InvalidHandshake, ValueError, BadRequest) as exc:
        status, text, header = failure(route.upstream, exc)
        await _deny(scope, send, status, [header, PLAIN_TEXT], text)
    return None


async def _open_upstream(route: Route, scope: Scope) -> ClientConnection:
    """Open the upstream WebSocket, offering the client's subprotocols and headers.

    The URI carries the client's Host (unless rewritten) so that the handshake sends it;
    the TCP connection goes to the upstream all the same. ``request_headers`` has checked that
    Host is ``host[:port]``, so it cannot move the target the URI puts after it.
    """
    upstream = route.upstream
    secure = upstream.scheme == "https"
    headers, first = route.request_headers(scope, _WS_HANDSHAKE)
    client_host = first.get(b"host")
    authority = upstream.authority if route.rewrite_host or not client_host else client_host
    uri = (f"{'wss' if secure else 'ws'}://{authority.decode('latin-1')}"
           f"{route.target(scope).decode('latin-1')}")
    tls: _TLSOptions = {"server_hostname": upstream.host} if secure else {}
    return await _NoRedirects(
        uri, host=upstream.host, port=upstream.port, **tls, proxy=None,
        additional_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
        subprotocols=scope.get("subprotocols") or None, user_agent_header=None,
        compression=None, open_timeout=route.timeout, ping_interval=None, max_size=None,
    )


class _TLSOptions(TypedDict, total=False):
    """What the handshake passes on to ``loop.create_connection`` for a ``wss`` upstream."""

    server_hostname: str


class _NoRedirects(ws_connect):
    """A WebSocket handshake that hands a redirect back to the client instead of following it."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


async def _deny(scope: Scope, send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Refuse the client's WebSocket: with the upstream's HTTP response where the server can."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        reason = body.decode("utf-8", "replace") or f"upstream answered {status}"
        await send({"type": "websocket.close", "code": 1008, "reason": close_reason(reason)})
