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
from types import ModuleType
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
        answers = ANSWERS.get()
        call = contained(tag, _start, tag, request, answers is not None)
        try:
            response = original(self, request) if answers is None else _answer(answers, request)
        except BaseException as exc:
            if call is not None:
                call.finish(exc)
            raise
        if call is not None:
            contained(tag, _follow, call, response, _SyncBody(response.stream, call))
        return response

    return handle_request


def _async(original: AsyncSend) -> AsyncSend:
    async def handle_async_request(self: Any, request: httpx.Request) -> httpx.Response:
        tag = current()
        if tag is None:
            return await original(self, request)
        answers = ANSWERS.get()
        call = contained(tag, _start, tag, request, answers is not None)
        try:
            response = await original(self, request) if answers is None \
                else _answer(answers, request)
        except BaseException as exc:
            if call is not None:
                call.finish(exc)
            raise
        if call is not None:
            contained(tag, _follow, call, response, _AsyncBody(response.stream, call))
        return response

    return handle_async_request


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
