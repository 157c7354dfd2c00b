"""HAR 1.2 export: recorded exchanges as an HTTP Archive that browsers and proxies open.

What goes where (the HAR spec has no words for an ASGI app, so this is the mapping):

- ``timings`` come from the event times. ``send`` spans the request body's ``receive()``
  calls; ``wait`` runs from the last of them to the response start (the app's think time);
  ``receive`` spans the response body's ``send()`` calls (for a WebSocket: the session after
  the accept, so ``time`` is how long it lasted). ``blocked``, ``dns``, ``connect``
  and ``ssl`` are -1: the app never sees them.
- Bodies: UTF-8 text as ``text``, anything else base64 (``content.encoding`` for responses;
  ``postData`` has no encoding field in HAR 1.2, so a base64 request body is marked with the
  custom field ``_encoding: "base64"``). A gzip, deflate, br or zstd response is stored
  decoded, as browsers do (:mod:`asgi_inspect.content`, within its bound). A body cut by
  the recorder's cap, or by that bound, carries ``_truncated: true`` and a comment.
- WebSockets follow Chrome: ``_resourceType: "websocket"`` and ``_webSocketMessages``, with
  ``type`` seen from the client (the app's ``websocket.receive`` is the client's "send"),
  ``time`` in epoch seconds, ``opcode`` 1 (text) or 2 (binary, data in base64). The close
  goes in ``_webSocketClose`` as HTTP Toolkit writes it.
- ``response.status`` is the status the client got (``Exchange.status``): when the app raised
  before responding, the server's 500, with ``_answeredByServer: true`` and no headers or
  body (the recorder does not see what the server sends); ``0`` when no response started.
- Custom fields ``_id``, ``_outcome`` and ``_error`` keep what HAR has no place for.
- With ``with_calls``, the outbound HTTP calls the app made while handling an exchange
  (``Exchange.inside``) are entries of their own, among the others in start order:
  ``_resourceType: "fetch"``, Chrome's ``_initiator`` (``type: "other"`` and the URL of the
  exchange that made the call), and ``_asgiInspect: {"madeBy": id, "library", "location"}``
  naming that exchange. Their timings: ``wait`` to the first byte, ``receive`` from there to
  the end; a call that failed has status 0 and ``_error``. Bodies as recorded.

Secrets are redacted before, by the export operation (:mod:`asgi_inspect.ops.export`).
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from asgi_inspect import __version__, http, inside
from asgi_inspect.content import Body, body_of, decoded_body
from asgi_inspect.formats import parts
from asgi_inspect.model import Event, Exchange, OutboundCall, Snapshot, header_pairs

_REQUEST_EVENTS = frozenset({"http.request", "websocket.connect"})
_START_EVENTS = frozenset({
    "http.response.start", "websocket.accept", "websocket.http.response.start",
    "websocket.close",
})
_BODY_EVENTS = frozenset({
    "http.response.body", "http.response.pathsend", "http.response.zerocopysend",
    "websocket.http.response.body",
})
_FORM = "application/x-www-form-urlencoded"
_JSON = json.JSONEncoder(indent=2, ensure_ascii=False)  # json.dumps(doc, indent=2, ...)'s


def to_har(exchanges: Iterable[Exchange], *, with_calls: bool = False) -> dict[str, Any]:
    """A HAR 1.2 document (a dict ready for ``json.dumps``) of the HTTP and WebSocket exchanges,
    as recorded: redaction happens before (:mod:`asgi_inspect.ops.export`). ``with_calls``
    adds the outbound calls the app made as entries of their own."""
    return _document(list(_entries(exchanges, with_calls)))


def har_text(exchanges: Iterable[Exchange], *, with_calls: bool = False) -> Iterator[str]:
    """``json.dumps(to_har(exchanges), indent=2, ensure_ascii=False)``, the same text, in
    pieces: one entry is made and written at a time, so a big trace is never a dict (and a
    big body's text is never copied into a bigger string)."""
    marker = '"entries go here"'
    frame = _JSON.encode(_document([marker[1:-1]]))
    head, _, tail = frame.partition(marker)
    entry_indent = head[head.rindex("\n"):]  # the entries' depth: a line break and spaces
    started = False
    for entry in _entries(exchanges, with_calls):
        yield f",{entry_indent}" if started else head
        yield from _grouped(chunk.replace("\n", entry_indent)
                            for chunk in _JSON.iterencode(entry))
        started = True
    yield tail if started else _JSON.encode(_document([]))


def _entries(exchanges: Iterable[Exchange], with_calls: bool) -> Iterator[dict[str, Any]]:
    """The exchanges' entries in their order; with ``with_calls`` each outbound call's entry
    goes in before the first exchange that started after it (a heap of the calls waiting),
    so a selection in start order gives every entry in start order. A lifespan has no entry
    of its own, but the calls it made (at startup) do."""
    waiting: list[tuple[float, int, Exchange, OutboundCall]] = []
    order = itertools.count()
    for exchange in exchanges:
        while waiting and waiting[0][0] <= exchange.started_at:
            _, _, maker, call = heapq.heappop(waiting)
            yield call_entry(maker, call)
        if _in_har(exchange):
            yield har_entry(exchange)
        if with_calls:
            for call in inside.calls(exchange):
                heapq.heappush(waiting, (_started_at(exchange, call), next(order), exchange,
                                         call))
    while waiting:
        _, _, maker, call = heapq.heappop(waiting)
        yield call_entry(maker, call)


def _grouped(chunks: Iterable[str], size: int = 64 * 1024) -> Iterator[str]:
    """The encoder's many small chunks joined up to about ``size``; a big one (a body's
    text) passes on its own, never copied into a bigger string."""
    group: list[str] = []
    held = 0
    for chunk in chunks:
        if len(chunk) >= size:
            if group:
                yield "".join(group)
                group, held = [], 0
            yield chunk
            continue
        group.append(chunk)
        held += len(chunk)
        if held >= size:
            yield "".join(group)
            group, held = [], 0
    if group:
        yield "".join(group)


def _in_har(exchange: Exchange) -> bool:
    return exchange.type in ("http", "websocket")


def _document(entries: list[Any]) -> dict[str, Any]:
    return {"log": {"version": "1.2",
                    "creator": {"name": "asgi-inspect", "version": __version__},
                    "pages": [], "entries": entries}}


def har_entry(exchange: Exchange) -> dict[str, Any]:
    """One HAR entry for one exchange, as recorded (no redaction here)."""
    timings = _timings(exchange)
    entry: dict[str, Any] = {
        "startedDateTime": _iso(exchange.started_at),
        "time": round(sum(v for v in timings.values() if v > 0), 3),
        "request": _request(exchange),
        "response": _response(exchange),
        "cache": {},
        "timings": timings,
    }
    ip = http.server_ip(exchange)
    if ip:
        entry["serverIPAddress"] = ip
    if exchange.comment:
        entry["comment"] = exchange.comment
    entry["_id"] = exchange.id
    entry["_outcome"] = exchange.outcome
    if exchange.exception is not None:
        entry["_error"] = f"{exchange.exception.type}: {exchange.exception.message}"
    if exchange.type == "websocket":
        entry.update(_websocket(exchange))
    return entry


def _iso(timestamp: float) -> str:
    try:
        moment = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        moment = datetime.fromtimestamp(0, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# outbound calls ----------------------------------------------------------------------------

def _started_at(exchange: Exchange, call: OutboundCall) -> float:
    return exchange.started_at + call.t_start / 1e9


def call_entry(exchange: Exchange, call: OutboundCall) -> dict[str, Any]:
    """One HAR entry for an outbound call ``exchange``'s app made, as recorded (redaction
    happens before, with the exchange's)."""
    timings = _call_timings(call)
    initiator = {"type": "other"}  # Chrome's field: what made the request
    if _in_har(exchange):
        initiator["url"] = http.url_of(exchange)
    entry: dict[str, Any] = {
        "startedDateTime": _iso(_started_at(exchange, call)),
        "time": round(sum(v for v in timings.values() if v > 0), 3),
        "request": _call_request(call),
        "response": _call_response(call),
        "cache": {},
        "timings": timings,
        "_resourceType": "fetch",
        "_initiator": initiator,
        "_asgiInspect": {"madeBy": exchange.id, "library": call.library,
                         "location": call.location},
    }
    if call.mocked:
        entry["_asgiInspect"]["mocked"] = True
    if call.error is not None:
        entry["_error"] = call.error
    return entry


def _call_request(call: OutboundCall) -> dict[str, Any]:
    headers = header_pairs(call.request_headers)
    request: dict[str, Any] = {
        "method": call.method,
        "url": call.url,
        "httpVersion": call.http_version,
        "cookies": _request_cookies(http.header(headers, b"cookie")),
        "headers": _headers(headers),
        "queryString": _name_values(urlsplit(call.url).query.encode("latin-1", "replace")),
        "headersSize": -1,
        "bodySize": 0,
    }
    body, size = _call_body(call.request_body, call.request_size)
    request["bodySize"] = size
    if size:
        request["postData"] = _post_data(body, size, http.header(headers, b"content-type"))
    return request


def _call_response(call: OutboundCall) -> dict[str, Any]:
    if call.status is None:
        return _no_response()
    headers = header_pairs(call.response_headers)
    raw, size = _call_body(call.response_body, call.response_size)
    content = _content_object(raw, size, decoded_body(raw, headers, size), headers)
    return _response_object(call.status, call.http_version, headers, content, size)


def _call_body(body: Snapshot, size: int | None) -> tuple[bytes, int]:
    """A call's kept body bytes and its whole size (the kept length when not said)."""
    data = body if isinstance(body, bytes) else b""
    return data, max(size or 0, len(data))


def _call_timings(call: OutboundCall) -> dict[str, float]:
    """``wait`` from the start to the first byte, ``receive`` from there to the end (all of
    it ``wait`` when no first byte was seen)."""
    end = call.t_end if call.t_end is not None else call.t_start
    first = call.t_first_byte if call.t_first_byte is not None else end
    return {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0,
            "wait": _ms(first - call.t_start), "receive": _ms(end - first)}


# request -----------------------------------------------------------------------------------

def _request(exchange: Exchange) -> dict[str, Any]:
    headers = http.request_headers(exchange)
    method = http.text_of(http.scope_of(exchange).get("method"), "GET")
    query = http.scope_of(exchange).get("query_string")
    request: dict[str, Any] = {
        "method": method,
        "url": http.url_of(exchange),
        "httpVersion": http.http_version(exchange),
        "cookies": _request_cookies(http.header(headers, b"cookie")),
        "headers": _headers(headers),
        "queryString": _name_values(query if isinstance(query, bytes) else b""),
        "headersSize": -1,
        "bodySize": 0,
    }
    if exchange.type == "http":
        body, size = parts.body_size(exchange, "receive")
        request["bodySize"] = size
        if size:
            request["postData"] = _post_data(body, size, http.header(headers, b"content-type"))
    return request


def _put_text(target: dict[str, Any], body: bytes, marker: str) -> bool:
    """The body as ``text``: UTF-8 as is (True), anything else base64 with ``marker``."""
    text = _utf8(body)
    if text is None:
        target["text"] = base64.b64encode(body).decode("ascii")
        target[marker] = "base64"
        return False
    target["text"] = text
    return True


def _post_data(body: bytes, size: int, content_type: bytes | None) -> dict[str, Any]:
    mime = content_type.decode("latin-1") if content_type else "application/octet-stream"
    post: dict[str, Any] = {"mimeType": mime}
    if _put_text(post, body, "_encoding") and mime.split(";")[0].strip().lower() == _FORM:
        post["params"] = _name_values(body)
    if size > len(body):
        post.update(_truncation(len(body), size, "request body"))
    return post


def _truncation(kept: int, size: int, what: str) -> dict[str, Any]:
    return {"comment": f"{what} truncated by the recorder: {kept} of {size} bytes kept",
            "_truncated": True}


# response ----------------------------------------------------------------------------------

def _response(exchange: Exchange) -> dict[str, Any]:
    status = exchange.status
    if status is None or exchange.answered_by_server:
        return _unseen_response(exchange, status)
    headers = http.response_headers(exchange) or _accept_headers(exchange)
    content, body_size = _content(exchange, headers)
    return _response_object(status, http.http_version(exchange), headers, content, body_size)


def _response_object(status: int, http_version: str, headers: list[tuple[bytes, bytes]],
                     content: dict[str, Any], body_size: int) -> dict[str, Any]:
    """A HAR response seen whole: one shape for an exchange's response and a call's."""
    return {
        "status": status,
        "statusText": _reason(status),
        "httpVersion": http_version,
        "cookies": [c for v in headers if v[0].lower() == b"set-cookie"
                    for c in _set_cookie(v[1])],
        "headers": _headers(headers),
        "content": content,
        "redirectURL": (http.header(headers, b"location") or b"").decode("latin-1"),
        "headersSize": -1,
        "bodySize": body_size,
    }


def _no_response() -> dict[str, Any]:
    """A HAR response where none was seen: status 0 and empty fields (HAR requires them)."""
    return {"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
            "headersSize": -1, "bodySize": -1}


def _unseen_response(exchange: Exchange, status: int | None) -> dict[str, Any]:
    """A response the recorder did not see: none at all (status 0), or the server's answer in
    the app's place (its status only: its headers and body never went through the app)."""
    response = _no_response()
    if status is not None:
        response.update(status=status, statusText=_reason(status),
                        httpVersion=http.http_version(exchange), _answeredByServer=True)
    return response


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _accept_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    """The extra headers and subprotocol of a WebSocket accept, as response headers."""
    accept = exchange.first("websocket.accept")
    if accept is None:
        return []
    message = parts.message_of(accept)
    headers = header_pairs(message.get("headers"))
    subprotocol = message.get("subprotocol")
    if isinstance(subprotocol, str):
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1", "replace")))
    return headers


def _content(exchange: Exchange, headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], int]:
    """The ``content`` object and the ``bodySize`` (bytes the app sent)."""
    raw, size = parts.body_size(exchange, "send")
    if exchange.type == "websocket" and not exchange.first("websocket.http.response.body"):
        raw, size = b"", 0
    return _content_object(raw, size, body_of(exchange, "send"), headers), size


def _content_object(raw: bytes, size: int, decoded: Body,
                    headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """A response body as HAR stores it: decoded, as browsers store it (``compression`` the
    bytes the coding saved), or as sent with why; a capped one says so."""
    mime = http.header(headers, b"content-type")
    content: dict[str, Any] = {
        "size": size,
        "mimeType": mime.decode("latin-1") if mime else "application/octet-stream",
    }
    body = decoded.data if raw else b""
    if decoded.note and not decoded.encoding:  # a coding we cannot undo: the bytes as sent
        content["comment"] = decoded.note
        content["_undecoded"] = True
    elif decoded.encoding and decoded.complete:
        content["size"] = len(body)
        content["compression"] = len(body) - len(raw)
    if body:
        _put_text(content, body, "encoding")
    if size > len(raw):
        content.update(_truncation(len(raw), size, "response body"))
    elif not decoded.complete:  # decoding stopped at its bound
        content.update({"comment": decoded.note, "_truncated": True})
    return content


# name/value lists --------------------------------------------------------------------------

def _headers(headers: list[tuple[bytes, bytes]]) -> list[dict[str, str]]:
    return [{"name": n.decode("latin-1"), "value": v.decode("latin-1")} for n, v in headers]


def _name_values(data: bytes) -> list[dict[str, str]]:
    pairs = parse_qsl(data.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                      errors="replace")
    return [{"name": n, "value": v} for n, v in pairs]


def _request_cookies(value: bytes | None) -> list[dict[str, str]]:
    cookies = []
    for part in (value or b"").decode("latin-1").split(";"):
        name, sep, val = part.strip().partition("=")
        if sep and name:
            cookies.append({"name": name, "value": val})
    return cookies


def _set_cookie(value: bytes) -> list[dict[str, Any]]:
    first, *attributes = value.decode("latin-1").split(";")
    name, sep, val = first.strip().partition("=")
    if not sep or not name:
        return []
    cookie: dict[str, Any] = {"name": name, "value": val}
    for attribute in attributes:
        key, _, arg = attribute.strip().partition("=")
        key = key.lower()
        if key in ("path", "domain"):
            cookie[key] = arg
        elif key == "httponly":
            cookie["httpOnly"] = True
        elif key == "secure":
            cookie["secure"] = True
    return [cookie]


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# timings -----------------------------------------------------------------------------------

def _timings(exchange: Exchange) -> dict[str, float]:
    """send/wait/receive in milliseconds from the event times (see the module docstring)."""
    events = exchange.events
    requests = [e for e in events if e.direction == "receive" and e.type in _REQUEST_EVENTS]
    start_at = next((i for i, e in enumerate(events) if e.type in _START_EVENTS), None)
    if exchange.type == "websocket" and start_at is not None:
        body = events[start_at + 1:]
    else:
        body = [e for e in events if e.type in _BODY_EVENTS]
    request_end = parts.end_of(requests[-1]) if requests else 0
    send = request_end - requests[0].t_call if requests else 0
    if start_at is not None:
        response_start = events[start_at].t_call
    elif body:
        response_start = body[0].t_call
    else:
        response_start = exchange.duration_ns or request_end
    receive = max(parts.end_of(e) for e in body) - body[0].t_call if body else 0
    return {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": _ms(send),
            "wait": _ms(response_start - request_end), "receive": _ms(receive)}


def _ms(ns: int) -> float:
    return round(max(ns, 0) / 1e6, 3)


# WebSocket ---------------------------------------------------------------------------------

def _websocket(exchange: Exchange) -> dict[str, Any]:
    messages = [_ws_message(exchange, e) for e in exchange.events
                if e.type in ("websocket.receive", "websocket.send")]
    fields: dict[str, Any] = {"_resourceType": "websocket",
                              "_webSocketMessages": [m for m in messages if m is not None]}
    close = next((e for e in exchange.events
                  if e.type in ("websocket.close", "websocket.disconnect")), None)
    if close is not None:
        message = parts.message_of(close)
        code = message.get("code")
        fields["_webSocketClose"] = {
            "code": code if isinstance(code, int) else 1000,
            "reason": http.text_of(message.get("reason")),
            "timestamp": exchange.started_at + close.t_call / 1e9,
        }
    return fields


def _ws_message(exchange: Exchange, event: Event) -> dict[str, Any] | None:
    """Chrome's shape: the direction is the client's, so the app's receive is a "send"."""
    message = parts.message_of(event)
    data, text = message.get("bytes"), message.get("text")
    if isinstance(data, bytes):
        opcode, payload = 2, base64.b64encode(data).decode("ascii")
    elif isinstance(text, str):
        opcode, payload = 1, text
    else:
        return None
    at = parts.end_of(event) if event.direction == "receive" else event.t_call
    return {"type": "send" if event.direction == "receive" else "receive",
            "time": exchange.started_at + at / 1e9, "opcode": opcode, "data": payload}
