"""The reverse proxy: an ASGI app that forwards HTTP and WebSocket traffic to one upstream.

Wrapped in the recorder and served by uvicorn, it lets the whole pipeline (TUI, exports, replay)
inspect any HTTP server, Python or not. It is a plain ASGI app, so what the recorder sees is
exactly what the proxy received from the client and sent back to it.

Forwarding is transparent where HTTP allows: bodies stream both ways chunk by chunk and are
never decoded (Content-Encoding passes through), header order and duplicates are kept, the
request target goes upstream byte for byte. Only hop-by-hop headers (RFC 9110 §7.6.1) are
dropped, and ``X-Forwarded-*``/``Forwarded`` are added unless turned off.

HTTP goes upstream over a small HTTP/1.1 client of its own (asyncio transports, keep-alive pool,
responses parsed by httptools, flow control both ways) rather than httpx: measured through this
proxy, httpx's per-request cost (about 400 µs of CPU, most of it in httpcore's pool and anyio)
made the proxy slower than mitmproxy; this client costs a fraction of that. WebSockets go
through the ``websockets`` library's asyncio client.

When the upstream fails before the response started, the client gets a 502 (504 on a timeout)
whose plain-text body and ``x-asgi-inspect-error`` header name the cause, so the recording shows
it. When it fails later, the proxy raises :class:`UpstreamError`: the server closes the
connection and the recorder keeps the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import EXTERNAL_CLOSE_CODES

from asgi_inspect.recorder import ASGIApp, Message, Receive, Scope, Send

ENV_UPSTREAM = "ASGI_INSPECT_UPSTREAM"
ENV_REWRITE_HOST = "ASGI_INSPECT_REWRITE_HOST"
ENV_FORWARDED = "ASGI_INSPECT_FORWARDED"
ENV_TIMEOUT = "ASGI_INSPECT_TIMEOUT"

DEFAULT_TIMEOUT = 60.0  # like nginx's proxy_read_timeout: an idle upstream read gives up here
ERROR_HEADER = b"x-asgi-inspect-error"

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1: meaningful for one connection only. Proxy-Authorization/-Authenticate are
# addressed to a proxy, and this one does not authenticate: they stop here too.
_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"transfer-encoding", b"upgrade",
    b"proxy-authenticate", b"proxy-authorization", b"trailer",
})
# The WebSocket client library writes these itself for its own handshake with the upstream.
_WS_HANDSHAKE = frozenset({
    b"host", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
    b"sec-websocket-protocol", b"sec-websocket-accept",
})
_FORWARD_CHAINS = frozenset({b"x-forwarded-for", b"forwarded"})  # re-added with this hop
_BODYLESS_STATUSES = frozenset({204, 304})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
_MAX_CLOSE_REASON = 123  # bytes a WebSocket close frame can carry
_BAD_GATEWAY_CLOSE = 1014  # RFC 6455 registry: "Bad Gateway"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_MAX_IDLE = 100  # keep-alive connections kept open to the upstream
_READ_HIGH = 256 * 1024  # response bytes buffered before the upstream socket is paused
_READ_LOW = 64 * 1024


class UpstreamError(Exception):
    """The upstream failed after the response had started; the client's connection is aborted."""


class InvalidResponse(Exception):
    """The upstream's answer is not valid HTTP/1.1."""


class _ClientGone(Exception):
    """The client disconnected while its request body was being sent upstream."""


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


def make_proxy(upstream: str, *, rewrite_host: bool = False, forwarded: bool = True,
               timeout: float | None = DEFAULT_TIMEOUT) -> ASGIApp:
    """An ASGI app that forwards every request and WebSocket to ``upstream``.

    ``rewrite_host`` sends the upstream's own host in ``Host`` instead of the client's;
    ``forwarded`` adds ``X-Forwarded-For/-Proto/-Host`` and ``Forwarded``; ``timeout`` bounds
    connecting and each wait for the upstream (None: no bound).
    """
    return Proxy(parse_upstream(upstream), rewrite_host=rewrite_host, forwarded=forwarded,
                 timeout=timeout)


