"""HAR import: entries from Chrome, Firefox, mitmproxy, HTTP Toolkit (or us) as exchanges.

Each entry becomes an :class:`~asgi_inspect.model.Exchange` whose scope and events look like
what the recorder would have recorded for the same request, so the views, filters and replay
work on it unchanged: a scope (type, method, path, raw_path, query_string, headers, scheme,
http_version, server), a ``http.request`` receive with the body, and ``http.response.start``
plus one ``http.response.body`` send. Event times are laid out from the entry's timings.

Tolerated: a BOM, header names in any case, ``[name, value]`` header pairs, missing optional
fields, base64 bodies (``content.encoding``, our ``postData._encoding``, HAR 1.3's
``postData.encoding``, HTTP Toolkit's ``request._content``), ``postData.params`` without
``text``, HTTP/2 pseudo-headers, and ``_webSocketMessages`` with ``_webSocketClose``.

Response bodies in HAR are stored decoded; when the headers say gzip, deflate, br or zstd the
body is compressed again (:func:`asgi_inspect.content.encoded`), as the app would have sent
it. Other codings stay decoded, and a note on the exchange says so.

An entry our export made of an outbound call (``--with-calls``: ``_asgiInspect.madeBy``)
goes back into the ``inside`` of the exchange that made it; when that exchange is not in the
file, the call is an exchange of its own, as any entry is.
"""

from __future__ import annotations

import base64
import binascii
import codecs
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeGuard, TypeVar, TypeVarTuple, get_args
from urllib.parse import quote, unquote, urlencode, urlsplit

import msgspec

from asgi_inspect import http
from asgi_inspect.content import encoded
from asgi_inspect.formats import parts
from asgi_inspect.formats.codec import TraceError, new_trace
from asgi_inspect.model import (
    Counters,
    Event,
    ExceptionInfo,
    Exchange,
    OutboundCall,
    Outcome,
    Trace,
)

Headers = list[list[bytes]]

_OUTCOMES = frozenset(get_args(Outcome))
_WS_HANDSHAKE = frozenset({
    b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-protocol",
    b"sec-websocket-extensions",
})
_VERSIONS = {"http/1.0": "1.0", "http/1.1": "1.1", "http/2": "2", "http/2.0": "2", "h2": "2",
             "h2c": "2", "http/3": "3", "http/3.0": "3", "h3": "3"}
_LIMIT = 1e12  # ms or bytes: past 30 years or a terabyte, a field is junk


class _Bad(ValueError):
    """A field of the wrong shape; becomes a one-line TraceError naming the entry."""


def from_har(data: bytes | str) -> Trace:
    """A trace from HAR text; anything that is not HAR raises a one-line ``TraceError``."""
    log = _log_of(_parse(data))
    creator = log.get("creator")
    name = creator.get("name") if isinstance(creator, dict) else None
    source = f"har:{name if isinstance(name, str) else 'unknown'}"
    exchanges: list[Exchange] = []
    calls: list[tuple[int, dict[str, Any]]] = []  # entries of outbound calls, for later
    for number, item in enumerate(log["entries"], 1):
        entry = _named(number, _obj, item, "entry")
        if isinstance(entry.get("_asgiInspect"), dict) and "madeBy" in entry["_asgiInspect"]:
            calls.append((number, entry))
        else:
            exchanges.append(_named(number, _exchange, entry, number, source))
    _attach_calls(exchanges, calls, source)
    exchanges.sort(key=lambda e: e.started_at)
    return new_trace(exchanges)


_T = TypeVar("_T")
_Args = TypeVarTuple("_Args")


def _named(number: int, read: Callable[[*_Args], _T], *args: *_Args) -> _T:
    """``read(*args)``, its bad field a one-line TraceError naming the entry."""
    try:
        return read(*args)
    except ValueError as exc:
        raise TraceError(f"HAR entry {number}: {exc}") from None
    except RecursionError:  # a value turned into text (str() recurses once a level)
        raise TraceError(f"HAR entry {number}: a value is nested too deeply") from None


