"""The compiled hot path against the Python one: the same conversations, the same wire bytes.

Hypothesis plays randomised ASGI conversations (message types, body sizes around the caps,
one-shot headers, odd messages, calls that raise, are cancelled for real while they wait, or
yield to the loop first; apps that catch, return a value, add scope keys or raise) through an
``Inspector`` on each path (the compiled one whole, or only its receive() and send() when
output is captured), and compares every record both wrote, byte for byte once the clock
readings and the recorder's random source name are set aside, and what the app saw: the very
same message and exception objects, tracebacks included.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_inspect import Inspector
from asgi_inspect.record import hotpath
from asgi_inspect.record.hotpath import HotPathError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("asgi_inspect.record._hotpath") is None,
                                reason="the compiled hot path is not built")

MAX_BODY = 16  # small caps, so conversations cross them
MAX_EVENTS = 6
# The clock readings of each record kind, by position in its array (wire.py).
TIMES = {1: (2,), 2: (3, 4), 3: (3, 4), 5: (2,), 6: (2,), 7: (2,)}


class FrameSink:
    """Keeps every batch as it was delivered."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def deliver(self, frame: bytes) -> bool:
        self.frames.append(bytes(frame))
        return True

    def close(self) -> None:
        pass


class Message(Mapping[str, Any]):
    """A message that is a mapping but not a dict: read through its own .get()."""

    def __init__(self, items: dict[str, Any]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class ServerError(Exception):
    """What a server's receive() or send() raised."""


@dataclass(frozen=True)
class Step:
    """One call the app makes, what the server does with it, and whether the app catches."""

    call: str  # "receive" or "send"
    message: Any  # what the server's receive() returns, or what the app sends
    server: str  # "ok", "yield" (to the loop first), "raise", "cancel" (raises it), "hang"
    catch: bool


@dataclass(frozen=True)
class Conversation:
    steps: tuple[Step, ...]
    ending: str  # "none", "value", "raise", "scope_key"
    state: bool  # the scope carries lifespan state
    capture: bool  # output captured: Inspector.__call__ with the C receive()/send() only


@dataclass
class Seen:
    """What the app saw: each call's result or exception, and how the app ended."""

    results: list[Any] = field(default_factory=list)
    raised: list[BaseException] = field(default_factory=list)
    outcome: Any = None


sizes = st.sampled_from([0, 1, MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, 3 * MAX_BODY])


@st.composite
def requests(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["http.request", "http.request", "http.disconnect", "other"]))
    if kind == "other":
        return draw(st.sampled_from([{"type": "http.request"}, {"body": b"x"}, 5,
                                     Message({"type": "http.request", "body": b"abc"})]))
    if kind == "http.disconnect":
        return {"type": kind}
    return {"type": kind, "body": bytes(draw(sizes)), "more_body": draw(st.booleans())}


@st.composite
def sends(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["start", "body", "body", "trailers", "odd"]))
    if kind == "start":
        headers: Any = [(b"content-type", b"text/plain")]
        if draw(st.booleans()):
            headers = (pair for pair in list(headers))  # one-shot: listed before the server
        return {"type": "http.response.start", "status": 200, "headers": headers}
    if kind == "body":
        return {"type": "http.response.body", "body": b"y" * draw(sizes),
                "more_body": draw(st.booleans())}
    if kind == "trailers":
        return {"type": "http.response.trailers", "headers": [], "more_trailers": False}
    return draw(st.sampled_from([[1, 2], {"type": None},
                                 {"type": "http.response.body", "body": object()},
                                 Message({"type": "http.response.body", "body": b"zz"})]))


@st.composite
def steps(draw: st.DrawFn) -> Step:
    call = draw(st.sampled_from(["receive", "send"]))
    message = draw(requests() if call == "receive" else sends())
    server = draw(st.sampled_from(["ok", "ok", "ok", "yield", "raise", "cancel", "hang"]))
    return Step(call, message, server, catch=draw(st.booleans()))


conversations = st.builds(Conversation, st.lists(steps(), max_size=10).map(tuple),
                          st.sampled_from(["none", "none", "value", "raise", "scope_key"]),
                          st.booleans(), st.booleans())


def fresh(message: Any) -> Any:
    """A new copy of a step's message for each run (a one-shot header iterable is used up)."""
    if isinstance(message, dict):
        copy = dict(message)
        headers = copy.get("headers")
        if headers is not None and not isinstance(headers, list):
            copy["headers"] = iter([(b"content-type", b"text/plain")])
        return copy
    return message


@contextmanager
def path(name: str) -> Iterator[None]:
    previous = os.environ.get(hotpath.ENV)
    os.environ[hotpath.ENV] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(hotpath.ENV, None)
        else:
            os.environ[hotpath.ENV] = previous


