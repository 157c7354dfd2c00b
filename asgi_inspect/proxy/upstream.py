"""The upstream the proxy forwards to, parsed once from the URL the user gave."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class Upstream:
    """Where the proxy forwards to."""

    scheme: str  # http or https
    host: str
    port: int
    authority: bytes  # host[:port] as given: the Host header when it is rewritten
    prefix: bytes  # a path every request target is put under ("" for none)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority.decode()}{self.prefix.decode()}"


def parse_upstream(url: str) -> Upstream:
    """The upstream named by ``url``; ``ValueError`` with a one-line message when not usable."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in upstream URL {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream must be an http:// or https:// URL with a host, got {url!r}")
    if parts.query or parts.fragment or parts.username:
        raise ValueError(f"upstream URL must not have credentials, a query or a fragment, "
                         f"got {url!r}")
    default = 443 if parts.scheme == "https" else 80
    authority = parts.netloc.encode("idna" if not parts.netloc.isascii() else "ascii")
    prefix = quote(parts.path.rstrip("/"), safe="/%:@!$&'()*+,;=-._~").encode("ascii")
    return Upstream(parts.scheme, parts.hostname, port or default, authority, prefix)
