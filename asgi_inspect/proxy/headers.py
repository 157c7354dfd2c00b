"""Headers across the proxy: hop-by-hop ones stop here, forwarding ones record this hop."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from asgi_inspect.http import CONNECTION_HEADERS, FRAMING_HEADERS, PROXY_AUTH_HEADERS
from asgi_inspect.proxy.failures import BadRequest
from asgi_inspect.types import Scope

Headers = list[tuple[bytes, bytes]]

# Meaningful for one connection only, or addressed to a proxy: they stop here.
HOP_BY_HOP = CONNECTION_HEADERS | PROXY_AUTH_HEADERS
FORWARD_CHAINS = frozenset({b"x-forwarded-for", b"forwarded"})  # re-added with this hop
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 3986 authority without userinfo: reg-name or [IPv6], and an optional port.
_AUTHORITY = re.compile(
    rb"(?:\[(?P<literal>[0-9A-Fa-f:.]+)\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::(?P<port>[0-9]{0,5}))?")


def connection_tokens(lowered: Iterable[tuple[bytes, ...]]) -> list[bytes]:
    """The header names a message's Connection headers list: hop-by-hop for that message.

    Host and Content-Length cannot be made hop-by-hop: the proxy must send them on, since they
    say where the request goes and where its body ends (``Connection: Content-Length`` would
    otherwise smuggle the body upstream as the next request).
    """
    return [name for item in lowered if item[0] == b"connection"
            for token in item[-1].split(b",")
            if (name := token.strip().lower()) not in FRAMING_HEADERS]


def check_host(lowered: Iterable[tuple[bytes, ...]]) -> None:
    """:class:`BadRequest` when the request's Host cannot be forwarded.

    RFC 9112 §3.2 has a server answer 400 to several Host lines or a Host that is not
    ``host[:port]``. The proxy must: a value with ``/``, ``?``, ``#`` or ``@`` would move the
    WebSocket handshake's target or add credentials, and any other would reach the upstream raw.
    """
    hosts = [item[-1] for item in lowered if item[0] == b"host"]
    if len(hosts) > 1:
        raise BadRequest(f"{len(hosts)} Host headers: a request has one")
    if hosts and not _is_authority(hosts[0]):
        raise BadRequest(f"Host {hosts[0].decode('latin-1')!a} is not host[:port]")


def _is_authority(value: bytes) -> bool:
    """Whether ``value`` is a host name or address with an optional port up to 65535."""
    match = _AUTHORITY.fullmatch(value)
    if match is None:
        return False
    literal, port = match["literal"], match["port"]
    if literal is not None:
        try:
            ipaddress.IPv6Address(literal.decode("ascii"))
        except ValueError:
            return False
    return not port or int(port) <= 65535


def response_headers(raw: Sequence[tuple[bytes, bytes]]) -> Headers:
    """The upstream's response headers for the client: lowercased, hop-by-hop ones removed."""
    lowered = [(name.lower(), value) for name, value in raw]
    skip = HOP_BY_HOP.union(connection_tokens(lowered))
    return [(name, value) for name, value in lowered if name not in skip]


def latin1_pairs(items: Iterable[tuple[str, str]]) -> Headers:
    """Header pairs as the websockets library gives them (str) in ASGI's form (bytes)."""
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]


def content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The declared body size, which tells the relay which chunk is the last."""
    value = next((v for n, v in headers if n.lower() == b"content-length"), None)
    return int(value) if value is not None and value.strip().isdigit() else None


def forwarding(scope: Scope, first: dict[bytes, bytes]) -> Headers:
    """This hop's ``X-Forwarded-*`` headers and its element appended to ``Forwarded``."""
    client = scope.get("client")
    address = client[0] if client else None
    proto = b"https" if scope.get("scheme") in ("https", "wss") else b"http"
    host = first.get(b"host")
    element = _forwarded_element(address, host, proto)
    return [*_x_forwarded(first, address, proto, host),
            (b"forwarded", _append(first.get(b"forwarded"), element))]


def _x_forwarded(first: dict[bytes, bytes], address: str | None, proto: bytes,
                 host: bytes | None) -> Headers:
    """This hop appended to X-Forwarded-For; X-Forwarded-Proto/-Host if absent.

    The first proxy in a chain knows the original scheme and host best, so a value already
    there is kept; the ``for`` list grows by one entry per hop.
    """
    out: Headers = []
    chain = first.get(b"x-forwarded-for")
    if address:
        out.append((b"x-forwarded-for", _append(chain, address.encode("latin-1"))))
    elif chain:
        out.append((b"x-forwarded-for", chain))
    if b"x-forwarded-proto" not in first:
        out.append((b"x-forwarded-proto", proto))
    if host is not None and b"x-forwarded-host" not in first:
        out.append((b"x-forwarded-host", host))
    return out


def _append(chain: bytes | None, entry: bytes) -> bytes:
    """A comma-separated list (or nothing yet) with one more entry."""
    return chain + b", " + entry if chain else entry


def _forwarded_element(address: str | None, host: bytes | None, proto: bytes) -> bytes:
    """One RFC 7239 element: ``for=...;host=...;proto=...``."""
    node = "unknown" if address is None else f"[{address}]" if ":" in address else address
    parts = [f"for={_quoted(node)}"]
    if host is not None:
        parts.append(f"host={_quoted(host.decode('latin-1'))}")
    parts.append(f"proto={proto.decode()}")
    return ";".join(parts).encode("latin-1")


def _quoted(value: str) -> str:
    """A token as is, anything else as an RFC 7230 quoted-string (IPv6 brackets, ports)."""
    if _TOKEN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
