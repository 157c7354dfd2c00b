"""How an exchange ended, and the facts the recorder cannot see but can infer.

Nothing here is invented: when the app raised before responding, the trace says the *server*
probably answered 500; it never records a 500 the app did not send.
"""

from __future__ import annotations

from asgi_inspect.model import Event, Exchange, Outcome

_BODYLESS_STATUSES = frozenset({204, 304})


def settle(exchange: Exchange, status: str) -> None:
    """Set ``exchange.outcome`` after the app returned (``status``: ok, raised, cancelled)."""
    exchange.outcome = _outcome(exchange, status)
    if exchange.type == "http":
        exchange.notes.extend(_http_facts(exchange, status))


def _outcome(exchange: Exchange, status: str) -> Outcome:
    if status == "cancelled":
        return "cancelled"
    if status == "raised":
        return "exception"
    if exchange.type == "http":
        return _http_outcome(exchange)
    if exchange.type == "websocket":
        answered = any(e.type in _WS_ANSWERS and e.direction == "send" for e in exchange.events)
        return "complete" if answered else "no_response"
    return "complete"


_WS_ANSWERS = frozenset({"websocket.accept", "websocket.close", "websocket.http.response.start"})


def _http_outcome(exchange: Exchange) -> Outcome:
    if exchange.response_start is None and exchange.first("http.response.pathsend") is None:
        return "no_response"
    if _finished(exchange):
        return "complete"
    if exchange.first("http.disconnect") is not None:
        return "client_disconnected"
    return "incomplete"


def _finished(exchange: Exchange) -> bool:
    for event in reversed(exchange.events):
        if event.direction != "send" or event.status != "ok":
            continue
        if event.type == "http.response.pathsend":
            return True
        if event.type in ("http.response.body", "http.response.zerocopysend"):
            return not _more_body(event)
    return False


def _more_body(event: Event) -> bool:
    message = event.message if isinstance(event.message, dict) else {}
    return bool(message.get("more_body", False))


def _http_facts(exchange: Exchange, status: str) -> list[str]:
    facts = []
    started = exchange.response_start is not None
    attempted = exchange.response.bytes
    sent = attempted - _undelivered(exchange)
    code = exchange.status
    bodyless = code in _BODYLESS_STATUSES or exchange.method == "HEAD"
    if status == "raised" and not started:
        facts.append("the app raised before starting a response: the server answered on its "
                     "own (uvicorn sends 500 Internal Server Error)")
    elif status == "raised" and not _finished(exchange) and not bodyless:
        facts.append(f"the app raised after the response started: the client got a truncated "
                     f"body ({sent} bytes) and the connection was closed")
    elif exchange.outcome == "no_response":
        facts.append("the app returned without starting a response: the server answered on "
                     "its own (uvicorn sends 500 Internal Server Error)")
    if exchange.method == "HEAD" and sent:
        facts.append(f"HEAD: the app sent {sent} body bytes; the server does not transmit them")
    if code in _BODYLESS_STATUSES and attempted:
        facts.append(f"status {code} must not have a body, yet the app sent {attempted} bytes")
    declared = _content_length(exchange)
    finished = _finished(exchange) and exchange.method != "HEAD"
    if declared is not None and finished and declared != sent:
        facts.append(f"content-length says {declared} but the app sent {sent} bytes")
    return facts


def _undelivered(exchange: Exchange) -> int:
    """Body bytes of sends that raised or were cancelled: attempted, never delivered."""
    total = 0
    for event in exchange.events:
        if event.direction == "send" and event.status in ("raised", "cancelled") and \
                event.type == "http.response.body" and isinstance(event.message, dict):
            body = event.message.get("body") or b""
            total += event.size if event.size is not None else len(body)
    return total


def _content_length(exchange: Exchange) -> int | None:
    for name, value in exchange.response_headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