def _attach_calls(exchanges: list[Exchange], calls: list[tuple[int, dict[str, Any]]],
                  source: str) -> None:
    """Each call's entry back into the exchange that made it, in start order; an entry
    whose exchange is not in the file stays an exchange (nothing in the file is dropped)."""
    makers = {exchange.id: exchange for exchange in exchanges}
    made: dict[str, Exchange] = {}
    for number, entry in calls:
        maker = makers.get(str(entry["_asgiInspect"]["madeBy"]))
        if maker is None:
            exchanges.append(_named(number, _exchange, entry, number, source))
        else:
            maker.inside.append(_named(number, _call, entry, maker))
            made[maker.id] = maker
    for maker in made.values():
        maker.inside.sort(key=lambda item: item.t_start)


def _parse(data: bytes | str) -> Any:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        return msgspec.json.decode(data.removeprefix(b"\xef\xbb\xbf"))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # bad UTF-8 in a string: the latter
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc
        raise TraceError(f"not a HAR file: not valid JSON ({reason})") from None
    except RecursionError:  # the decoder recurses once a level
        raise TraceError("not a HAR file we can read: the JSON is nested too deeply") from None


def _log_of(document: Any) -> dict[str, Any]:
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict):
        raise TraceError('not a HAR file: no "log" object at the top level')
    version = log.get("version", "1.2")
    if not isinstance(version, str) or not version.startswith("1."):
        raise TraceError(f"unsupported HAR version {version!r} (this build reads 1.x)")
    if not isinstance(log.get("entries"), list):
        raise TraceError('not a HAR file: "log.entries" is not a list')
    return log


# typed access with one-line reasons --------------------------------------------------------

def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(f"{what} is not a list")
    return value


def _str(value: Any, what: str, default: str | None = None) -> str:
    """A string field; without a default it is required."""
    if value is None:
        if default is None:
            raise _Bad(f"{what} is missing")
        return default
    if not isinstance(value, str):
        raise _Bad(f"{what} is not a string")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _num(value: Any) -> float:
    """A timing (ms) or size: below zero, null and junk count as nothing; huge ones are capped."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return float(min(max(value, 0.0), _LIMIT))  # compared first: an int may not fit a float


def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Bad(f"{what} is not valid base64 ({exc})") from None


# one entry ---------------------------------------------------------------------------------

def _exchange(entry: dict[str, Any], number: int, source: str) -> Exchange:
    request = _obj(entry.get("request"), "request")
    response = _obj(entry.get("response") or {}, "response")
    url = urlsplit(_str(request.get("url"), "request.url"))
    headers = _headers(request.get("headers") or [], "request.headers")
    if url.netloc and not http.header(headers, b"host"):
        headers.insert(0, [b"host", _latin1(url.netloc)])
    websocket = (entry.get("_resourceType") == "websocket" or url.scheme in ("ws", "wss")
                 or "_webSocketMessages" in entry)
    exchange = Exchange(id=_id(entry, number), type="websocket" if websocket else "http",
                        started_at=_started(entry.get("startedDateTime")),
                        scope=_scope(request, url, headers, websocket), source=source,
                        comment=_text(entry.get("comment")))
    clock = _Clock(_obj(entry.get("timings") or {}, "timings"))
    if websocket:
        _websocket_events(exchange, entry, response, clock)
    else:
        _http_events(exchange, request, response, clock)
    _settle(exchange, entry, response)
    return exchange


def _id(entry: dict[str, Any], number: int) -> str:
    value = entry.get("_id")
    return value if isinstance(value, str) and value else str(number)


def _started(value: Any) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


def _headers(value: Any, what: str) -> Headers:
    """ASGI header pairs: lower-case names, HTTP/2 pseudo-headers dropped (``:authority``
    becomes ``host``)."""
    out: Headers = []
    authority = None
    for item in _list(value, what):
        if isinstance(item, dict):
            name, val = item.get("name"), item.get("value", "")
        elif isinstance(item, list) and len(item) == 2:
            name, val = item
        else:
            raise _Bad(f"{what} has an item that is not a name/value pair")
        if not isinstance(name, str):
            continue  # a nameless pair (some writers add them) says nothing
        name = name.strip().lower()
        val = "" if val is None else str(val)
        if name == ":authority":
            authority = val
        elif name and not name.startswith(":"):
            out.append([_latin1(name), _latin1(val)])
    if authority and http.header(out, b"host") is None:
        out.insert(0, [b"host", _latin1(authority)])
    return out


def _scope(request: dict[str, Any], url: Any, headers: Headers, websocket: bool) -> dict[str, Any]:
    scheme = url.scheme or "http"
    if websocket:
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    version = _str(request.get("httpVersion"), "request.httpVersion", "HTTP/1.1")
    raw_path = quote(url.path or "/", http.PATH_SAFE)
    scope: dict[str, Any] = {
        "type": "websocket" if websocket else "http",
        "asgi": {"version": "3.0", "spec_version": "2.4" if websocket else "2.3"},
        "http_version": _VERSIONS.get(version.strip().lower(), "1.1"),
        "server": _server(url, scheme),
        "scheme": scheme,
        "root_path": "",
        "headers": headers,
    }
    if not websocket:
        scope["method"] = _str(request.get("method"), "request.method", "GET").upper()
    scope["path"] = unquote(raw_path)
    scope["raw_path"] = raw_path.encode("ascii")
    scope["query_string"] = quote(url.query, http.QUERY_SAFE).encode("ascii")
    if websocket:
        protocols = http.header(headers, b"sec-websocket-protocol")
        scope["subprotocols"] = [p.strip() for p in (protocols or b"").decode("latin-1").split(",")
                                 if p.strip()]
    return scope


def _server(url: Any, scheme: str) -> list[Any] | None:
    try:
        port = url.port
    except ValueError:
        raise _Bad("request.url has a bad port") from None
    if not url.hostname:
        return None
    return [url.hostname, port or (443 if scheme in ("https", "wss") else 80)]


class _Clock:
    """Event times (ns) laid out from the entry's timings: connect, send, wait, receive."""

    def __init__(self, timings: dict[str, Any]) -> None:
        ms = {k: _num(timings.get(k)) for k in ("blocked", "dns", "connect", "send", "wait",
                                                 "receive")}
        self.request = int((ms["blocked"] + ms["dns"] + ms["connect"]) * 1e6)
        self.request_end = self.request + int(ms["send"] * 1e6)
        self.response = self.request_end + int(ms["wait"] * 1e6)
        self.end = self.response + int(ms["receive"] * 1e6)


