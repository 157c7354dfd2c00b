"""HTTP facts named once: header sets by purpose, header text, an exchange's URL and host.

Every part of the package that asks "which headers belong to one connection", "what is this
header's value" or "which URL did the client ask for" asks here (exporters, replay, the
proxy, the diff, the filters). Traces can be hand-edited or come from anywhere, so nothing
here trusts a snapshot's shape: a scope that is not a dict reads as empty, and values of the
wrong type read as missing.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

# The lookup itself is the model's (``Exchange.content_type`` needs it); it is part of this
# vocabulary too, so ``http.header`` is the name the rest of the package uses.
from asgi_inspect.model import REPLAY_HEADER, Exchange
from asgi_inspect.model import header as header  # re-exported: ``http.header``

# RFC 9110 §7.6.1: headers that describe one connection, not the message. Nothing that
# re-sends or forwards a request passes them on; exporters leave them out too.
CONNECTION_HEADERS = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade",
})
# Addressed to a proxy: ours does not authenticate, so they stop there.
PROXY_AUTH_HEADERS = frozenset({b"proxy-authenticate", b"proxy-authorization"})
# Set by whatever sends the request again, from the URL and the body it sends.
FRAMING_HEADERS = frozenset({b"host", b"content-length"})
# A WebSocket client library makes its own handshake.
WEBSOCKET_HANDSHAKE_HEADERS = frozenset({
    b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
    b"sec-websocket-protocol",
})
# Headers whose values change from one response to the next on their own (dates, ids,
# timings): a diff of a replay against its original ignores them by default.
VOLATILE_HEADERS = (
    "date", "server", "age", "expires", "last-modified", "etag", "x-request-id",
    "x-correlation-id", "request-id", "x-runtime", "x-response-time", "server-timing",
    "x-process-time", "cf-ray", REPLAY_HEADER.decode(),
)
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
# Printable ASCII stays as the client sent it; space, '#', controls and non-ASCII are escaped.
QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "#")
PATH_SAFE = QUERY_SAFE.replace("?", "")


def scope_of(exchange: Exchange) -> dict[str, Any]:
    return exchange.scope if isinstance(exchange.scope, dict) else {}


def text_of(value: Any, default: str = "") -> str:
    if isinstance(value, str):
        return value
    return value.decode("latin-1") if isinstance(value, bytes) else default


def request_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    return exchange.request_headers if isinstance(exchange.scope, dict) else []


def response_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    start = exchange.response_start
    return exchange.response_headers if start and isinstance(start.message, dict) else []


def status_text(exchange: Exchange) -> str:
    """The status the client got, saying when the server sent it in the app's place; "none"
    while there is none (see ``Exchange.status``)."""
    status = exchange.status
    if status is None:
        return "none"
    return f"{status} (from the server)" if exchange.answered_by_server else str(status)


def request_type(exchange: Exchange) -> str:
    """The request's media type, lowercased, without parameters (``application/json``); ""
    when it has none. Kept on the exchange: the lenses ask for every row of a list."""
    cached = exchange.__dict__.get("_request_type")
    if cached is None:
        cached = exchange.__dict__["_request_type"] = _media_type(request_headers(exchange))
    return cached


def response_type(exchange: Exchange) -> str:
    """The response's media type, as :func:`request_type`; kept once the response started."""
    cached = exchange.__dict__.get("_response_type")
    if cached is None:
        headers = response_headers(exchange)
        cached = _media_type(headers)
        if headers:
            exchange.__dict__["_response_type"] = cached
    return cached


def _media_type(headers: list[tuple[bytes, bytes]]) -> str:
    value = header_text(headers, b"content-type").split(";", 1)[0].strip().lower()
    return sys.intern(value)  # a handful of distinct types among 100k exchanges


def header_text(headers: Iterable[Sequence[bytes]], name: bytes) -> str:
    """The first value of a header as text (latin-1, as HTTP/1.1 carries it); "" when absent."""
    value = header(headers, name)
    return "" if value is None else value.decode("latin-1")


# the URL -----------------------------------------------------------------------------------

def scheme_of(exchange: Exchange) -> str:
    scheme = scope_of(exchange).get("scheme")
    if isinstance(scheme, str) and scheme:
        return scheme
    return "ws" if exchange.type == "websocket" else "http"


def host_of(exchange: Exchange, default: str = "localhost") -> str:
    """The authority the client asked for: the Host header, else the server address (its port
    left out when it is the scheme's default), else ``default``."""
    host = header(request_headers(exchange), b"host")
    if host:
        return host.decode("latin-1")
    server = scope_of(exchange).get("server")
    if isinstance(server, (list, tuple)) and len(server) == 2 and isinstance(server[0], str):
        name, port = server
        name = f"[{name}]" if ":" in name else name
        return name if port in (None, _DEFAULT_PORTS.get(scheme_of(exchange))) else f"{name}:{port}"
    return default


def server_ip(exchange: Exchange) -> str | None:
    server = scope_of(exchange).get("server")
    if isinstance(server, (list, tuple)) and server and isinstance(server[0], str):
        try:
            return str(ipaddress.ip_address(server[0]))
        except ValueError:
            return None
    return None


def target_of(exchange: Exchange) -> str:
    """``/path?query`` as sent: raw path bytes percent-encoded where a URL needs it."""
    scope = scope_of(exchange)
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        path = quote(raw.split(b"?", 1)[0].decode("latin-1"), PATH_SAFE, encoding="latin-1")
    else:
        path = quote(text_of(scope.get("path"), "/"), PATH_SAFE.replace("%", ""))
    root = quote(text_of(scope.get("root_path")), PATH_SAFE.replace("%", ""))
    if root and not path.startswith(root):
        path = root + path
    if not path.startswith("/"):
        path = "/" + path
    query = scope.get("query_string")
    if isinstance(query, bytes) and query:
        path += "?" + quote(query.decode("latin-1"), QUERY_SAFE, encoding="latin-1")
    return path


def url_of(exchange: Exchange, base_url: str | None = None) -> str:
    """The absolute URL; ``base_url`` (``http://host:port``) replaces scheme and authority."""
    origin = base_url.rstrip("/") if base_url else f"{scheme_of(exchange)}://{host_of(exchange)}"
    return origin + target_of(exchange)


def server_url_of(exchange: Exchange) -> str | None:
    """Where the exchange's server listened, from its scope (for replay under ``listen``)."""
    scope = scope_of(exchange)
    server = scope.get("server")
    if not isinstance(server, list) or len(server) != 2 or server[1] is None:
        return None
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    host = str(server[0])
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{server[1]}{scope.get('root_path', '')}"


def http_version(exchange: Exchange) -> str:
    version = text_of(scope_of(exchange).get("http_version"), "1.1")
    return "HTTP/2" if version in ("2", "2.0") else f"HTTP/{version}"
