"""What the outbound HTTP hooks share (httpx, requests/urllib3, aiohttp): one call in the
making, and the recorded answers ``--mock-outbound`` replays give the app instead of the
network.

A hook starts a :class:`Call` once :func:`~asgi_inspect.record.inside.current` says an exchange
records calls, tells it when the response's head arrived and each body chunk the app read, and
finishes it when the body ended, the response was closed or the call failed: the call is
emitted then, once. Bodies are kept as they crossed the wire (``Content-Encoding`` stays in
the headers), up to the recorder's ``max_body``; ``request_size``/``response_size`` count
every byte. Nothing here raises into the app: a failure of ours is the recorder's error.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from time import perf_counter_ns
from typing import Any, Concatenate, ParamSpec, TypeVar

from asgi_inspect.model import OutboundCall
from asgi_inspect.record.context import Tag
from asgi_inspect.record.inside import emit
from asgi_inspect.record.inside.location import location

P = ParamSpec("P")
R = TypeVar("R")
HeaderItems = Iterable[tuple[str | bytes, str | bytes]]

MOCK_PREFIX = "asgi-inspect --mock-outbound: "
MARK = "_asgi_inspect"  # set on the functions we wrapped: install() is idempotent


def guarded(method: Callable[Concatenate[Call, P], None]) -> Callable[Concatenate[Call, P], None]:
    """A :class:`Call` step that never raises into the app: a failure of ours is counted."""

    def step(self: Call, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:
            self.tag.batch.error(exc)

    return step


class Call:
    """One outbound call in the making: the request as sent, then the response as read."""

    __slots__ = ("body", "done", "item", "tag")

    def __init__(self, tag: Tag, item: OutboundCall) -> None:
        self.tag = tag
        self.item = item
        self.body = bytearray()  # the response body's first max_body bytes
        self.done = False

    @guarded
    def respond(self, status: int, http_version: str, headers: HeaderItems) -> None:
        """The response's status line and headers arrived."""
        item = self.item
        item.t_first_byte = perf_counter_ns()
        item.status = status
        item.http_version = http_version
        item.response_headers = header_pairs(headers)
        if item.response_size is None:  # a body read at once is counted already
            item.response_size = 0

    @guarded
    def sent(self, chunk: bytes) -> None:
        """The library sent this much more of the request body (aiohttp says it in chunks)."""
        item = self.item
        kept = item.request_body if isinstance(item.request_body, bytes) else b""
        room = self.tag.batch.max_body - len(kept)
        if room > 0 and chunk:
            item.request_body = kept + chunk[:room]
        item.request_size = (item.request_size or 0) + len(chunk)

    @guarded
    def received(self, chunk: bytes) -> None:
        """The app read this much more of the response body."""
        self.item.response_size = (self.item.response_size or 0) + len(chunk)
        room = self.tag.batch.max_body - len(self.body)
        if room > 0:
            self.body += chunk[:room]

    @guarded
    def finish(self, error: BaseException | None = None, *, ended: bool = True) -> None:
        """The call ended (its body read or closed, or it failed): recorded, once. Not
        ``ended``: the app let go of a response it neither read to the end nor closed, and
        the call is recorded as it stands, with no end."""
        if self.done:
            return
        self.done = True
        item = self.item
        item.t_end = perf_counter_ns() if ended else None
        if self.body:
            item.response_body = bytes(self.body)
        if error is not None:
            item.error = describe(error)
        emit(self.tag, item)


def contained(tag: Tag, step: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
    """``step(...)``, a hook's own work, or None when it failed (counted, never raised)."""
    try:
        return step(*args, **kwargs)
    except Exception as exc:
        tag.batch.error(exc)
        return None


def start(tag: Tag, library: str, method: str, url: str, headers: HeaderItems,
          body: bytes | str | None, *, mocked: bool = False) -> Call:
    """A call begun now for ``tag``'s exchange (hooks call it :func:`contained`)."""
    if isinstance(body, str):
        body = body.encode()
    item = OutboundCall(library=library, method=method.upper(), url=url,
                        t_start=perf_counter_ns(), request_headers=header_pairs(headers),
                        location=location(), mocked=mocked)
    if body is not None:
        item.request_body = body[:tag.batch.max_body] if body else None
        item.request_size = len(body)
    return Call(tag, item)


def header_pairs(headers: HeaderItems) -> list[list[bytes]]:
    """Headers as the trace keeps them: [name, value] byte pairs, in order."""
    return [[name, value] if isinstance(name, bytes) and isinstance(value, bytes)
            else [_latin1(name), _latin1(value)] for name, value in headers]


def describe(error: BaseException) -> str:
    """An error as the trace says it: ``ConnectError: [Errno 111] Connection refused``; with
    the root cause when the library's own message hides it ("All connection attempts
    failed" is httpx's for a refused connection)."""
    text = _said(error)
    root = _root_cause(error)
    return text if root is error or str(root) in text else f"{text} ({_said(root)})"


def _said(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _root_cause(error: BaseException) -> BaseException:
    for _ in range(8):  # chains are short; a cycle is not followed
        cause = error.__cause__ or error.__context__
        if cause is None:
            break
        error = cause
    return error


def wrap(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    """Replace ``owner.name`` with ``make(original)``, once: a second install leaves it."""
    original = owner.__dict__[name]
    if getattr(original, MARK, False):
        return
    wrapper = make(original)
    functools.update_wrapper(wrapper, original)
    setattr(wrapper, MARK, True)
    setattr(owner, name, wrapper)


def _latin1(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1", "replace")


class Answers:
    """The calls an original exchange made, to answer a replay's calls with instead of the
    network (``--mock-outbound``). A call is matched by method and URL; repeated ones in the
    order they were made: the Nth ``GET /x`` gets the Nth recorded response, and one past
    the recorded ones has none (it fails, and is named in ``missing``)."""

    def __init__(self, recorded: Iterable[OutboundCall]) -> None:
        self._left: dict[tuple[str, str], deque[OutboundCall]] = {}
        for call in recorded:
            self._left.setdefault((call.method.upper(), call.url), deque()).append(call)
        self.missing: list[str] = []  # the refusals of calls with no recording, once each

    def take(self, method: str, url: str) -> OutboundCall | None:
        """The next recorded answer to this call, or None (noted in ``missing``)."""
        left = self._left.get((method.upper(), url))
        if left:
            return left.popleft()
        refusal = self.refusal(method, url, None)
        if refusal not in self.missing:
            self.missing.append(refusal)
        return None

    @staticmethod
    def refusal(method: str, url: str, recorded: OutboundCall | None) -> str:
        """Why the mocked call fails: no recording, or the recorded call failed too."""
        if recorded is None:
            return f"{MOCK_PREFIX}no recorded response for {method.upper()} {url}"
        return f"{MOCK_PREFIX}the recorded {method.upper()} {url} failed: {recorded.error}"


# The answers of the replay running in this context (set by the replay driver).
ANSWERS: ContextVar[Answers | None] = ContextVar("asgi_inspect_answers", default=None)


def recorded_response(call: OutboundCall) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """A recorded response's headers and body as kept (a prefix when it was larger than
    ``max_body``): its ``Content-Length`` says what is kept, ``Transfer-Encoding`` goes."""
    body = call.response_body if isinstance(call.response_body, bytes) else b""
    pairs = call.response_headers if isinstance(call.response_headers, list) else []
    headers = [(bytes(name), bytes(value)) for name, value in pairs
               if bytes(name).lower() not in (b"content-length", b"transfer-encoding")]
    headers.append((b"content-length", str(len(body)).encode()))
    return headers, body