def proxy_from_env() -> ASGIApp:
    """The proxy configured by ``ASGI_INSPECT_UPSTREAM`` and friends (a uvicorn ``--factory``)."""
    upstream = os.environ.get(ENV_UPSTREAM, "")
    if not upstream:
        raise ValueError(f"{ENV_UPSTREAM} is not set: name the upstream, e.g. http://127.0.0.1:3000")
    timeout = os.environ.get(ENV_TIMEOUT, "")
    return make_proxy(upstream, rewrite_host=_env_flag(ENV_REWRITE_HOST, False),
                      forwarded=_env_flag(ENV_FORWARDED, True),
                      timeout=_env_timeout(timeout) if timeout else DEFAULT_TIMEOUT)


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 or 0 (true/false, yes/no), got {value!r}")


def _env_timeout(value: str) -> float | None:
    if value.strip().lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"{ENV_TIMEOUT} must be a positive number of seconds or 'none', "
                         f"got {value!r}")
    return seconds


class Proxy:
    """The proxy app; build it with :func:`make_proxy`."""

    def __init__(self, upstream: Upstream, *, rewrite_host: bool, forwarded: bool,
                 timeout: float | None) -> None:
        self.upstream = upstream
        self.rewrite_host = rewrite_host
        self.forwarded = forwarded
        self.timeout = timeout
        self.pool = _Pool(upstream, timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await _HttpCall(self, scope, receive, send).run()
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # the request as it goes upstream -------------------------------------------------------

    def target(self, scope: Scope) -> bytes:
        """The request target exactly as the client sent it, under the upstream's path."""
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string") or b""
        return self.upstream.prefix + path + (b"?" + query if query else b"")

    def request_headers(self, scope: Scope,
                        drop: frozenset[bytes] = frozenset()) -> tuple[Headers, dict[bytes, bytes]]:
        """The client's headers minus hop-by-hop ones, with Host and forwarding applied.

        Also returns the first value the client sent for each (lowercased) header name.
        """
        lowered = [(name.lower(), name, value) for name, value in scope["headers"]]
        first = {lower: value for lower, _, value in reversed(lowered)}
        skip = _HOP_BY_HOP.union(_connection_tokens(lowered), drop,
                                 _FORWARD_CHAINS if self.forwarded else ())
        host = self.upstream.authority if self.rewrite_host else None
        kept = [(name, host if host is not None and lower == b"host" else value)
                for lower, name, value in lowered if lower not in skip]
        if self.forwarded:
            kept += _forwarding(scope, first)
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

    # WebSocket -----------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            upstream = await self._ws_open(scope)
        except InvalidStatus as exc:
            response = exc.response
            await _deny(scope, send, response.status_code,
                        _response_headers(_latin1_pairs(response.headers.raw_items())),
                        response.body or b"")
            return
        except (OSError, InvalidHandshake, ValueError) as exc:
            status, text, header = _failure(self.upstream, exc)
            await _deny(scope, send, status, [header, _PLAIN], text)
            return
        async with upstream:
            headers = _response_headers(_latin1_pairs(upstream.response.headers.raw_items()))
            await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol,
                        "headers": [(n, v) for n, v in headers if n not in _WS_HANDSHAKE]})
            await _WsRelay(upstream, receive, send).run()

    async def _ws_open(self, scope: Scope) -> ClientConnection:
        """Open the upstream WebSocket, offering the client's subprotocols and headers.

        The URI carries the client's Host (unless rewritten) so that the handshake sends it;
        the TCP connection goes to the upstream all the same.
        """
        upstream = self.upstream
        secure = upstream.scheme == "https"
        headers, first = self.request_headers(scope, _WS_HANDSHAKE)
        client_host = first.get(b"host")
        authority = upstream.authority if self.rewrite_host or not client_host else client_host
        uri = (f"{'wss' if secure else 'ws'}://{authority.decode('latin-1')}"
               f"{self.target(scope).decode('latin-1')}")
        tls = {"server_hostname": upstream.host} if secure else {}
        return await _NoRedirects(
            uri, host=upstream.host, port=upstream.port, **tls, proxy=None,
            additional_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
            subprotocols=scope.get("subprotocols") or None, user_agent_header=None,
            compression=None, open_timeout=self.timeout, ping_interval=None, max_size=None,
        )


