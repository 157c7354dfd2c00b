"""The in-process driver: runs an ASGI app the way a server would, for replays.

It feeds the app a recorded ``receive()`` sequence (chunking and disconnect included; each
message is released once the app has sent as many messages as it had by then in the original)
and records what the app sends with the same recorder as live traffic. Streaming responses and
SSE work, since nothing waits for the app to return (``httpx.ASGITransport`` buffers the
response and hangs on SSE); WebSocket sessions replay their client frames in order. The app's
lifespan runs around the session, so ``scope["state"]`` is real. With ``mock_outbound`` the
app's outbound HTTP calls (httpx, requests/urllib3, aiohttp) are answered with the responses
its original exchange recorded, never the network, and recorded as ``mocked``
(``record/inside/calls.Answers`` says how calls are matched); one with no recording fails in
the library's own way and is named in a note of the replay (:func:`unanswered`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from asgi_inspect.inside import calls
from asgi_inspect.model import DEFAULT_MAX_BODY, Exchange
from asgi_inspect.record.inside.calls import ANSWERS, MOCK_PREFIX, Answers
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.record.sinks import MemorySink
from asgi_inspect.replay.request import ReplayError, ReplayRequest
from asgi_inspect.types import Message


class Driver:
    """Runs an ASGI app in-process like a server, for replays; records them as live traffic."""

    def __init__(self, app: Any, *, timeout: float = 30.0,
                 max_body: int = DEFAULT_MAX_BODY, mock_outbound: bool = False) -> None:
        self.sink = MemorySink(max_exchanges=None)
        self.inspector = Inspector(app, self.sink, max_body=max_body,
                                   capture_calls=mock_outbound)
        self.mock_outbound = mock_outbound
        self.timeout = timeout
        self._state: dict[str, Any] | None = None
        self._lifespan: _Lifespan | None = None

    async def __aenter__(self) -> Driver:
        self._lifespan = _Lifespan(self.inspector)
        self._state = await self._lifespan.startup(self.timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._lifespan is not None:
            await self._lifespan.shutdown(self.timeout)
        self.inspector.close()

    async def replay(self, request: ReplayRequest, original_id: str | None = None,
                     original: Exchange | None = None) -> Exchange:
        """Run one request through the app; the recorded exchange, linked to its original
        (whose outbound calls answer the app's with ``mock_outbound``)."""
        store = self.sink.collector.store
        known = set(store.exchanges)
        conversation = _Conversation(request.receives, request.type, request.stop_after)
        scope = request.build_scope(self._state)
        answers = Answers(calls(original) if original is not None else ()) \
            if self.mock_outbound else None
        token = ANSWERS.set(answers)  # the app's task takes a copy of this context
        try:
            task = asyncio.ensure_future(self.inspector(scope, conversation.receive,
                                                        conversation.send))
        finally:
            ANSWERS.reset(token)
        enough = asyncio.ensure_future(conversation.enough.wait())
        await asyncio.wait({task, enough}, timeout=self.timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        enough.cancel()
        if not task.done():  # an endless stream: stop it the way a client would, by leaving
            conversation.hang_up()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                task.cancel()
        with contextlib.suppress(BaseException):
            await task
        self.inspector.flush()
        new = [e for i, e in store.exchanges.items() if i not in known]
        exchange = new[-1]
        exchange.replay_of = original_id
        exchange.notes.extend(f"replay: {warning}" for warning in request.warnings)
        if answers is not None:
            exchange.notes.extend(answers.missing)
        store.remove([exchange])
        return exchange


class _Conversation:
    """The server side of one replayed call: recorded receives, gated on the app's sends."""

    def __init__(self, receives: list[tuple[dict[str, Any], int]], kind: str,
                 stop_after: int | None) -> None:
        self.pending = list(receives)
        self.kind = kind
        self.stop_after = stop_after
        self.enough = asyncio.Event()  # as many sends as the still-open original had
        self.sent = 0
        self.finished = asyncio.Event()  # response complete, or the app closed the socket
        self.progress = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        while self.pending:
            message, sends_before = self.pending[0]
            if self.sent >= sends_before or self.finished.is_set():
                self.pending.pop(0)
                return dict(message)
            self.progress.clear()
            await self.progress.wait()
        await self.finished.wait()
        if self.kind == "websocket":
            return {"type": "websocket.disconnect", "code": 1000, "reason": ""}
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent += 1
        self.progress.set()
        if self.stop_after is not None and self.sent >= self.stop_after:
            self.enough.set()
        kind = message.get("type")
        if (kind == "http.response.body" and not message.get("more_body", False)) or kind in (
                "websocket.close", "websocket.http.response.body", "http.response.pathsend"):
            self.finished.set()

    def hang_up(self) -> None:
        self.pending.clear()
        self.finished.set()
        self.progress.set()


class _Lifespan:
    """Runs the app's lifespan around a replay session, so ``scope["state"]`` is real."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Future[Any] | None = None

    async def startup(self, timeout: float) -> dict[str, Any] | None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        self.task = asyncio.ensure_future(self.app(scope, self.inbox.get, self.outbox.put))
        reply = await self._ask("lifespan.startup", timeout)
        if reply is None:
            return None  # the app does no lifespan: replay without state
        if reply.get("type") == "lifespan.startup.failed":
            raise ReplayError(f"the app's startup failed: {reply.get('message', '')}")
        return self.state

    async def shutdown(self, timeout: float) -> None:
        if self.task is not None and not self.task.done():
            await self._ask("lifespan.shutdown", timeout)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _ask(self, kind: str, timeout: float) -> dict[str, Any] | None:
        assert self.task is not None
        await self.inbox.put({"type": kind})
        reply = asyncio.ensure_future(self.outbox.get())
        done, _ = await asyncio.wait({reply, self.task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if reply in done:
            return reply.result()
        reply.cancel()
        if self.task.done() and not self.task.cancelled():
            self.task.exception()  # an app without lifespan raises: taken, never printed
        return None


def unanswered(exchange: Exchange) -> list[str]:
    """The notes of a ``mock_outbound`` replay naming the calls it had no recording for."""
    return [note for note in exchange.notes if note.startswith(MOCK_PREFIX)]


class InProcessReplayer:
    """Replays against an app in this process (``view --app``), with its lifespan; with
    ``mock_outbound``, the app's outbound calls get the original's recorded responses."""

    def __init__(self, app: Any, where: str, timeout: float = 30.0, *,
                 mock_outbound: bool = False) -> None:
        self.where = where
        self._driver = Driver(app, timeout=timeout, mock_outbound=mock_outbound)
        self._started = False

    async def start(self) -> None:
        """Run the app's lifespan startup (done by the first replay otherwise); raises
        :class:`ReplayError` when the app's startup fails."""
        if not self._started:
            await self._driver.__aenter__()
            self._started = True

    async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None:
        await self.start()
        return await self._driver.replay(request, original.id, original)

    async def close(self) -> None:
        if self._started:
            await self._driver.__aexit__(None, None, None)
