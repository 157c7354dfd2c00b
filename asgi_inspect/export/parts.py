"""The pieces every exporter needs from an exchange: URL, headers, bodies, timing anchors.

Traces can be hand-edited or come from anywhere, so nothing here trusts a snapshot's shape: a
scope that is not a dict reads as empty, and values of the wrong type read as missing.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from asgi_inspect.model import Direction, Event, Exchange

# Connection-level headers: they describe one hop, not the request, and tools set their own.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
    b"upgrade",
})
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
# Printable ASCII stays as the client sent it; space, '#', controls and non-ASCII are escaped.
QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "#")
PATH_SAFE = QUERY_SAFE.replace("?", "")
_DECODERS = {b"gzip": 47, b"x-gzip": 47, b"deflate": 15}  # zlib wbits (47: gzip or zlib)


def scope_of(exchange: Exchange) -> dict[str, Any]:
    return exchange.scope if isinstance(exchange.scope, dict) else {}


def message_of(event: Event) -> dict[str, Any]:
    return event.message if isinstance(event.message, dict) else {}


def text_of(value: Any, default: str = "") -> str:
    if isinstance(value, str):
        return value
    return value.decode("latin-1") if isinstance(value, bytes) else default


def request_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    return exchange.request_headers if isinstance(exchange.scope, dict) else []


def response_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    start = exchange.response_start
    return exchange.response_headers if start and isinstance(start.message, dict) else []


def header(headers: Iterable[Sequence[bytes]], name: bytes) -> bytes | None:
    """The first value of a header (names compared case-insensitively)."""
    return next((pair[1] for pair in headers if pair[0].lower() == name), None)


# the URL -----------------------------------------------------------------------------------

def scheme_of(exchange: Exchange) -> str:
    scheme = scope_of(exchange).get("scheme")
    if isinstance(scheme, str) and scheme:
        return scheme
    return "ws" if exchange.type == "websocket" else "http"


def host_of(exchange: Exchange) -> str:
    """The authority the client asked for: the Host header, else the server address."""
    host = header(request_headers(exchange), b"host")
    if host:
        return host.decode("latin-1")
    server = scope_of(exchange).get("server")
    if isinstance(server, (list, tuple)) and len(server) == 2 and isinstance(server[0], str):
        name, port = server
        name = f"[{name}]" if ":" in name else name
        default = _DEFAULT_PORTS.get(scheme_of(exchange))
        return name if port in (None, default) else f"{name}:{port}"
    return "localhost"


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


def http_version(exchange: Exchange) -> str:
    version = text_of(scope_of(exchange).get("http_version"), "1.1")
    return "HTTP/2" if version in ("2", "2.0") else f"HTTP/{version}"


# bodies ------------------------------------------------------------------------------------

def body_size(exchange: Exchange, direction: Direction) -> tuple[bytes, int]:
    """The kept body and the size it had: more than ``len(kept)`` when it was capped."""
    kept = exchange.body(direction)
    counters = exchange.request if direction == "receive" else exchange.response
    return kept, max(counters.bytes, len(kept))


def decoded(body: bytes, content_encoding: bytes | None) -> bytes | None:
    """The body with its gzip/deflate Content-Encoding undone; None when it cannot be.

    A capped body is a prefix of the stream: it decodes to a prefix of the content.
    """
    if not content_encoding or content_encoding.strip().lower() == b"identity":
        return body
    wbits = _DECODERS.get(content_encoding.strip().lower())
    if wbits is None:
        return None
    try:
        return zlib.decompressobj(wbits).decompress(body)
    except zlib.error:
        try:  # some servers send raw deflate without the zlib header
            return zlib.decompressobj(-15).decompress(body)
        except zlib.error:
            return None


def encoded(body: bytes, content_encoding: bytes | None) -> bytes | None:
    """``body`` compressed as ``content_encoding`` says; None for codings we cannot make."""
    if not content_encoding or content_encoding.strip().lower() == b"identity":
        return body
    wbits = _DECODERS.get(content_encoding.strip().lower())
    if wbits is None:
        return None
    compressor = zlib.compressobj(wbits=31 if wbits == 47 else 15)
    return compressor.compress(body) + compressor.flush()


def end_of(event: Event) -> int:
    return event.t_call if event.t_return is None else event.t_return
