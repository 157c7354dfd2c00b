"""The reverse proxy: an ASGI app that forwards HTTP and WebSocket traffic to one upstream.

Wrapped in the recorder and served by uvicorn, it lets the whole pipeline (TUI, exports, replay)
inspect any HTTP server, Python or not. It is a plain ASGI app, so what the recorder sees is
exactly what the proxy received from the client and sent back to it.

Forwarding is transparent where HTTP allows: bodies stream both ways chunk by chunk and are
never decoded (Content-Encoding passes through), header order and duplicates are kept, the
request target goes upstream byte for byte. Only hop-by-hop headers (RFC 9110 §7.6.1) are
dropped, and ``X-Forwarded-*``/``Forwarded`` are added unless turned off.

HTTP goes upstream over a small HTTP/1.1 client of its own (asyncio transports, keep-alive pool,
responses parsed by httptools, flow control both ways) rather than httpx: measured through this
proxy, httpx's per-request cost (about 400 µs of CPU, most of it in httpcore's pool and anyio)
made the proxy slower than mitmproxy; this client costs a fraction of that. WebSockets go
through the ``websockets`` library's asyncio client.

When the upstream fails before the response started, the client gets a 502 (504 on a timeout)
whose plain-text body and ``x-asgi-inspect-error`` header name the cause, so the recording shows
it; a request that cannot be forwarded (a Host that is not ``host[:port]``) gets a 400 the same
way. When the upstream fails later, the proxy raises :class:`UpstreamError`: the server closes
the connection and the recorder keeps the exception.

Modules: ``app`` (the ASGI app), ``env`` (configuration from the environment), ``upstream``
(the upstream URL), ``route`` (the upstream, its pool, and the request that goes there),
``headers`` (hop-by-hop and forwarding headers), ``failures`` (502/504 answers),
``http_relay`` (one HTTP request), ``pool`` and ``connection`` (the HTTP/1.1 client),
``websocket`` and ``ws_relay`` (WebSockets).
"""

from asgi_inspect.proxy.app import DEFAULT_TIMEOUT, Proxy, make_proxy
from asgi_inspect.proxy.connection import InvalidResponse
from asgi_inspect.proxy.env import (
    ENV_FORWARDED,
    ENV_REWRITE_HOST,
    ENV_TIMEOUT,
    ENV_UPSTREAM,
    proxy_from_env,
)
from asgi_inspect.proxy.failures import ERROR_HEADER, UpstreamError
from asgi_inspect.proxy.headers import Headers
from asgi_inspect.proxy.upstream import Upstream, parse_upstream

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_FORWARDED",
    "ENV_REWRITE_HOST",
    "ENV_TIMEOUT",
    "ENV_UPSTREAM",
    "ERROR_HEADER",
    "Headers",
    "InvalidResponse",
    "Proxy",
    "Upstream",
    "UpstreamError",
    "make_proxy",
    "parse_upstream",
    "proxy_from_env",
]
