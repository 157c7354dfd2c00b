"""The Socket.IO lens: ``421["chat","hi"]`` read as ``42 event #1 "chat" ["hi"]``.

Socket.IO rides on Engine.IO, over long-polling HTTP requests (several packets a body,
separated by ``\\x1e`` in Engine.IO 4, length-prefixed in 3) or a WebSocket (a packet a
frame). An Engine.IO packet is a type digit (``0`` open, ``2`` ping, ``4`` message...) and its
data; a message carries a Socket.IO packet: a type digit (``0`` connect, ``2`` event,
``3`` ack...), an attachment count for binary packets, a namespace, an ack id and JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asgi_inspect import jsontext
from asgi_inspect.http import scope_of
from asgi_inspect.lenses.base import Lens, Reading, Section, Table, body_text, frame_payload
from asgi_inspect.model import Direction, Event, Exchange
from asgi_inspect.units import format_duration

ENGINE_TYPES = {"0": "open", "1": "close", "2": "ping", "3": "pong", "4": "message",
                "5": "upgrade", "6": "noop"}
SOCKET_TYPES = {"0": "connect", "1": "disconnect", "2": "event", "3": "ack",
                "4": "connect_error", "5": "binary_event", "6": "binary_ack"}
MAX_PACKETS = 1000  # read per exchange; a note says how many more there were
MAX_NAMED = 3  # event names in one list line before "+N"
MAX_ARGS = 200  # characters of arguments in a frame label
SEPARATOR = "\x1e"  # between the packets of an Engine.IO 4 polling payload
_HANDSHAKE = re.compile(rb"(?:^|&)EIO=[34](?:&|$)")
_TRANSPORT = re.compile(rb"(?:^|&)transport=(?:polling|websocket)(?:&|$)")
_EIO3_LENGTH = re.compile(r"(\d{1,9}):")


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet, and the Socket.IO packet a message carries."""

    code: str  # the type digits as sent: "0", "42"; "b" for binary data
    engine: str  # "open", "message"...; "binary" for an attachment
    socket: str = ""  # "event", "ack"... for a message
    namespace: str = ""  # "/chat"; empty for the default "/"
    ack: str = ""  # the ack id an event asks for or an ack answers
    event: str = ""
    data: Any = None  # the arguments of an event, else the packet's JSON (or its text)
    size: int = 0  # bytes of a binary attachment


# --- parsing ---------------------------------------------------------------------------------

