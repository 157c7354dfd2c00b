"""How an exchange ended, and the facts the recorder cannot see but can infer.

Nothing here is invented: when the app raised before responding, the trace says the *server*
answered 500 (``Exchange.status`` reports it, ``answered_by_server`` says who sent it); no
event is made up for it. Everything is read from the events in one pass: the collector
settles every exchange as it closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgi_inspect.model import Event, EventStatus, Exchange, Outcome

_BODYLESS_STATUSES = frozenset({204, 304})
_WS_ANSWERS = frozenset({"websocket.accept", "websocket.close", "websocket.http.response.start"})
_WS_ENDS = frozenset({"websocket.close", "websocket.disconnect"})
_BODIES = frozenset({"http.response.body", "http.response.zerocopysend"})
RAISED_BEFORE_RESPONSE = ("the app raised before starting a response: the server answered on "
                          "its own with 500 Internal Server Error (uvicorn, hypercorn and daphne "
                          "do)")
RETURNED_WITHOUT_RESPONSE = ("the app returned without starting a response: the server answers on "
                             "its own (uvicorn and hypercorn send 500 Internal Server Error, "
                             "daphne nothing: the client waits)")


def settle(exchange: Exchange, status: EventStatus) -> None:
    """Set ``exchange.outcome`` after the app returned (``status``: ok, raised, cancelled)."""
    if exchange.type == "http":
        response = _HttpResponse.read(exchange)
        exchange.outcome = _fault(status) or response.outcome
        exchange.notes.extend(response.facts(exchange, status))
    elif exchange.type == "websocket":
        answered = any(e.type in _WS_ANSWERS and e.direction == "send" for e in exchange.events)
        exchange.outcome = _fault(status) or ("complete" if answered else "no_response")
    else:
        exchange.outcome = _fault(status) or "complete"


def settle_lost(exchange: Exchange, note: str) -> None:
    """Set the outcome of an exchange whose end will not be recorded (its recorder lost the
    records, or died), from the events that did arrive, and say why in ``note``. Whether the
    app returned is unknown, so nothing is inferred from how it did."""
    if exchange.type == "http":
        response = _HttpResponse.read(exchange)
        finished = response.answered and response.finished
        exchange.outcome = "complete" if finished else \
            "client_disconnected" if response.answered and response.disconnected else "incomplete"
    elif exchange.type == "websocket":
        ended = any(e.type in _WS_ENDS and e.status == "ok" for e in exchange.events)
        exchange.outcome = "complete" if ended else "incomplete"
    else:
        exchange.outcome = "incomplete"
    exchange.notes.append(note)


def unsettle_lost(exchange: Exchange, note: str) -> None:
    """Undo :func:`settle_lost`: the exchange's records arrived after all, it is open."""
    exchange.outcome = "streaming"
    if note in exchange.notes:
        exchange.notes.remove(note)


def _fault(status: EventStatus) -> Outcome | None:
    return "cancelled" if status == "cancelled" else "exception" if status == "raised" else None


@dataclass(slots=True)
class _HttpResponse:
    """What an HTTP exchange's events say about its response."""

    start: Event | None = None
    finished: bool = False  # the final body (or a pathsend) was delivered
    answered: bool = False  # a response started, or a file was sent
    disconnected: bool = False
    undelivered: int = 0  # body bytes of sends that raised or were cancelled

    @classmethod
    def read(cls, exchange: Exchange) -> _HttpResponse:
        response = cls()
        for event in exchange.events:
            kind = event.type
            if event.direction == "receive":
                response.disconnected |= kind == "http.disconnect"
            elif kind == "http.response.start" and response.start is None:
                response.start = event
                response.answered = True
            elif kind in _BODIES:
                response.body(event)
            elif kind == "http.response.pathsend":
                response.answered = True
                response.finished |= event.status == "ok"
        return response

    def body(self, event: Event) -> None:
        message = event.message if isinstance(event.message, dict) else {}
        if event.status == "ok":
            self.finished = not message.get("more_body", False)
        elif event.status in ("raised", "cancelled"):
            body = message.get("body") or b""
            self.undelivered += event.size if event.size is not None else len(body)

    @property
    def outcome(self) -> Outcome:
        if not self.answered:
            return "no_response"
        if self.finished:
            return "complete"
        return "client_disconnected" if self.disconnected else "incomplete"

    @property
    def status(self) -> int | None:
        message = self.start.message if self.start is not None else None
        status = message.get("status") if isinstance(message, dict) else None
        return status if isinstance(status, int) else None

    def content_length(self) -> int | None:
        message = self.start.message if self.start is not None else None
        headers = message.get("headers") if isinstance(message, dict) else None
        for pair in headers if isinstance(headers, list) else ():
            name = pair[0] if len(pair) == 2 else None
            if isinstance(name, bytes) and name.lower() == b"content-length":
                value = pair[1]
                return int(value) if isinstance(value, bytes) and value.isdigit() else None
        return None

    def facts(self, exchange: Exchange, status: str) -> list[str]:
        attempted = exchange.response.bytes
        sent = attempted - self.undelivered
        code, head = self.status, exchange.method == "HEAD"
        facts = []
        if status == "raised" and not self.answered:
            facts.append(RAISED_BEFORE_RESPONSE)
        elif status == "raised" and not self.finished and code not in _BODYLESS_STATUSES \
                and not head:
            facts.append(f"the app raised after the response started: the client got a "
                         f"truncated body ({sent} bytes) and the connection was closed")
        elif status == "ok" and not self.answered:
            facts.append(RETURNED_WITHOUT_RESPONSE)
        if head and sent:
            facts.append(f"HEAD: the app sent {sent} body bytes; the server does not transmit "
                         f"them")
        if code in _BODYLESS_STATUSES and attempted:
            facts.append(f"status {code} must not have a body, yet the app sent {attempted} "
                         f"bytes")
        declared = self.content_length() if self.finished and not head else None
        if declared is not None and declared != sent:
            facts.append(f"content-length says {declared} but the app sent {sent} bytes")
        return facts
