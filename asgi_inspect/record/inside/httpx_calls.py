"""httpx's outbound calls, sync and async; and httpx2's (pydantic's fork with the same API,
which the mcp SDK and others now use), through the same code given the other module.

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

Send = Callable[[Any, Any], Any]
AsyncSend = Callable[[Any, Any], Awaitable[Any]]


def install(module: ModuleType) -> None:
    """Wrap the default transports of ``module``: httpx, or httpx2."""
    library = _Library(module)
    wrap(module.HTTPTransport, "handle_request", library.sync)
    wrap(module.AsyncHTTPTransport, "handle_async_request", library.asynchronous)


class _Library:
    """httpx or httpx2: its name, its classes, and the wrappers made for it (a response's
    stream must be the library's own stream class)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.name = module.__name__
        self.sync_body = type("SyncBody", (_SyncBody, module.SyncByteStream), {})
        self.async_body = type("AsyncBody", (_AsyncBody, module.AsyncByteStream), {})

    def sync(self, original: Send) -> Send:
        def handle_request(transport: Any, request: Any) -> Any:
            tag = current()
            if tag is None:
                return original(transport, request)
            with _Sending(self, tag, request) as sending:
                response = original(transport, request) if sending.answers is None \
                    else self.answer(sending.answers, request)
            return sending.answered(response, self.sync_body)

        return handle_request

    def asynchronous(self, original: AsyncSend) -> AsyncSend:
        async def handle_async_request(transport: Any, request: Any) -> Any:
            tag = current()
            if tag is None:
                return await original(transport, request)
            with _Sending(self, tag, request) as sending:
                response = await original(transport, request) if sending.answers is None \
                    else self.answer(sending.answers, request)
            return sending.answered(response, self.async_body)

        return handle_async_request

    def start(self, tag: Tag, request: Any, mocked: bool) -> Call:
        try:
            body: bytes | None = request.content
        except self.module.RequestNotRead:  # a streamed upload: not kept (its headers may
            body = None  # say the size)
        return start(tag, self.name, request.method, str(request.url), request.headers.raw,
                     body, mocked=mocked)

    def answer(self, answers: Answers, request: Any) -> Any:
        """The recorded response to this request (``--mock-outbound``), or the library's
        own ``ConnectError`` naming the call when there is none."""
        module = self.module
        url = str(request.url)
        recorded = answers.take(request.method, url)
        if recorded is None or recorded.status is None:
            raise module.ConnectError(Answers.refusal(request.method, url, recorded),
                                      request=request)
        headers, body = recorded_response(recorded)
        version = (recorded.http_version or "HTTP/1.1").encode()
        return module.Response(recorded.status, headers=headers,
                               stream=module.ByteStream(body),
                               extensions={"http_version": version}, request=request)


class _Sending:
    """One request through a transport, the part the sync and async entry points share: the
    call starts on entry (answered from the recording under ``--mock-outbound``), ends with
    the error if sending fails (which goes on to the app), and follows the response's body."""

    __slots__ = ("answers", "call", "tag")

    def __init__(self, library: _Library, tag: Tag, request: Any) -> None:
        self.tag = tag
        self.answers = ANSWERS.get()
        self.call = contained(tag, library.start, tag, request, self.answers is not None)

    def __enter__(self) -> _Sending:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is not None and self.call is not None:
            self.call.finish(error)

    def answered(self, response: Any, body: type[_SyncBody] | type[_AsyncBody]) -> Any:
        if self.call is not None:
            contained(self.tag, _follow, self.call, response, body(response.stream, self.call))
        return response


def _follow(call: Call, response: Any, body: _SyncBody | _AsyncBody) -> None:
    """The response's head is in: record it, and its body as the app reads it."""
    version = response.extensions.get("http_version", b"HTTP/1.1")
    call.respond(response.status_code, version.decode("ascii", "replace")
                 if isinstance(version, bytes) else str(version), response.headers.raw)
    response.stream = body


class _SyncBody:
    """The transport's response stream, recorded chunk by chunk as it is read (mixed with
    the library's ``SyncByteStream``)."""

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


class _AsyncBody:
    """The async transport's response stream, recorded chunk by chunk as it is read (mixed
    with the library's ``AsyncByteStream``)."""

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
