"""How an upstream failure reaches the client: a 502/504 that names the cause, or an error."""

from __future__ import annotations

from asgi_inspect.proxy.upstream import Upstream

ERROR_HEADER = b"x-asgi-inspect-error"
PLAIN_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class UpstreamError(Exception):
    """The upstream failed after the response had started; the client's connection is aborted."""


def failure(upstream: Upstream, exc: BaseException) -> tuple[int, bytes, tuple[bytes, bytes]]:
    """The status, plain-text body and error header that say why the upstream did not answer."""
    status = 504 if isinstance(exc, TimeoutError) else 502
    cause = describe(exc)
    title = "Gateway Timeout" if status == 504 else "Bad Gateway"
    text = f"{status} {title}: asgi-inspect proxy, upstream {upstream}: {cause}\n"
    header = cause.replace("\r", " ").replace("\n", " ")[:500].encode("latin-1", "replace")
    return status, text.encode(), (ERROR_HEADER, header)


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