# outbound calls ----------------------------------------------------------------------------

def _call(entry: dict[str, Any], maker: Exchange) -> OutboundCall:
    """An outbound call from the entry our HAR export made of it (see formats/har.py)."""
    request = _obj(entry.get("request"), "request")
    response = _obj(entry.get("response") or {}, "response")
    ours = entry["_asgiInspect"]
    timings = _obj(entry.get("timings") or {}, "timings")
    start = max(int((_started(entry.get("startedDateTime")) - maker.started_at) * 1e9), 0)
    first = start + int(_num(timings.get("wait")) * 1e6)
    status = response.get("status")
    answered = isinstance(status, int) and not isinstance(status, bool) and status > 0
    request_body, request_size = _request_body(request)
    response_body, response_size = _content_bytes(response)
    return OutboundCall(
        library=_text(ours.get("library")), location=_text(ours.get("location")),
        mocked=ours.get("mocked") is True,
        method=_str(request.get("method"), "request.method", "GET"),
        url=_str(request.get("url"), "request.url"), t_start=start,
        t_first_byte=first if answered else None,
        t_end=first + int(_num(timings.get("receive")) * 1e6),
        status=status if answered else None,
        http_version=_text(response.get("httpVersion")) or _text(request.get("httpVersion")),
        request_headers=_headers(request.get("headers") or [], "request.headers") or None,
        response_headers=_headers(response.get("headers") or [], "response.headers") or None,
        request_body=request_body or None,
        request_size=max(request_size, len(request_body)) or None,
        response_body=response_body or None, response_size=response_size or None,
        error=entry["_error"] if isinstance(entry.get("_error"), str) else None)


def _content_bytes(response: dict[str, Any]) -> tuple[bytes, int]:
    """A response's content as stored (base64 or text) and its whole size."""
    content = _obj(response.get("content") or {}, "response.content")
    text = content.get("text")
    if not isinstance(text, str):
        return b"", int(_num(content.get("size")))
    if content.get("encoding") == "base64":
        body = _b64(text, "response.content.text")
    else:
        body = text.encode("utf-8", "surrogatepass")
    return body, max(len(body), int(_num(content.get("size"))))


