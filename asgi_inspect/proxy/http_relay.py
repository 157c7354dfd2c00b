"""One HTTP request through the proxy: the body goes up, the response comes back, as it flows."""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_inspect.proxy.connection import OVERRAN, Connection, InvalidResponse
from asgi_inspect.proxy.failures import (
    PLAIN_TEXT,
    BadRequest,
    UpstreamError,
    describe,
    error_header,
    failure,
)
from asgi_inspect.proxy.headers import Headers, content_length, response_headers
from asgi_inspect.proxy.route import Route
from asgi_inspect.types import Receive, Scope, Send


class _ClientGone(Exception):
    """The client disconnected while its request body was being sent upstream."""


class HttpRelay:
    """One HTTP request through the proxy: upload, response relay and the client watch."""

    __slots__ = ("finished", "left", "receive", "route", "scope", "send", "uploaded")

    def __init__(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        self.route = route
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
        """Forward over a pooled connection, which goes back to the pool afterwards."""
        pool = self.route.pool
        try:
            head, chunked = self.route.request_head(self.scope)
            conn = await pool.connection()
        except (OSError, InvalidResponse, BadRequest) as exc:
            await self.fail(exc)
            return
        try:
            await self.exchange(conn, head, chunked)
        finally:
            pool.put_back(conn)

    async def exchange(self, conn: Connection, head: bytes, chunked: bool | None) -> None:
        """The request, then the response; until its head is in, a failure is a 502/504."""
        try:
            status, headers = await self.request(conn, head, chunked)
        except _ClientGone:
            return
        except (OSError, InvalidResponse) as exc:
            await self.fail(exc)
            return
        relayed = response_headers(headers)
        if conn.overran:  # known before the response starts: the recording can say so
            relayed.append(error_header(describe(InvalidResponse(OVERRAN))))
        await self.send({"type": "http.response.start", "status": status, "headers": relayed})
        await self.relay(conn, content_length(headers))

    async def request(self, conn: Connection, head: bytes,
                      chunked: bool | None) -> tuple[int, Headers]:
        """Send the request head and body; the upstream's response head."""
        conn.request(head, head_only=self.scope["method"] == "HEAD")
        if chunked is None:
            conn.sent_all = True
            self.uploaded.set()
        else:
            await self.upload(conn, chunked)
        return await conn.response_head(self.route.pool.timeout)

    async def upload(self, conn: Connection, chunked: bool) -> None:
        """Send the request body upstream as it arrives from the client."""
        while not conn.answered:  # an early answer (413, say) ends the upload
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            body = message.get("body", b"")
            if body:
                conn.write(b"%x\r\n%s\r\n" % (len(body), body) if chunked else body)
                await conn.drain(self.route.pool.timeout)
            if not message.get("more_body", False):
                if chunked:
                    conn.write(b"0\r\n\r\n")
                conn.sent_all = True
                break
        self.uploaded.set()

    async def relay(self, conn: Connection, length: int | None) -> None:
        """Pass the body on chunk by chunk; the last chunk of a sized body ends the response."""
        send = self.send
        timeout = self.route.pool.timeout
        sent = 0
        try:
            while (chunk := await conn.response_chunk(timeout)) is not None:
                sent += len(chunk)
                more = length is None or sent < length
                self.finished = not more
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        except (OSError, InvalidResponse) as exc:
            raise UpstreamError(f"upstream {self.route.upstream} failed after {sent} body "
                                f"bytes: {describe(exc)}") from exc
        if not self.finished:
            self.finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def fail(self, exc: BaseException) -> None:
        """Answer 400/502/504 with the cause, since no response has started yet."""
        status, text, header = failure(self.route.upstream, exc)
        self.finished = True
        await self.send({"type": "http.response.start", "status": status, "headers": [
            PLAIN_TEXT, (b"content-length", str(len(text)).encode()), header]})
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
