"""What a replay sends: a request built from a recorded exchange, editable before sending.

:class:`ReplayRequest` is the one request model for both ways of replaying (over HTTP,
:mod:`asgi_inspect.replay.http`; in-process, :mod:`asgi_inspect.replay.driver`). The original
exchange is never changed: every replay is a new exchange with ``replay_of`` set.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from asgi_inspect.model import REPLAY_HEADER, Exchange
from asgi_inspect.units import format_size


class ReplayError(Exception):
    """The exchange cannot be replayed (one line, for the user)."""


@dataclass
class ReplayRequest:
    """What a replay sends; built from an exchange and editable before sending."""

    type: str
    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    scope: dict[str, Any]  # the recorded scope, for the fields not edited here
    receives: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    # What this replay cannot reproduce, by the part it concerns ("body", "frames", "records")
    limits: dict[str, str] = field(default_factory=dict)
    stop_after: int | None = None  # for a stream still open when recorded: sends to wait for

    @property
    def warnings(self) -> list[str]:
        """What this replay cannot reproduce, one line each (empty: it sends what was sent)."""
        return list(self.limits.values())

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> ReplayRequest:
        if exchange.type not in ("http", "websocket"):
            raise ReplayError(f"only HTTP and WebSocket exchanges replay, not {exchange.type}")
        scope = exchange.scope if isinstance(exchange.scope, dict) else {}
        if "path" not in scope:
            raise ReplayError("the exchange's scope was not recorded (records were dropped)")
        receives, sends = [], 0
        for event in exchange.events:
            if event.direction == "send":
                sends += 1
            elif isinstance(event.message, dict) and event.status == "ok":
                receives.append((dict(event.message), sends))
        query = scope.get("query_string") or b""
        return cls(type=exchange.type, method=str(scope.get("method", "GET")),
                   path=str(scope["path"]), query=query if isinstance(query, bytes) else b"",
                   headers=[h for h in exchange.request_headers if h[0] != REPLAY_HEADER],
                   body=exchange.body("receive"),
                   scope=scope, receives=receives, limits=replay_limits(exchange),
                   stop_after=sends if exchange.outcome == "streaming" else None)

    def edited(self, *, method: str | None = None, path: str | None = None,
               query: bytes | None = None, headers: list[tuple[bytes, bytes]] | None = None,
               body: bytes | None = None) -> ReplayRequest:
        """A copy with some parts replaced; a new body is sent as one chunk."""
        new = replace(self, method=method or self.method, path=path or self.path,
                      query=self.query if query is None else query,
                      headers=self.headers if headers is None else headers,
                      body=self.body if body is None else body)
        if body is not None and self.type == "http":
            rest = [(m, n) for m, n in self.receives if m.get("type") != "http.request"]
            new.receives = [({"type": "http.request", "body": body, "more_body": False}, 0), *rest]
            new.limits = {k: v for k, v in self.limits.items() if k != "body"}
        return new

    def build_scope(self, state: dict[str, Any] | None) -> dict[str, Any]:
        """A fresh scope for the app: the recorded one with the (edited) request parts."""
        scope = {k: v for k, v in self.scope.items() if k != "state"}
        path = self.path
        scope.update(path=path, query_string=self.query, headers=[list(h) for h in self.headers],
                     raw_path=path.encode("utf-8"))
        if self.type == "http":
            scope["method"] = self.method
        if state is not None:
            scope["state"] = dict(state)
        return scope


def replay_limits(exchange: Exchange) -> dict[str, str]:
    """What a replay of ``exchange`` cannot send as the client did, by part: the one rule every
    front end warns with (a request body or client frames past the capture caps, lost records).
    """
    limits = {}
    if exchange.type == "http":
        kept, total = len(exchange.body("receive")), exchange.request.bytes
        if total > kept:
            limits["body"] = (f"the request body was capped at capture: {format_size(kept)} of "
                              f"{format_size(total)} kept, the replay sends only those")
    else:
        cut = sum(e.size is not None for e in exchange.events
                  if e.direction == "receive" and e.type == "websocket.receive")
        left_out = exchange.request.elided
        if cut or left_out:
            limits["frames"] = (f"client frames past the capture caps: {left_out} not kept, "
                                f"{cut} cut short; the replay sends only what was kept")
    if exchange.lost_records:
        limits["records"] = ("some of the exchange's records were lost at capture: the replay "
                             "may miss part of the request")
    return limits


# the request as text, for editing ----------------------------------------------------------

BINARY_MARKER = "# binary body"


class RequestTextError(ValueError):
    """An edited request that does not parse (one line, for the user)."""


def request_text(request: ReplayRequest) -> str:
    """The request as an editor shows it: ``METHOD target``, header lines, a blank line, body.

    A body that is not UTF-8 text is shown as a marker line; leaving the marker keeps it.
    """
    target = request.path + (f"?{request.query.decode('latin-1')}" if request.query else "")
    lines = [f"{request.method} {target}"]
    lines += [f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in request.headers]
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        body = f"{BINARY_MARKER} ({len(request.body)} bytes, kept as recorded)"
    return "\n".join([*lines, "", body])


def edited_request(request: ReplayRequest, text: str) -> ReplayRequest:
    """``request`` with what the user wrote in :func:`request_text`'s format."""
    head, _, body = text.partition("\n\n")
    first, *header_lines = head.split("\n")
    method, _, target = first.strip().partition(" ")
    if not method.isalpha() or not target.startswith("/"):
        raise RequestTextError("the first line must be a method and a path, like GET /items")
    path, _, query = target.strip().partition("?")
    headers = []
    for number, line in enumerate(header_lines, 2):
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise RequestTextError(f"line {number} is not a header (name: value)")
        headers.append((name.strip().lower().encode("latin-1"),
                        value.strip().encode("latin-1")))
    kept = body.startswith(BINARY_MARKER)
    new_body = request.body if kept else body.encode("utf-8")
    return request.edited(method=method.upper(), path=path, query=query.encode("latin-1"),
                          headers=_with_length(headers, new_body),
                          body=None if new_body == request.body else new_body)


def _with_length(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    """Keep a Content-Length header true to the (possibly edited) body."""
    if not any(k == b"content-length" for k, _ in headers):
        return headers
    return [(k, str(len(body)).encode() if k == b"content-length" else v) for k, v in headers]


# where replays go ---------------------------------------------------------------------------

class Replayer(Protocol):
    """Sends replays for a view; returns the new exchange, or None when it arrives live."""

    where: str  # for messages: "http://127.0.0.1:8000" or "in-process app.module:app"

    async def replay(self, original: Exchange, request: ReplayRequest) -> Exchange | None: ...

    async def close(self) -> None: ...