# HTTP --------------------------------------------------------------------------------------

def _http_events(exchange: Exchange, request: dict[str, Any], response: dict[str, Any],
                 clock: _Clock) -> None:
    body, size = _request_body(request)
    exchange.events.append(Event(
        direction="receive", type="http.request", t_call=clock.request,
        t_return=clock.request_end, size=size if size > len(body) else None,
        message={"type": "http.request", "body": body, "more_body": False}))
    exchange.request = Counters(bytes=max(size, len(body)), chunks=1, kept_bytes=len(body))
    status = response.get("status", 0)
    if not isinstance(status, int) or isinstance(status, bool) or status <= 0:
        return
    if response.get("_answeredByServer") is True:  # our export of the server's 500 for an app
        return  # that raised: the app sent nothing, and Exchange.status says 500 again
    headers = _headers(response.get("headers") or [], "response.headers")
    exchange.events.append(Event(
        direction="send", type="http.response.start", t_call=clock.response,
        t_return=clock.response,
        message={"type": "http.response.start", "status": status, "headers": headers}))
    _response_body(exchange, response, headers, clock, "http.response.body")


def _request_body(request: dict[str, Any]) -> tuple[bytes, int]:
    """The body and its original size (bigger when the writer dropped or cut it)."""
    size = int(_num(request.get("bodySize")))
    content = request.get("_content")  # HTTP Toolkit: a body that is not UTF-8
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return _b64(content["text"], "request._content.text"), size
    post = request.get("postData")
    if post is None:
        return b"", size
    post = _obj(post, "request.postData")
    text = post.get("text")
    if isinstance(text, str):
        if "base64" in (post.get("_encoding"), post.get("encoding")):
            return _b64(text, "request.postData.text"), size
        return text.encode("utf-8", "surrogatepass"), size
    params = _list(post.get("params") or [], "request.postData.params")
    pairs = [(_str(_obj(p, "param").get("name"), "param name"), str(p.get("value") or ""))
             for p in params]
    return urlencode(pairs).encode("ascii"), size


def _response_body(exchange: Exchange, response: dict[str, Any], headers: Headers,
                   clock: _Clock, kind: str) -> None:
    content = _obj(response.get("content") or {}, "response.content")
    text = content.get("text")
    body = b""
    if isinstance(text, str):
        if content.get("encoding") == "base64":
            body = _b64(text, "response.content.text")
        else:
            body = _encode_text(text, content.get("mimeType"),
                                http.header(headers, b"content-type"))
    coding = http.header(headers, b"content-encoding")
    if body and not content.get("_undecoded"):
        compressed = encoded(body, coding)
        if compressed is None:
            exchange.notes.append(f"the body is stored decoded: HAR keeps no "
                                  f"{(coding or b'').decode('latin-1')} bytes")
        else:
            body = compressed
    size = len(body)
    if content.get("_truncated") or not isinstance(text, str):  # cut, or left out by the writer
        size = max(size, int(_num(content.get("size"))), int(_num(response.get("bodySize"))))
    exchange.events.append(Event(
        direction="send", type=kind, t_call=clock.response, t_return=clock.end,
        size=size if size > len(body) else None,
        message={"type": kind, "body": body, "more_body": False}))
    exchange.response = Counters(bytes=max(size, len(body)), chunks=1, kept_bytes=len(body))


def _encode_text(text: str, *types: Any) -> bytes:
    """HAR text back to bytes in the charset the body had (from ``content.mimeType`` or the
    Content-Type header); UTF-8 when unknown or unfit."""
    charset = next(filter(None, map(_charset, types)), "utf-8")
    try:
        data = codecs.encode(text, charset)
    except (LookupError, UnicodeError, TypeError):
        data = None
    return data if isinstance(data, bytes) else text.encode("utf-8", "surrogatepass")


def _charset(content_type: Any) -> str | None:
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    if isinstance(content_type, str):
        for param in content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "charset":
                return value.strip().strip('"')
    return None


# WebSocket ---------------------------------------------------------------------------------

