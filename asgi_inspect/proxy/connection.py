"""One HTTP/1.1 connection to the upstream: the proxy's own client, lighter than httpx."""

from __future__ import annotations

import asyncio
from collections import deque

import httptools

from asgi_inspect.proxy.headers import Headers

_BODYLESS_STATUSES = frozenset({204, 304})
_READ_HIGH = 256 * 1024  # response bytes buffered before the upstream socket is paused
_READ_LOW = 64 * 1024


class InvalidResponse(Exception):
    """The upstream's answer is not valid HTTP/1.1."""


class _NotOurs(Exception):
    """Raised in a parser callback to stop it: the rest of the read is no part of the exchange."""


SWITCHED_UNASKED = "the upstream switched protocols (101) though the request asked for no upgrade"
OVERRAN = ("the upstream sent more bytes than its response (more than its Content-Length, or a "
           "second response): the proxy dropped them and closed the connection")


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection to the upstream, one exchange at a time.

    Responses are parsed by httptools as bytes arrive; body chunks queue up to ``_READ_HIGH``
    bytes, past which reading pauses until the relay catches up (flow control downstream).
    Writes wait in :meth:`drain` while the socket's buffer is full (flow control upstream).
    Bytes past the end of the response are dropped and close the connection (``overran``):
    they would otherwise pass for the body of this response or the answer to the next request.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.sent_all = False  # the whole request went out
        self.answered = False  # the response head is in
        self.complete = False  # the whole response is in
        self.overran = False  # the upstream sent bytes past its response
        self._parser: httptools.HttpResponseParser | None = None
        self._head_only = False
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
        self.sent_all = self.answered = self.complete = self._until_eof = False
        self._headers = []
        self.write(head)

    def write(self, data: bytes) -> None:
        """Send request bytes; the failure that closed the connection, if it is closed."""
        if self.closed or self.transport is None:
            raise self._error or ConnectionError("the upstream closed the connection")
        self.transport.write(data)

    async def drain(self, timeout: float | None) -> None:
        """Wait while the socket's buffer is full (unless the upstream has answered already)."""
        while not self._writable and not self.closed and not self.answered:
            await self._wait(timeout, "took no request data")

    async def response_head(self, timeout: float | None) -> tuple[int, Headers]:
        """The final status and headers (interim 1xx responses are skipped)."""
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
        """Whether the socket can still carry a request."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    @property
    def reusable(self) -> bool:
        """Whether the exchange ended cleanly and the upstream lets the connection live on."""
        return (self.complete and self.sent_all and self._keep_alive and not self._until_eof
                and self.open and not self._chunks)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def _wait(self, timeout: float | None, what: str) -> None:
        """Sleep until a protocol callback wakes us; a timeout names what the upstream failed."""
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
        """Feed the parser; bytes no request asked for, or bad HTTP, end the connection."""
        if self._parser is None or self.complete:
            self._drop_overrun()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.complete:  # whatever followed the response, valid HTTP or not
                self._drop_overrun()
            else:  # a callback's own error (the refused 101) stands before the parser's
                self._fail(self._error or InvalidResponse(f"invalid response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        """End a body delimited by the close, or record why the exchange cannot finish."""
        self.closed = True
        if self._parser is not None and not self.complete and self._error is None:
            if self.answered and self._until_eof:
                self.complete = True  # a body delimited by the end of the connection
            else:
                where = "in the middle of the body" if self.answered else "before answering"
                self._error = exc or ConnectionError(f"the upstream closed the connection {where}")
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

    def _drop_overrun(self) -> None:
        """Bytes after the response: not relayed, and the connection is not used again."""
        self.overran = True
        self.close()

    # httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A second message after the complete response: stop, the rest is dropped."""
        if self.complete:
            raise _NotOurs

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The final head is in: note how its body ends (interim 1xx heads are dropped).

        The proxy never asks the upstream for an upgrade (``Upgrade`` is hop-by-hop), so a
        101 ends the exchange as an invalid response rather than reaching the client.
        """
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status == 101:
            self._error = InvalidResponse(SWITCHED_UNASKED)
            raise _NotOurs
        if 100 <= status < 200:  # interim (100 Continue, 103): not relayed
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
        """Queue a body chunk; pause reading while the relay lags ``_READ_HIGH`` bytes behind.

        A body after a complete head-only response (a HEAD, a 204, a 304) is not part of it.
        """
        if self.complete:
            raise _NotOurs
        self._chunks.append(body)
        self._buffered += len(body)
        if self._reading and self._buffered > _READ_HIGH and self.transport is not None:
            self._reading = False
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.answered:  # not an interim response's end
            self.complete = True
            self._wake()
