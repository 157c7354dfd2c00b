"""Where and how requests go upstream: the upstream, its connection pool, and the request
line and headers (hop-by-hop ones dropped, Host and forwarding applied).

The HTTP and WebSocket relays take a :class:`Route` and nothing else of the proxy app.
"""

from __future__ import annotations

from asgi_inspect.proxy.headers import (
    FORWARD_CHAINS,
    HOP_BY_HOP,
    Headers,
    check_host,
    connection_tokens,
    forwarding,
)
from asgi_inspect.proxy.pool import Pool
from asgi_inspect.proxy.upstream import Upstream
from asgi_inspect.types import Scope


class Route:
    """One upstream and the rules for what is sent to it."""

    def __init__(self, upstream: Upstream, *, rewrite_host: bool, forwarded: bool,
                 timeout: float | None) -> None:
        self.upstream = upstream
        self.rewrite_host = rewrite_host
        self.forwarded = forwarded
        self.timeout = timeout
        self.pool = Pool(upstream, timeout)

    def target(self, scope: Scope) -> bytes:
        """The request target exactly as the client sent it, under the upstream's path."""
        path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string") or b""
        return self.upstream.prefix + path + (b"?" + query if query else b"")

    def request_headers(self, scope: Scope,
                        drop: frozenset[bytes] = frozenset()) -> tuple[Headers, dict[bytes, bytes]]:
        """The client's headers minus hop-by-hop ones, with Host and forwarding applied.

        Also returns the first value the client sent for each (lowercased) header name.
        :class:`BadRequest` when the Host cannot be forwarded.
        """
        lowered = [(name.lower(), name, value) for name, value in scope["headers"]]
        check_host(lowered)
        first = {lower: value for lower, _, value in reversed(lowered)}
        hop = HOP_BY_HOP.union(connection_tokens(lowered))
        skip = hop.union(drop, FORWARD_CHAINS if self.forwarded else ())
        host = self.upstream.authority if self.rewrite_host else None
        kept = [(name, host if host is not None and lower == b"host" else value)
                for lower, name, value in lowered if lower not in skip]
        if self.forwarded:  # from what goes on: a header the client made hop-by-hop stops here
            kept += forwarding(scope, {name: v for name, v in first.items() if name not in hop})
        return kept, first

    def request_head(self, scope: Scope) -> tuple[bytes, bool | None]:
        """The request line and headers, and how the body goes: None (no body), chunked or not.

        A body of known length goes as it came; any other body is sent chunked.
        """
        headers, first = self.request_headers(scope)
        chunked = None
        if (b"content-length" in first or b"transfer-encoding" in first
                or not scope.get("http_version", "1.1").startswith("1")):  # HTTP/2 frames bodies
            chunked = b"content-length" not in first
            if chunked:
                headers.append((b"transfer-encoding", b"chunked"))
        if b"host" not in first:
            headers.insert(0, (b"host", self.upstream.authority))
        lines = [b"%s %s HTTP/1.1" % (scope["method"].encode("ascii"), self.target(scope))]
        lines += [b"%s: %s" % header for header in headers]
        return b"\r\n".join(lines) + b"\r\n\r\n", chunked