def packet(text: str) -> Packet | None:
    """One Engine.IO packet in text form, or None when it is none (an unknown type)."""
    if text[:1] == "b":  # base64 binary data in a polling payload (Engine.IO 4)
        return Packet("b", "binary", size=len(text[1:].rstrip("=")) * 3 // 4)
    engine = ENGINE_TYPES.get(text[:1])
    if engine is None:
        return None
    if engine == "message":
        return _socket_packet(text[1:])
    return Packet(text[:1], engine, data=_data(text[1:]))


def _socket_packet(text: str) -> Packet:
    """The Socket.IO packet inside an Engine.IO message: ``2/chat,5["chat","hi"]``."""
    socket = SOCKET_TYPES.get(text[:1])
    if socket is None:
        return Packet("4", "message", data=_data(text))
    rest = text[1:]
    if socket.startswith("binary"):  # the attachment count: "1-"
        count, dash, after = rest.partition("-")
        rest = after if dash and count.isdigit() else rest
    namespace = ""
    if rest[:1] == "/":
        namespace, _, rest = rest.partition(",")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    ack, data = rest[:digits], _data(rest[digits:])
    if socket in ("event", "binary_event") and isinstance(data, list) and data \
            and isinstance(data[0], str):
        return Packet("4" + text[:1], "message", socket, namespace, ack, data[0], data[1:])
    return Packet("4" + text[:1], "message", socket, namespace, ack, data=data)


def _data(text: str) -> Any:
    """A packet's JSON data, its text when it is not JSON, None when there is none."""
    if not text:
        return None
    try:
        return jsontext.parse(text)
    except ValueError:
        return text


def payload_texts(text: str, version: str) -> Iterator[str]:
    """The packets of a polling payload, as text: split at ``\\x1e`` (Engine.IO 4) or read
    by their length prefixes (3; what does not parse is one packet as it stands)."""
    if version != "3":
        yield from text.split(SEPARATOR, MAX_PACKETS)[:MAX_PACKETS]
        return
    at = 0
    while at < len(text):
        match = _EIO3_LENGTH.match(text, at)
        if match is None:
            yield text[at:]
            return
        end = match.end() + int(match.group(1))
        yield text[match.end():end]
        at = end


# --- where the packets are -------------------------------------------------------------------

def recognised(exchange: Exchange) -> bool:
    """An Engine.IO request or session: ``/socket.io/?EIO=4``, or ``EIO=3|4`` with a
    ``transport`` anywhere (a server mounted at another path)."""
    if exchange.type not in ("http", "websocket"):
        return False
    query = scope_of(exchange).get("query_string")
    if not isinstance(query, bytes) or b"EIO=" not in query:
        return False
    return "/socket.io/" in f"{exchange.path}" or bool(
        _HANDSHAKE.search(query) and _TRANSPORT.search(query))


def version_of(exchange: Exchange) -> str:
    query = scope_of(exchange).get("query_string")
    return "3" if isinstance(query, bytes) and b"EIO=3" in query else "4"


def packets(exchange: Exchange) -> Iterator[tuple[Event, Packet | str]]:
    """The packets of an exchange with the event that carried them, in order: the frames of
    a session, the body of a polling request (a POST's request, a GET's response: the other
    is ``ok`` or empty). A frame or payload part that is no packet comes as its text."""
    if exchange.type == "websocket":
        for event in exchange.events[:MAX_PACKETS]:
            if event.type in ("websocket.receive", "websocket.send"):
                found = _frame_packet(event)
                if found is not None:
                    yield event, found
        return
    version = version_of(exchange)
    direction: Direction = "receive" if exchange.method == "POST" else "send"
    kind = "http.request" if direction == "receive" else "http.response.body"
    carrier = next((e for e in exchange.events
                    if e.direction == direction and e.type == kind), None)
    text = body_text(exchange, direction)
    if carrier is not None and text:
        for part in payload_texts(text, version):
            yield carrier, packet(part) or part


def _frame_packet(event: Event) -> Packet | str | None:
    payload = frame_payload(event)
    if isinstance(payload, bytes):
        return Packet("", "binary", size=len(payload))
    return None if payload is None else packet(payload) or payload


# --- showing them ----------------------------------------------------------------------------

def label(found: Packet | str) -> str:
    """``42 event #1 "chat" ["hi"]``, ``43 ack #1 ["ok"]``, ``40 connect /chat {...}``."""
    if isinstance(found, str):
        return f"not a packet: {_cut(found)}"
    if found.engine == "binary":
        return f"binary attachment ({found.size:,} bytes)"
    words = [found.code, found.socket or found.engine, found.namespace,
             f"#{found.ack}" if found.ack else "",
             json.dumps(found.event, ensure_ascii=False) if found.event else "",
             "" if found.data is None or found.data == [] else _cut(_compact(found.data))]
    return " ".join(word for word in words if word)


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ARGS else text[:MAX_ARGS] + "…"


def _named(names: list[str]) -> str:
    distinct = list(dict.fromkeys(n for n in names if n))
    shown = ", ".join(distinct[:MAX_NAMED])
    return f"{shown} +{len(distinct) - MAX_NAMED}" if len(distinct) > MAX_NAMED else shown


def _row(event: Event, found: Packet | str) -> tuple[str, ...]:
    arrow = "→" if event.direction == "receive" else "←"
    when = format_duration(event.t_call)
    if isinstance(found, str):
        return (arrow, when, "?", "", "", "", found)
    data = "" if found.data is None else (
        found.data if isinstance(found.data, str) else jsontext.pretty(found.data))
    if found.engine == "binary":
        data = f"{found.size:,} bytes"
    return (arrow, when, f"{found.code[:1]} {found.engine}",
            f"{found.code[1:]} {found.socket}".strip(), found.namespace or "/",
            f"{found.event}{' #' + found.ack if found.ack else ''}", data)


class SocketIOLens(Lens):
    name = "socketio"
    title = "Socket.IO"
    tag = "sio"
    summary = "Socket.IO / Engine.IO polling requests and WebSocket sessions"

    def read(self, exchange: Exchange) -> Reading | None:
        if not recognised(exchange):
            return None
        events: list[str] = []
        error = ""
        for _, found in packets(exchange):
            if isinstance(found, Packet):
                events.append(found.event)
                if found.socket == "connect_error" and not error:
                    error = f"Socket.IO connect_error: {_cut(_message(found.data))}"
        return Reading(self.name, _named(events), error)

    def sections(self, exchange: Exchange) -> list[Section]:
        rows = tuple(_row(event, found) for event, found in packets(exchange))
        more = len(exchange.events) - MAX_PACKETS if exchange.type == "websocket" else 0
        note = f"the first {MAX_PACKETS:,} events read; {more:,} more" if more > 0 else ""
        return [Table("Socket.IO packets", ("", "time", "engine", "socket", "namespace",
                                             "event", "data"), rows, note)]

    def frame(self, exchange: Exchange, event: Event) -> str | None:
        if event.type not in ("websocket.receive", "websocket.send"):
            return None
        found = _frame_packet(event)
        return None if found is None else label(found)


def _message(data: Any) -> str:
    message = data.get("message") if isinstance(data, dict) else data
    return message if isinstance(message, str) else _compact(message)
