"""How a failure reaches the client: a 400/502/504 that names the cause, or an error."""

from __future__ import annotations

from asgi_inspect.proxy.upstream import Upstream

ERROR_HEADER = b"x-asgi-inspect-error"
PLAIN_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_TITLES = {400: "Bad Request", 502: "Bad Gateway", 504: "Gateway Timeout"}


class UpstreamError(Exception):
    """The upstream failed after the response had started; the client's connection is aborted."""


class BadRequest(Exception):
    """The client's request cannot be forwarded as it is (a Host that is not host[:port])."""


def failure(upstream: Upstream, exc: BaseException) -> tuple[int, bytes, tuple[bytes, bytes]]:
    """The status, plain-text body and error header that say why the request got no answer."""
    status = 400 if isinstance(exc, BadRequest) else 504 if isinstance(exc, TimeoutError) else 502
    cause = describe(exc)
    text = f"{status} {_TITLES[status]}: asgi-inspect proxy, upstream {upstream}: {cause}\n"
    return status, text.encode(), error_header(cause)


def error_header(cause: str) -> tuple[bytes, bytes]:
    """The ``x-asgi-inspect-error`` header: the cause on one line, so the recording shows it."""
    one_line = cause.replace("\r", " ").replace("\n", " ")[:500]
    return ERROR_HEADER, one_line.encode("latin-1", "replace")


def describe(exc: BaseException) -> str:
    """``Type: message``; when the message is empty, the first cause in the chain that has one."""
    name = type(exc).__name__
    link: BaseException | None = exc
    while link is not None:
        text = str(link)
        if text:
            return f"{name}: {text}" if link is exc else f"{name}: {type(link).__name__}: {text}"
        link = link.__cause__ or link.__context__
    return name