def _websocket_events(exchange: Exchange, entry: dict[str, Any], response: dict[str, Any],
                      clock: _Clock) -> None:
    exchange.events.append(Event(direction="receive", type="websocket.connect",
                                 t_call=clock.request, t_return=clock.request_end,
                                 message={"type": "websocket.connect"}))
    status = response.get("status", 0)
    headers = _headers(response.get("headers") or [], "response.headers")
    if status == 101 or (status in (0, None) and entry.get("_webSocketMessages")):
        subprotocol = http.header(headers, b"sec-websocket-protocol")
        exchange.events.append(Event(
            direction="send", type="websocket.accept", t_call=clock.response,
            t_return=clock.response,
            message={"type": "websocket.accept",
                     "subprotocol": subprotocol.decode("latin-1") if subprotocol else None,
                     "headers": [h for h in headers if h[0] not in _WS_HANDSHAKE]}))
    elif isinstance(status, int) and status > 0:
        exchange.events.append(Event(
            direction="send", type="websocket.http.response.start", t_call=clock.response,
            t_return=clock.response,
            message={"type": "websocket.http.response.start", "status": status,
                     "headers": headers}))
        _response_body(exchange, response, headers, clock, "websocket.http.response.body")
    for item in _list(entry.get("_webSocketMessages") or [], "_webSocketMessages"):
        _ws_message(exchange, _obj(item, "WebSocket message"), clock.response)
    exchange.events.sort(key=lambda e: e.t_call)  # writers should sort by time; not all do
    close = entry.get("_webSocketClose")
    if isinstance(close, dict):
        code = close.get("code")
        last = max(parts.end_of(e) for e in exchange.events)
        t = max(_offset(exchange, close.get("timestamp"), clock.end), last)
        exchange.events.append(Event(
            direction="receive", type="websocket.disconnect", t_call=t, t_return=t,
            message={"type": "websocket.disconnect",
                     "code": code if isinstance(code, int) else 1005,
                     "reason": close.get("reason") if isinstance(close.get("reason"), str)
                     else ""}))


def _ws_message(exchange: Exchange, item: dict[str, Any], floor: int) -> None:
    kind = item.get("type")
    opcode = item.get("opcode")
    if kind not in ("send", "receive") or opcode not in (1, 2):
        return  # control frames and unknown kinds carry nothing the app saw
    data = _str(item.get("data"), "WebSocket message data", "")
    payload: dict[str, Any] = ({"bytes": _b64(data, "WebSocket message data")} if opcode == 2
                               else {"text": data})
    received = kind == "send"  # the client sent it: the app received it
    message_type = "websocket.receive" if received else "websocket.send"
    t = max(_offset(exchange, item.get("time"), floor), floor)
    exchange.events.append(Event(direction="receive" if received else "send", type=message_type,
                                 t_call=t, t_return=t, message={"type": message_type, **payload}))
    counters = exchange.request if received else exchange.response
    size = len(next(iter(payload.values())))
    counters.bytes += size
    counters.kept_bytes += size
    counters.chunks += 1


def _offset(exchange: Exchange, time: Any, default: int) -> int:
    """ns since the exchange started, from an epoch-seconds (or relative) time."""
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not abs(time) < 1e15:
        return default  # NaN, or past any epoch time in seconds or milliseconds
    seconds = time - exchange.started_at if time > 1e9 else time
    return max(int(seconds * 1e9), 0) if abs(seconds) < 1e7 else default


# how it ended ------------------------------------------------------------------------------

def _is_outcome(value: object) -> TypeGuard[Outcome]:
    return isinstance(value, str) and value in _OUTCOMES


def _settle(exchange: Exchange, entry: dict[str, Any], response: dict[str, Any]) -> None:
    exchange.ended_ns = max((parts.end_of(e) for e in exchange.events), default=0)
    error = entry.get("_error") if isinstance(entry.get("_error"), str) else None
    error = error or (response.get("_error") if isinstance(response.get("_error"), str) else None)
    outcome = entry.get("_outcome")
    if _is_outcome(outcome):
        exchange.outcome = outcome
    else:
        exchange.outcome = "complete" if exchange.status is not None else "no_response"
    if error:
        kind, _, message = error.partition(": ")
        if exchange.outcome == "exception":
            exchange.exception = ExceptionInfo(type=kind, message=message)
        else:
            exchange.notes.append(f"error: {error}")
