"""The proxy as an ASGI app: dispatch by scope type, and the lifespan."""

from __future__ import annotations

from asgi_inspect.proxy.http_relay import HttpRelay
from asgi_inspect.proxy.route import Route
from asgi_inspect.proxy.upstream import parse_upstream
from asgi_inspect.proxy.websocket import forward_websocket
from asgi_inspect.types import ASGIApp, Receive, Scope, Send

DEFAULT_TIMEOUT = 60.0  # like nginx's proxy_read_timeout: an idle upstream read gives up here


def make_proxy(upstream: str, *, rewrite_host: bool = False, forwarded: bool = True,
               timeout: float | None = DEFAULT_TIMEOUT) -> ASGIApp:
    """An ASGI app that forwards every request and WebSocket to ``upstream``.

    ``rewrite_host`` sends the upstream's own host in ``Host`` instead of the client's;
    ``forwarded`` adds ``X-Forwarded-For/-Proto/-Host`` and ``Forwarded``; ``timeout`` bounds
    connecting and each wait for the upstream (None: no bound).
    """
    return Proxy(Route(parse_upstream(upstream), rewrite_host=rewrite_host,
                       forwarded=forwarded, timeout=timeout))


class Proxy:
    """The proxy app; build it with :func:`make_proxy`."""

    def __init__(self, route: Route) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await HttpRelay(self.route, scope, receive, send).run()
        elif kind == "websocket":
            await forward_websocket(self.route, scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Close the idle upstream connections when the server shuts down."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.route.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