async def play(conversation: Conversation, inspector: Inspector, seen: Seen) -> None:
    """Serve one exchange through ``inspector``; a "hang" is cancelled for real by the task's
    owner once it waits."""
    waiting = asyncio.Event()
    messages = [fresh(step.message) for step in conversation.steps]
    errors = [ServerError(f"server failed at step {i}") for i in range(len(messages))]
    position = 0

    async def serve(step: Step, index: int) -> Any:
        if step.server == "yield":
            await asyncio.sleep(0)
        elif step.server == "raise":
            raise errors[index]
        elif step.server == "cancel":
            raise asyncio.CancelledError(f"cancelled at step {index}")
        elif step.server == "hang":
            waiting.set()
            await asyncio.Event().wait()
        return messages[index] if step.call == "receive" else None

    async def receive() -> Any:
        return await serve(*current())

    async def send(message: Any) -> None:
        await serve(*current())

    def current() -> tuple[Step, int]:
        return conversation.steps[position], position

    async def app(scope: dict[str, Any], receive_: Any, send_: Any) -> Any:
        nonlocal position
        for index, step in enumerate(conversation.steps):
            position = index
            try:
                if step.call == "receive":
                    seen.results.append(await receive_())
                else:
                    seen.results.append(await send_(messages[index]))
            except BaseException as exc:
                seen.raised.append(exc)
                if not step.catch:
                    raise
        if conversation.ending == "raise":
            raise RuntimeError("the app failed")
        if conversation.ending == "scope_key":
            scope["endpoint"] = app
        return 42 if conversation.ending == "value" else None

    inspector.app = app
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [],
             "state": {"db": 1} if conversation.state else {}}
    task = asyncio.ensure_future(inspector(scope, receive, send))
    while not task.done():
        hang = asyncio.ensure_future(waiting.wait())
        await asyncio.wait([task, hang], return_when=asyncio.FIRST_COMPLETED)
        hang.cancel()
        if waiting.is_set() and not task.done():
            waiting.clear()
            task.cancel()
    try:
        seen.outcome = task.result()
    except BaseException as exc:
        seen.outcome = exc


def records(frames: list[bytes]) -> list[bytes]:
    """Every record of every batch, re-encoded with its clock readings zeroed."""
    out = []
    for frame in frames:
        _header, *items = msgspec.msgpack.decode(frame)
        for item in items:
            for at in TIMES.get(item[0], ()):
                item[at] = 0
            out.append(msgspec.msgpack.encode(item))
    return out


def run(conversation: Conversation, name: str) -> tuple[list[bytes], Seen, Inspector]:
    with path(name):
        sink = FrameSink()
        inspector = Inspector(lambda *a: None, sink, max_body=MAX_BODY, max_events=MAX_EVENTS,
                              capture_output=conversation.capture)
    assert (inspector._compiled is not None) == (name == "c")
    assert (inspector._run is not None) == (name == "c" and not conversation.capture)
    seen = Seen()
    asyncio.run(play(conversation, inspector, seen))
    inspector.close()
    return records(sink.frames), seen, inspector


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations)
def test_both_paths_write_the_same_records(conversation: Conversation) -> None:
    python_records, python_seen, python_inspector = run(conversation, "python")
    c_records, c_seen, c_inspector = run(conversation, "c")
    assert c_records == python_records
    assert (c_inspector.errors, c_inspector.dropped) == (python_inspector.errors,
                                                         python_inspector.dropped)
    assert len(c_seen.results) == len(python_seen.results)
    for c_result, python_result in zip(c_seen.results, python_seen.results, strict=True):
        assert type(c_result) is type(python_result)
    assert [type(e) for e in c_seen.raised] == [type(e) for e in python_seen.raised]
    assert [str(e) for e in c_seen.raised] == [str(e) for e in python_seen.raised]
    assert type(c_seen.outcome) is type(python_seen.outcome)


def test_the_app_gets_the_servers_own_objects() -> None:
    """What the server returned or raised reaches the app as the very same object, its
    traceback still reaching into the server's frame; cancellation likewise."""
    message = {"type": "http.request", "body": b"", "more_body": False}
    failure = ServerError("refused")
    got: dict[str, Any] = {}

    async def receive() -> Any:
        return message

    async def send(_: Any) -> None:
        raise failure

    async def app(scope: Any, receive_: Any, send_: Any) -> None:
        got["message"] = await receive_()
        try:
            await send_({"type": "http.response.start", "status": 200, "headers": []})
        except ServerError as exc:
            got["error"] = exc
            got["frames"] = [frame.f_code.co_name for frame, _ in _walk(exc.__traceback__)]
        await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.ensure_future(inspector({"type": "http", "headers": []}, receive, send))
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel("stop")
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await task
        got["cancelled"] = cancelled.value

    with path("c"):
        inspector = Inspector(app, FrameSink())
    asyncio.run(main())
    inspector.close()
    assert got["message"] is message
    assert got["error"] is failure
    assert got["frames"][-1] == "send"  # the server's own frame, where it raised
    assert got["cancelled"].args == ("stop",)


def _walk(tb: Any) -> Iterator[tuple[Any, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def test_the_environment_chooses_the_path() -> None:
    """ASGI_INSPECT_HOTPATH forces either path; anything else is a one-line error."""
    for name, compiled in (("python", False), ("c", True), ("", True)):
        with path(name):
            assert (Inspector(lambda *a: None, FrameSink())._compiled is not None) == compiled
    with path("fortran"), pytest.raises(HotPathError, match="choose one of c, python"):
        Inspector(lambda *a: None, FrameSink())


def test_version_says_which_path_runs() -> None:
    def version(name: str) -> str:
        env = {**os.environ, hotpath.ENV: name}
        return subprocess.run([sys.executable, "-m", "asgi_inspect", "--version"], env=env,
                              capture_output=True, text=True, check=True).stdout

    assert "recorder hot path: compiled (C)" in version("")
    assert "recorder hot path: Python, forced by ASGI_INSPECT_HOTPATH" in version("python")
