"""httpx's outbound calls, sync and async.

Hook: httpx has no process-wide extension point (event hooks and transports belong to each
client), so the default transports' one entry point is wrapped: ``HTTPTransport.
handle_request`` and ``AsyncHTTPTransport.handle_async_request``, which every ``Client`` and
``AsyncClient`` without a transport of its own sends through (``MockTransport`` and
``ASGITransport`` are not network calls, and are left alone). The response's stream is
wrapped in turn, so its body is recorded as the app reads it, as it came off the wire; the
call ends when that stream is exhausted or closed. Under ``--mock-outbound`` the same entry
points answer from the recording (``calls.Answers``) and never reach the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType, TracebackType
from typing import Any

import httpx

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

Send = Callable[[Any, httpx.Request], httpx.Response]
AsyncSend = Callable[[Any, httpx.Request], Awaitable[httpx.Response]]


def install(module: ModuleType) -> None:
    wrap(module.HTTPTransport, "handle_request", _sync)
    wrap(module.AsyncHTTPTransport, "handle_async_request", _async)


def _sync(original: Send) -> Send:
    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        tag = current()
        if tag is None:
            return original(self, request)
        with _Sending(tag, request) as sending:
            response = original(self, request) if sending.answers is None \
                else _answer(sending.answers, request)
        return sending.answered(response, _SyncBody)

    return handle_request


def _async(original: AsyncSend) -> AsyncSend:
    async def handle_async_request(self: Any, request: httpx.Request) -> httpx.Response:
        tag = current()
        if tag is None:
            return await original(self, request)
        with _Sending(tag, request) as sending:
            response = await original(self, request) if sending.answers is None \
                else _answer(sending.answers, request)
        return sending.answered(response, _AsyncBody)

    return handle_async_request


class _Sending:
    """One request through a transport, the part the sync and async entry points share: the
    call starts on entry (answered from the recording under ``--mock-outbound``), ends with
    the error if sending fails (which goes on to the app), and follows the response's body."""

    __slots__ = ("answers", "call", "tag")

    def __init__(self, tag: Tag, request: httpx.Request) -> None:
        self.tag = tag
        self.answers = ANSWERS.get()
        self.call = contained(tag, _start, tag, request, self.answers is not None)

    def __enter__(self) -> _Sending:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is not None and self.call is not None:
            self.call.finish(error)

    def answered(self, response: httpx.Response,
                 body: type[_SyncBody] | type[_AsyncBody]) -> httpx.Response:
        if self.call is not None:
            contained(self.tag, _follow, self.call, response, body(response.stream, self.call))
        return response


def _start(tag: Tag, request: httpx.Request, mocked: bool) -> Call:
    try:
        body: bytes | None = request.content
    except httpx.RequestNotRead:  # a streamed upload: not kept (its headers may say the size)
        body = None
    return start(tag, "httpx", request.method, str(request.url), request.headers.raw, body,
                 mocked=mocked)


def _follow(call: Call, response: httpx.Response, body: httpx.SyncByteStream |
            httpx.AsyncByteStream) -> None:
    """The response's head is in: record it, and its body as the app reads it."""
    version = response.extensions.get("http_version", b"HTTP/1.1")
    call.respond(response.status_code, version.decode("ascii", "replace")
                 if isinstance(version, bytes) else str(version), response.headers.raw)
    response.stream = body


class _SyncBody(httpx.SyncByteStream):
    """The transport's response stream, recorded chunk by chunk as it is read."""

    def __init__(self, stream: Any, call: Call) -> None:
        self._stream = stream
        self._call = call

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._stream:
                self._call.received(chunk)
                yield chunk
        except Exception as exc:  # a read timeout, the peer gone: the app sees it too
            self._call.finish(exc)
            raise
        finally:
            self._call.finish()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._call.finish()

    def __del__(self) -> None:  # the app let go of a response it never closed
        self._call.finish(ended=False)


class _AsyncBody(httpx.AsyncByteStream):
    """The async transport's response stream, recorded chunk by chunk as it is read."""

    def __init__(self, stream: Any, call: Call) -> None:
        self._stream = stream
        self._call = call

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                self._call.received(chunk)
                yield chunk
        except Exception as exc:
            self._call.finish(exc)
            raise
        finally:
            self._call.finish()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._call.finish()

    def __del__(self) -> None:  # the app let go of a response it never closed
        self._call.finish(ended=False)


def _answer(answers: Answers, request: httpx.Request) -> httpx.Response:
    """The recorded response to this request (``--mock-outbound``), or httpx's own
    ``ConnectError`` naming the call when there is none."""
    url = str(request.url)
    recorded = answers.take(request.method, url)
    if recorded is None or recorded.status is None:
        raise httpx.ConnectError(Answers.refusal(request.method, url, recorded),
                                 request=request)
    headers, body = recorded_response(recorded)
    version = (recorded.http_version or "HTTP/1.1").encode()
    return httpx.Response(recorded.status, headers=headers, stream=httpx.ByteStream(body),
                          extensions={"http_version": version}, request=request)
