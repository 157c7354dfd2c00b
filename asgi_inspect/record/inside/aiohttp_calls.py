"""aiohttp's client calls.

Hook: aiohttp's own tracing API, a ``TraceConfig`` (``on_request_start``,
``on_request_headers_sent``, ``on_request_chunk_sent``, ``on_request_end`` for the response's
head, ``on_response_chunk_received`` for its body, ``on_request_exception``). A session takes
its trace configs when it is made, so ``ClientSession.__init__`` is wrapped to append one to
every session. aiohttp reports the body only when the app reads it whole (``read()``,
``text()``, ``json()``), decompressed as the app gets it (the call's headers then leave out
the ``Content-Encoding`` aiohttp undid, so no view decodes it twice); of a body the app
streams through ``response.content`` aiohttp says nothing (the call keeps its head only), and
the call ends when the response is released or closed (``ClientResponse.release``/``close``
are wrapped for that).

Under ``--mock-outbound`` ``TCPConnector._create_connection`` hands aiohttp a connection that
never touches the network: the recorded response, as HTTP/1.1 bytes (``Connection: close``),
parsed by aiohttp's own protocol, so the session, its traces and the app see a response as
any other.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from types import ModuleType, SimpleNamespace
from typing import Any

import aiohttp

from asgi_inspect.model import OutboundCall
from asgi_inspect.record.inside import current
from asgi_inspect.record.inside.calls import (
    ANSWERS,
    Answers,
    Call,
    header_pairs,
    recorded_response,
    start,
    wrap,
)

_CALL = "_asgi_inspect_call"  # the call a response belongs to, on the response


def install(module: ModuleType) -> None:
    wrap(module.ClientSession, "__init__", _init)
    wrap(module.ClientResponse, "release", _ender)
    wrap(module.ClientResponse, "close", _ender)
    wrap(module.TCPConnector, "_create_connection", _connector)


def _init(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["trace_configs"] = [*(kwargs.get("trace_configs") or ()), _trace_config()]
        original(self, *args, **kwargs)

    return __init__


def _trace_config() -> aiohttp.TraceConfig:
    """Our trace config, one per session (a session freezes the configs it is given)."""
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_contained(_request_start))
    config.on_request_headers_sent.append(_contained(_headers_sent))
    config.on_request_chunk_sent.append(_contained(_chunk_sent))
    config.on_request_end.append(_contained(_request_end))
    config.on_response_chunk_received.append(_contained(_chunk_received))
    config.on_request_exception.append(_contained(_request_exception))
    return config


Callback = Callable[[Any, SimpleNamespace, Any], Awaitable[None]]


def _contained(callback: Callback) -> Callback:
    """A trace callback that never raises into aiohttp's request: a failure of ours is the
    recorder's error."""
    async def run(session: Any, context: SimpleNamespace, params: Any) -> None:
        try:
            await callback(session, context, params)
        except Exception as exc:
            call = _call(context)
            tag = call.tag if call is not None else current()
            if tag is not None:
                tag.batch.error(exc)

    return run


def _call(context: SimpleNamespace) -> Call | None:
    return getattr(context, _CALL, None)


async def _request_start(session: Any, context: SimpleNamespace,
                         params: aiohttp.TraceRequestStartParams) -> None:
    tag = current()
    if tag is None:
        return
    setattr(context, _CALL, start(tag, "aiohttp", params.method, str(params.url),
                                  params.headers.items(), None,
                                  mocked=ANSWERS.get() is not None))


async def _headers_sent(session: Any, context: SimpleNamespace,
                        params: aiohttp.TraceRequestHeadersSentParams) -> None:
    call = _call(context)
    if call is not None:  # the headers as sent: with Host, Content-Length, ...
        call.item.request_headers = header_pairs(params.headers.items())


async def _chunk_sent(session: Any, context: SimpleNamespace,
                      params: aiohttp.TraceRequestChunkSentParams) -> None:
    call = _call(context)
    if call is not None:
        call.sent(params.chunk)


async def _request_end(session: Any, context: SimpleNamespace,
                       params: aiohttp.TraceRequestEndParams) -> None:
    call = _call(context)
    if call is None:
        return
    response = params.response
    version = response.version
    call.respond(response.status, f"HTTP/{version.major}.{version.minor}" if version else "",
                 response.raw_headers)
    setattr(response, _CALL, call)


async def _chunk_received(session: Any, context: SimpleNamespace,
                          params: aiohttp.TraceResponseChunkReceivedParams) -> None:
    call = _call(context)
    if call is not None:  # read() reports the whole body at once
        if getattr(session, "auto_decompress", False):
            _decoded(call)
        call.received(params.chunk)
        call.finish()


def _decoded(call: Call) -> None:
    """The body aiohttp hands over is decoded already: its coding is not the body's now."""
    headers = call.item.response_headers
    if isinstance(headers, list):
        call.item.response_headers = [pair for pair in headers
                                      if pair[0].lower() != b"content-encoding"]


async def _request_exception(session: Any, context: SimpleNamespace,
                             params: aiohttp.TraceRequestExceptionParams) -> None:
    call = _call(context)
    if call is not None:
        call.finish(params.exception)


def _ender(original: Callable[..., Any]) -> Callable[..., Any]:
    """``release``/``close``: the response's call ends (its body streamed, or never read)."""
    def end(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = self.__dict__.get(_CALL)
        if call is not None:
            call.finish()
        return original(self, *args, **kwargs)

    return end


def _connector(original: Callable[..., Any]) -> Callable[..., Any]:
    async def _create_connection(self: Any, req: Any, traces: Any, timeout: Any) -> Any:
        answers = ANSWERS.get()
        if answers is None:
            return await original(self, req, traces, timeout)
        return _answer(self, answers, req)

    return _create_connection


def _answer(connector: Any, answers: Answers, req: Any) -> Any:
    """A connection that answers with the recorded response (``--mock-outbound``), or
    aiohttp's own ``ClientConnectorError`` naming the call when there is none."""
    url = str(req.url)
    recorded = answers.take(req.method, url)
    if recorded is None or recorded.status is None:
        raise aiohttp.ClientConnectorError(
            req.connection_key,
            OSError(errno.ECONNREFUSED, Answers.refusal(req.method, url, recorded)))
    protocol = connector._factory()
    protocol.connection_made(_Recorded(protocol))
    protocol.data_received(_wire(recorded))
    return protocol


def _wire(recorded: OutboundCall) -> bytes:
    """A recorded response as an HTTP/1.1 server would send it, closing after."""
    headers, body = recorded_response(recorded)
    status = recorded.status or 0
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [name + b": " + value for name, value in headers
              if name.lower() != b"connection"]
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _Recorded(asyncio.Transport):
    """The transport of a mocked connection: what aiohttp writes goes nowhere."""

    def __init__(self, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._protocol = protocol
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0