class _NoRedirects(ws_connect):
    """A WebSocket handshake that hands a redirect back to the client instead of following it."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


# ------------------------------------------------------------------------------------------
# HTTP: one request through the proxy


class _HttpCall:
    """One HTTP request through the proxy: upload, response relay and the client watch."""

    __slots__ = ("finished", "left", "proxy", "receive", "scope", "send", "uploaded")

    def __init__(self, proxy: Proxy, scope: Scope, receive: Receive, send: Send) -> None:
        self.proxy = proxy
        self.scope = scope
        self.receive = receive
        self.send = send
        self.uploaded = asyncio.Event()  # the request body has been read from the client
        self.finished = False  # the final body message is being sent, or forwarding ended
        self.left = False  # the client disconnected before that

    async def run(self) -> None:
        """Forward in this task while a watch on the client cancels it if the client leaves."""
        task = asyncio.current_task()
        assert task is not None
        watch = asyncio.ensure_future(self.client_gone(task))
        try:
            await self.forward()
        except asyncio.CancelledError:
            if not self.left:
                raise
            task.uncancel()  # our own cancellation: the exchange simply ends
        finally:
            self.finished = True
            await _end_watch(watch)

    async def client_gone(self, task: asyncio.Task[Any]) -> None:
        """Cancel the forwarding when the client disconnects (after its body was read)."""
        await self.uploaded.wait()
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.left = True
            task.cancel()  # closes the upstream response on its way out

    async def forward(self) -> None:
        pool = self.proxy.pool
        head, chunked = self.proxy.request_head(self.scope)
        try:
            conn = await pool.connection()
        except (OSError, InvalidResponse) as exc:
            await self.fail(exc)
            return
        try:
            try:
                conn.request(head, head_only=self.scope["method"] == "HEAD")
                if chunked is None:
                    conn.sent_all = True
                    self.uploaded.set()
                else:
                    await self.upload(conn, chunked)
                status, headers = await conn.response_head(pool.timeout)
            except _ClientGone:
                return
            except (OSError, InvalidResponse) as exc:
                await self.fail(exc)
                return
            await self.send({"type": "http.response.start", "status": status,
                             "headers": _response_headers(headers)})
            await self.relay(conn, _content_length(headers))
        finally:
            pool.put_back(conn)

    async def upload(self, conn: _Connection, chunked: bool) -> None:
        """Send the request body upstream as it arrives from the client."""
        while not conn.answered:  # an early answer (413, say) ends the upload
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            body = message.get("body", b"")
            if body:
                conn.write(b"%x\r\n%s\r\n" % (len(body), body) if chunked else body)
                await conn.drain(self.proxy.pool.timeout)
            if not message.get("more_body", False):
                if chunked:
                    conn.write(b"0\r\n\r\n")
                conn.sent_all = True
                break
        self.uploaded.set()

    async def relay(self, conn: _Connection, length: int | None) -> None:
        """Pass the body on chunk by chunk; the last chunk of a sized body ends the response."""
        send = self.send
        timeout = self.proxy.pool.timeout
        sent = 0
        try:
            while (chunk := await conn.response_chunk(timeout)) is not None:
                sent += len(chunk)
                more = length is None or sent < length
                self.finished = not more
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        except (OSError, InvalidResponse) as exc:
            raise UpstreamError(f"upstream {self.proxy.upstream} failed after {sent} body "
                                f"bytes: {_describe(exc)}") from exc
        if not self.finished:
            self.finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def fail(self, exc: BaseException) -> None:
        status, text, header = _failure(self.proxy.upstream, exc)
        self.finished = True
        await self.send({"type": "http.response.start", "status": status, "headers": [
            _PLAIN, (b"content-length", str(len(text)).encode()), header]})
        await self.send({"type": "http.response.body", "body": text})


async def _end_watch(watch: asyncio.Task[None]) -> None:
    """Let the client watch end before the app returns, so no receive() outlives the exchange.

    uvicorn answers a pending ``receive()`` with ``http.disconnect`` once the response is
    complete: one turn of the loop lets the watch take it and end by itself. Elsewhere the watch
    is cancelled.
    """
    if not watch.done():
        try:
            await asyncio.sleep(0)
        finally:
            if not watch.done():
                watch.cancel()
                await asyncio.wait((watch,))


# ------------------------------------------------------------------------------------------
# HTTP: the upstream client


class _Pool:
    """Keep-alive connections to the upstream: opened on demand, reused last in, first out."""

    def __init__(self, upstream: Upstream, timeout: float | None) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.idle: list[_Connection] = []
        self._tls = ssl.create_default_context() if upstream.scheme == "https" else None

    async def connection(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if conn.open:  # the upstream may have closed it while it was idle
                return conn
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, conn = await loop.create_connection(
                    _Connection, self.upstream.host, self.upstream.port, ssl=self._tls)
        except TimeoutError:
            raise TimeoutError(f"could not connect within {self.timeout:g} s") from None
        return conn

    def put_back(self, conn: _Connection) -> None:
        """Keep the connection for the next request if its exchange ended cleanly."""
        if conn.reusable and len(self.idle) < _MAX_IDLE:
            self.idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection to the upstream, one exchange at a time.

    Responses are parsed by httptools as bytes arrive; body chunks queue up to ``_READ_HIGH``
    bytes, past which reading pauses until the relay catches up (flow control downstream).
    Writes wait in :meth:`drain` while the socket's buffer is full (flow control upstream).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.sent_all = False  # the whole request went out
        self.answered = False  # the response head is in
        self.complete = False  # the whole response is in
        self._parser: httptools.HttpResponseParser | None = None
        self._head_only = False
        self._interim = False
        self._until_eof = False
        self._keep_alive = False
        self._status = 0
        self._headers: Headers = []
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._reading = True
        self._writable = True
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # what the proxy calls ----------------------------------------------------------------

    def request(self, head: bytes, *, head_only: bool) -> None:
        """Start an exchange: send the request head (the body follows through ``write``)."""
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self.sent_all = self.answered = self.complete = self._until_eof = self._interim = False
        self._headers = []
        self.write(head)

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise self._error or ConnectionError("the upstream closed the connection")
        self.transport.write(data)

    async def drain(self, timeout: float | None) -> None:
        """Wait while the socket's buffer is full (unless the upstream has answered already)."""
        while not self._writable and not self.closed and not self.answered:
            await self._wait(timeout, "took no request data")

    async def response_head(self, timeout: float | None) -> tuple[int, Headers]:
        while not self.answered:
            if self._error is not None:
                raise self._error
            await self._wait(timeout, "sent no response")
        return self._status, self._headers

    async def response_chunk(self, timeout: float | None) -> bytes | None:
        """The next piece of the response body; None at its end."""
        while not self._chunks:
            if self.complete:
                return None
            if self._error is not None:
                raise self._error
            await self._wait(timeout, "sent nothing")
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if not self._reading and self._buffered <= _READ_LOW and self.transport is not None:
            self._reading = True
            self.transport.resume_reading()
        return chunk

    @property
    def open(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    @property
    def reusable(self) -> bool:
        return (self.complete and self.sent_all and self._keep_alive and not self._until_eof
                and self.open and not self._chunks)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def _wait(self, timeout: float | None, what: str) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            raise TimeoutError(f"the upstream {what} for {timeout:g} s") from None
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None or self.complete:
            self._fail(InvalidResponse("the upstream sent data nobody asked for"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(InvalidResponse("the upstream switched protocols unasked"))
        except httptools.HttpParserError as exc:
            self._fail(InvalidResponse(f"invalid response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete and self._error is None:
            if self.answered and self._until_eof:
                self.complete = True  # a body delimited by the end of the connection
            else:
                where = "in the middle of the body" if self.answered else "before answering"
                self._error = exc or ConnectionError(f"the upstream closed the connection {where}")
        self._writable = True
        self._wake()

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self.close()
        self._wake()

    # httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # interim (100 Continue, 103): not relayed
            self._interim = True
            self._headers = []
            return
        self._status = status
        self._keep_alive = self._parser.should_keep_alive()
        self.answered = True
        if self._head_only or status in _BODYLESS_STATUSES:
            self.complete = True
        else:
            framed = (b"content-length", b"transfer-encoding")
            self._until_eof = not any(n.lower() in framed for n, _ in self._headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._reading and self._buffered > _READ_HIGH and self.transport is not None:
            self._reading = False
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()


# ------------------------------------------------------------------------------------------
# WebSocket: the relay


class _WsRelay:
    """Pumps frames both ways between the client and the upstream, and relays the close."""

    __slots__ = ("client_gone", "receive", "send", "upstream")

    def __init__(self, upstream: ClientConnection, receive: Receive, send: Send) -> None:
        self.upstream = upstream
        self.receive = receive
        self.send = send
        self.client_gone = False

    async def run(self) -> None:
        down = asyncio.ensure_future(self.downstream())
        try:
            await self.upstream_pump()
            await down
        finally:
            down.cancel()

    async def upstream_pump(self) -> None:
        """Client to upstream, until the client's side is closed."""
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "websocket.receive":
                data = message.get("bytes")
                with contextlib.suppress(ConnectionClosed):  # downstream relays the close
                    await self.upstream.send(data if data is not None else message.get("text", ""))
            elif kind == "websocket.disconnect":
                self.client_gone = True
                await _close_upstream(self.upstream, message)
                return

    async def downstream(self) -> None:
        """Upstream to client, then the upstream's close code and reason."""
        send = self.send
        closed: ConnectionClosed | None = None
        try:
            async for data in self.upstream:
                key = "text" if isinstance(data, str) else "bytes"
                await send({"type": "websocket.send", key: data})
        except ConnectionClosed as exc:
            closed = exc  # an abnormal close; the frame received (or its absence) tells how
        except OSError:
            return  # the client is gone; upstream_pump sees its disconnect
        if not self.client_gone:
            with contextlib.suppress(OSError):
                await send({"type": "websocket.close", **_client_close(self.upstream, closed)})


async def _close_upstream(upstream: ClientConnection, message: Message) -> None:
    """Close the upstream the way the client closed: its code and reason when they can travel."""
    code = message.get("code", 1000)
    reason = message.get("reason") or ""
    if code == 1005:  # the client sent a close frame without a code: so do we
        await upstream.close(None, "")  # type: ignore[arg-type]
    elif code in EXTERNAL_CLOSE_CODES or 3000 <= code < 5000:
        await upstream.close(code, _close_reason(reason))
    else:  # 1006 and the like: the client vanished without a close frame
        await upstream.close(1001, "client connection lost")


def _client_close(upstream: ClientConnection, closed: ConnectionClosed | None) -> dict[str, Any]:
    """The close message for the client that mirrors how the upstream closed."""
    received = upstream.protocol.close_rcvd
    if received is None:
        cause = closed or "no close frame"
        return {"code": _BAD_GATEWAY_CLOSE,
                "reason": _close_reason(f"upstream connection lost: {cause}")}
    if received.code == 1005:
        return {"code": 1000, "reason": ""}
    return {"code": received.code, "reason": received.reason}


def _close_reason(text: str) -> str:
    return text.encode()[:_MAX_CLOSE_REASON].decode("utf-8", "ignore")


async def _deny(scope: Scope, send: Send, status: int, headers: Headers, body: bytes) -> None:
    """Refuse the client's WebSocket: with the upstream's HTTP response where the server can."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        reason = body.decode("utf-8", "replace") or f"upstream answered {status}"
        await send({"type": "websocket.close", "code": 1008, "reason": _close_reason(reason)})


# ------------------------------------------------------------------------------------------
# helpers


def _failure(upstream: Upstream, exc: BaseException) -> tuple[int, bytes, tuple[bytes, bytes]]:
    """The status, plain-text body and error header that say why the upstream did not answer."""
    status = 504 if isinstance(exc, TimeoutError) else 502
    cause = _describe(exc)
    title = "Gateway Timeout" if status == 504 else "Bad Gateway"
    text = f"{status} {title}: asgi-inspect proxy, upstream {upstream}: {cause}\n"
    header = cause.replace("\r", " ").replace("\n", " ")[:500].encode("latin-1", "replace")
    return status, text.encode(), (ERROR_HEADER, header)


def _describe(exc: BaseException) -> str:
    """``Type: message``; when the message is empty, the first cause in the chain that has one."""
    name = type(exc).__name__
    link: BaseException | None = exc
    while link is not None:
        text = str(link)
        if text:
            return f"{name}: {text}" if link is exc else f"{name}: {type(link).__name__}: {text}"
        link = link.__cause__ or link.__context__
    return name


def _connection_tokens(lowered: Iterable[tuple[bytes, ...]]) -> list[bytes]:
    """The header names a message's Connection headers list: hop-by-hop for that message."""
    return [token.strip().lower() for item in lowered if item[0] == b"connection"
            for token in item[-1].split(b",")]


def _response_headers(raw: Sequence[tuple[bytes, bytes]]) -> Headers:
    """The upstream's response headers for the client: lowercased, hop-by-hop ones removed."""
    lowered = [(name.lower(), value) for name, value in raw]
    skip = _HOP_BY_HOP.union(_connection_tokens(lowered))
    return [(name, value) for name, value in lowered if name not in skip]


def _latin1_pairs(items: Iterable[tuple[str, str]]) -> Headers:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in items]


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    value = next((v for n, v in headers if n.lower() == b"content-length"), None)
    return int(value) if value is not None and value.strip().isdigit() else None


def _forwarding(scope: Scope, first: dict[bytes, bytes]) -> Headers:
    """This hop appended to X-Forwarded-For and Forwarded; X-Forwarded-Proto/-Host if absent.

    The first proxy in a chain knows the original scheme and host best, so a value already
    there is kept; the ``for`` lists grow by one entry per hop.
    """
    client = scope.get("client")
    address = client[0] if client else None
    proto = b"https" if scope.get("scheme") in ("https", "wss") else b"http"
    host = first.get(b"host")
    out: Headers = []
    chain = first.get(b"x-forwarded-for")
    if address:
        ip = address.encode("latin-1")
        out.append((b"x-forwarded-for", chain + b", " + ip if chain else ip))
    elif chain:
        out.append((b"x-forwarded-for", chain))
    if b"x-forwarded-proto" not in first:
        out.append((b"x-forwarded-proto", proto))
    if host is not None and b"x-forwarded-host" not in first:
        out.append((b"x-forwarded-host", host))
    element = _forwarded_element(address, host, proto)
    earlier = first.get(b"forwarded")
    out.append((b"forwarded", earlier + b", " + element if earlier else element))
    return out


def _forwarded_element(address: str | None, host: bytes | None, proto: bytes) -> bytes:
    """One RFC 7239 element: ``for=...;host=...;proto=...``."""
    node = "unknown" if address is None else f"[{address}]" if ":" in address else address
    parts = [f"for={_quoted(node)}"]
    if host is not None:
        parts.append(f"host={_quoted(host.decode('latin-1'))}")
    parts.append(f"proto={proto.decode()}")
    return ";".join(parts).encode("latin-1")


def _quoted(value: str) -> str:
    if _TOKEN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
