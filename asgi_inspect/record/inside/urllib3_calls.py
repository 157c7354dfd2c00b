"""urllib3's outbound calls, and so requests' (``library`` says "requests" when requests'
``HTTPAdapter`` made the call, "urllib3" otherwise).

Hook: urllib3's connection pool, where every request goes: ``HTTPConnectionPool.
_make_request``, the pool's one step that sends a request on a connection and reads the
response's head. ``urlopen`` calls it once per network request, so a retry or a redirect
urllib3 follows itself is one call each (requests follows redirects itself, each one its own
``urlopen``). The body is recorded as it is read, raw (before any ``Content-Encoding`` is
undone), by wrapping ``HTTPResponse._raw_read`` and ``_handle_chunk`` (chunked bodies), the
two places a response's bytes come from; a body read at once (``preload_content=True``)
is read before ``_make_request`` returns and is recorded all the same. The call ends when the
response is released or closed, as requests does once the body is consumed. Under
``--mock-outbound`` ``_make_request`` answers from the recording and never connects.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from contextvars import ContextVar
from types import ModuleType
from typing import Any

from urllib3._collections import HTTPHeaderDict
from urllib3.exceptions import NewConnectionError
from urllib3.response import HTTPResponse

from asgi_inspect.record.context import Tag
from asgi_inspect.record.inside import current
from asgi_inspect.record.inside.calls import (
    ANSWERS,
    Answers,
    Call,
    contained,
    recorded_response,
    start,
    wrap,
)

_CALL = "_asgi_inspect_call"  # the call a response's body belongs to, on the response
_READING = "_asgi_inspect_reading"  # set while a read runs: an end inside it waits for it
_MAKING: ContextVar[Call | None] = ContextVar("asgi_inspect_urllib3_call", default=None)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def install(module: ModuleType) -> None:
    if int(module.__version__.split(".")[0]) < 2:  # 1.x reads responses another way
        raise RuntimeError(f"urllib3 {module.__version__} is too old: 2.0 or later is needed")
    from urllib3 import connectionpool

    wrap(connectionpool.HTTPConnectionPool, "_make_request", _make_request)
    wrap(HTTPResponse, "_raw_read", _reader)
    wrap(HTTPResponse, "_handle_chunk", _reader)
    wrap(HTTPResponse, "release_conn", _ender)
    wrap(HTTPResponse, "close", _ender)


def _make_request(original: Callable[..., Any]) -> Callable[..., Any]:
    def make_request(self: Any, conn: Any, method: str, url: str, *args: Any,
                     **kwargs: Any) -> Any:
        tag = current()
        if tag is None:
            return original(self, conn, method, url, *args, **kwargs)
        answers = ANSWERS.get()
        call = contained(tag, _start, tag, self, method, url, kwargs, answers is not None)
        token = _MAKING.set(call)  # a preloaded body is read before the response is ours
        try:
            if answers is None:
                response = original(self, conn, method, url, *args, **kwargs)
            else:
                response = _answer(answers, self, conn, method, _full_url(self, url), kwargs)
        except BaseException as exc:
            if call is not None:
                call.finish(_reason(exc))
            raise
        finally:
            _MAKING.reset(token)
        if call is not None:
            contained(tag, _follow, call, response)
        return response

    return make_request


def _start(tag: Tag, pool: Any, method: str, target: str, kwargs: dict[str, Any],
           mocked: bool) -> Call:
    headers = kwargs.get("headers") or {}
    body = kwargs.get("body")
    return start(tag, "requests" if _from_requests() else "urllib3", method,
                 _full_url(pool, target),
                 headers.items(), body if isinstance(body, (bytes, str)) else None,
                 mocked=mocked)


def _from_requests() -> bool:
    """Whether requests' adapter is on the stack, a few frames up (urlopen, maybe retries)."""
    frame = sys._getframe(4)  # _start, contained, make_request, urlopen
    for _ in range(8):
        if frame is None:
            return False
        if frame.f_globals.get("__name__") == "requests.adapters":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _full_url(pool: Any, target: str) -> str:
    """The absolute URL of a request the pool sends (its target is a path, or absolute
    through a proxy)."""
    if not target.startswith("/"):
        return target
    host = f"[{pool.host}]" if ":" in pool.host else pool.host
    port = "" if pool.port in (None, _DEFAULT_PORTS.get(pool.scheme)) else f":{pool.port}"
    return f"{pool.scheme}://{host}{port}{target}"


def _follow(call: Call, response: Any) -> None:
    """The response's head is in: record it; its body is recorded as it is read."""
    original = getattr(response, "_original_response", None)
    headers = original.msg.items() if original is not None else response.headers.items()
    call.respond(response.status, getattr(response, "version_string", "HTTP/1.1"), headers)
    if call.body or response.closed or getattr(response, "_body", None) is not None or \
            response.length_remaining == 0:
        call.finish()  # read already (preload_content), or nothing to read
    else:
        setattr(response, _CALL, call)


def _reader(original: Callable[..., bytes]) -> Callable[..., bytes]:
    """``_raw_read``/``_handle_chunk``: the raw bytes they return go to the response's call.
    The call ends with the read that reaches the body's length, or one that released the
    connection on the way (the last read of a socket does, before it returns)."""
    def read(self: Any, *args: Any, **kwargs: Any) -> bytes:
        attached = self.__dict__.get(_CALL)  # else a body read at once, in _make_request
        call = attached or _MAKING.get()
        if call is None:
            return original(self, *args, **kwargs)
        self.__dict__[_READING] = False
        try:
            data = original(self, *args, **kwargs)
        except Exception as exc:
            call.finish(_reason(exc))
            raise
        finally:
            ended = self.__dict__.pop(_READING, False)
        if data:
            call.received(data)
        if attached is not None and (ended or self.length_remaining == 0):
            call.finish()
        return data

    return read


def _ender(original: Callable[..., Any]) -> Callable[..., Any]:
    """``release_conn``/``close``: the response's call ends (once a read under way is in)."""
    def end(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = self.__dict__.get(_CALL)
        if call is not None:
            if _READING in self.__dict__:
                self.__dict__[_READING] = True
            else:
                call.finish()
        return original(self, *args, **kwargs)

    return end


def _reason(exc: BaseException) -> BaseException:
    """What went wrong: the cause urllib3 wrapped (``MaxRetryError``'s reason)."""
    return getattr(exc, "reason", None) or exc


def _answer(answers: Answers, pool: Any, conn: Any, method: str, url: str,
            kwargs: dict[str, Any]) -> HTTPResponse:
    """The recorded response to this request (``--mock-outbound``), or urllib3's own
    ``NewConnectionError`` naming the call when there is none (requests raises it as a
    ``ConnectionError``)."""
    recorded = answers.take(method, url)
    if recorded is None or recorded.status is None:
        raise NewConnectionError(conn, Answers.refusal(method, url, recorded))
    headers, body = recorded_response(recorded)
    response = HTTPResponse(
        body=io.BytesIO(body), headers=HTTPHeaderDict(
            [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]),
        status=recorded.status, version=11, version_string=recorded.http_version or "HTTP/1.1",
        preload_content=kwargs.get("preload_content", True),
        decode_content=kwargs.get("decode_content", True), request_method=method,
        request_url=url)
    response.retries = kwargs.get("retries")
    response._pool = pool  # as _make_request sets them
    response._connection = kwargs.get("response_conn")
    return response
