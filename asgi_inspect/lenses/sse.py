"""The Server-Sent Events lens: a ``text/event-stream`` response read as its events.

DevTools' EventStream tab in a terminal: one row per event (when it was sent, its ``id``,
``event``, ``retry`` and ``data``, JSON pretty-printed), the stream's state (open, ended, cut
by the capture cap), and for an LLM-style stream (``data: {...}`` chunks ending in
``[DONE]``) the text the chunks assemble. :func:`parse_stream` is the one SSE parser: the
JSON-RPC lens reads an MCP answer sent as a stream through it too.

Parsing follows the WHATWG rules: lines end in CRLF, LF or CR; ``field: value`` with one space
after the colon dropped; ``data`` lines joined by ``\\n``; a line starting with ``:`` is a
comment; a blank line ends the event. Each event is timed by the response body chunk that
completed it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from asgi_inspect import jsontext
from asgi_inspect.http import header_text, response_headers, response_type
from asgi_inspect.lenses.base import Block, Lens, Reading, Section, Table, body
from asgi_inspect.model import Event, Exchange
from asgi_inspect.units import format_duration, format_size, plural

MAX_EVENTS = 1000  # events kept for a table; past it they are counted
MEDIA_TYPE = "text/event-stream"
DONE = "[DONE]"  # the OpenAI-style end of an LLM stream
_BOM = b"\xef\xbb\xbf"
_ENDED = {
    "complete": "ended cleanly",
    "client_disconnected": "closed by the client",
    "exception": "ended: the app raised",
    "incomplete": "ended without its final chunk",
    "cancelled": "ended: cancelled",
    "no_response": "ended without a response",
}


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One event of a stream; ``t_ns`` is when the chunk that completed it was sent (ns since
    the exchange started; None when the stream's chunks cannot be timed)."""

    data: str
    event: str = ""
    id: str | None = None
    retry: int | None = None
    t_ns: int | None = None
    complete: bool = True  # False: the stream stopped before the blank line that ends it


@dataclass(slots=True)
class EventStream:
    """The parsed events (the first ``MAX_EVENTS``), and what else the stream held."""

    events: list[ServerEvent] = field(default_factory=list)
    more: int = 0  # events past MAX_EVENTS, counted only
    comments: int = 0  # ``:`` lines (keep-alives)
    timed: bool = True  # False when a Content-Encoding hid the chunk boundaries


@dataclass(slots=True)
class _Fields:
    """The event being read: the buffers of the spec's dispatch algorithm."""

    data: list[str] = field(default_factory=list)
    event: str = ""
    id: str | None = None
    retry: int | None = None
    seen: bool = False  # some field was set since the last blank line


def is_event_stream(exchange: Exchange) -> bool:
    """Whether the response says it is an event stream (cheap: one header)."""
    return response_type(exchange) == MEDIA_TYPE


def response_chunks(exchange: Exchange) -> Iterator[tuple[bytes, int | None]]:
    """The response body as sent, chunk by chunk, each with when its send returned (ns since
    the exchange started). A compressed body comes whole and untimed (its chunks split the
    compressed bytes, not the events)."""
    if header_text(response_headers(exchange), b"content-encoding").strip().lower() \
            not in ("", "identity"):
        yield body(exchange, "send"), None
        return
    for event in exchange.events:
        message = event.message
        if event.direction == "send" and event.type == "http.response.body" \
                and isinstance(message, dict):
            chunk = message.get("body")
            if isinstance(chunk, bytes) and chunk:
                yield chunk, _sent_at(event)


def _sent_at(event: Event) -> int:
    """When a send went through (its return), or when it was made if it never returned."""
    return event.t_call if event.t_return is None else event.t_return


def parse_stream(exchange: Exchange) -> EventStream:
    """The events of ``exchange``'s response body, in order."""
    chunks = list(response_chunks(exchange))
    data = b"".join(chunk for chunk, _ in chunks)
    ends: list[int] = []
    for chunk, _ in chunks:
        ends.append((ends[-1] if ends else 0) + len(chunk))
    times = [t for _, t in chunks]
    stream = EventStream(timed=all(t is not None for t in times))

    def time_at(offset: int) -> int | None:
        index = bisect_left(ends, offset)
        return times[index] if index < len(times) else None

    start = len(_BOM) if data.startswith(_BOM) else 0
    fields = _Fields()
    offset = start
    for line in data[start:].splitlines(keepends=True):
        offset += len(line)
        content = line.rstrip(b"\r\n")
        if content.startswith(b":"):
            stream.comments += 1
        elif content:
            _read_field(content, fields)
        elif fields.seen:
            _dispatch(stream, fields, time_at(offset), complete=True)
            fields = _Fields()
    if fields.seen:  # no blank line yet: pending while streaming, lost if it never came
        _dispatch(stream, fields, time_at(offset), complete=False)
    return stream


def _read_field(line: bytes, fields: _Fields) -> None:
    """Apply one ``field: value`` line to the event being read."""
    name, colon, value = line.partition(b":")
    if colon and value.startswith(b" "):
        value = value[1:]
    text = value.decode("utf-8", "replace")
    if name == b"data":
        fields.data.append(text)
    elif name == b"event":
        fields.event = text
    elif name == b"id" and "\0" not in text:
        fields.id = text
    elif name == b"retry" and value.isdigit():
        fields.retry = int(value)
    else:
        return  # an unknown field is ignored, as a browser does
    fields.seen = True


def _dispatch(stream: EventStream, fields: _Fields, t_ns: int | None, *, complete: bool) -> None:
    """Keep the event just read (rows past ``MAX_EVENTS`` are only counted).

    Unlike a browser, an inspector also shows a block that set only ``id`` or ``retry``: the
    client acted on it, though no ``message`` event fired."""
    if len(stream.events) >= MAX_EVENTS:
        stream.more += 1
        return
    stream.events.append(ServerEvent("\n".join(fields.data), fields.event, fields.id,
                                     fields.retry, t_ns, complete))


def json_data(event: ServerEvent) -> Any:
    """An event's data as JSON, or None when it is not a JSON object or array."""
    if not event.data.lstrip().startswith(("{", "[")):
        return None
    try:
        return jsontext.parse(event.data)
    except ValueError:
        return None


def stream_state(exchange: Exchange) -> str:
    """Open, ended (and how), or cut by the capture cap."""
    counters = exchange.response
    if counters.bytes > counters.kept_bytes or counters.elided:
        return (f"cut: capture capped at {format_size(counters.kept_bytes)}: "
                "later events not kept")
    if exchange.outcome == "streaming":
        return "open: streaming"
    return _ENDED.get(exchange.outcome, f"ended: {exchange.outcome}")


# LLM streams ---------------------------------------------------------------------------------

def text_piece(chunk: Any) -> str | None:
    """The text one LLM stream chunk adds, in the common shapes: OpenAI chat and completions
    (``choices[0].delta.content``, ``choices[0].text``), the OpenAI Responses API
    (``response.output_text.delta``), Anthropic (``content_block_delta`` / ``text_delta``)
    and Gemini (``candidates[0].content.parts[].text``); None for any other chunk."""
    if not isinstance(chunk, dict):
        return None
    choice = _first(chunk.get("choices"))
    if choice is not None:
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        return content if isinstance(content, str) else None
    kind = chunk.get("type")
    if kind == "response.output_text.delta":
        return _str(chunk.get("delta"))
    if kind == "content_block_delta":
        delta = chunk.get("delta")
        return _str(delta.get("text")) if isinstance(delta, dict) else None
    candidate = _first(chunk.get("candidates"))
    content = candidate.get("content") if candidate is not None else None
    parts = content.get("parts") if isinstance(content, dict) else None
    if isinstance(parts, list):
        return "".join(p["text"] for p in parts if isinstance(p, dict)
                       and isinstance(p.get("text"), str))
    return None


def _first(value: Any) -> dict[str, Any] | None:
    first = value[0] if isinstance(value, list) and value else None
    return first if isinstance(first, dict) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def assembled_text(events: list[ServerEvent]) -> tuple[str, int] | None:
    """The text an LLM stream's chunks add up to, with the number of chunks that added to
    it; None when the stream is not one (no text chunk, no ``[DONE]``)."""
    pieces = []
    done = False
    for event in events:
        if event.data.strip() == DONE:
            done = True
            continue
        piece = text_piece(json_data(event))
        if piece is not None:
            pieces.append(piece)
    if not pieces and not done:
        return None
    return "".join(pieces), len(pieces)


# the lens ------------------------------------------------------------------------------------

def _cell(event: ServerEvent, start_ns: int | None) -> tuple[str, ...]:
    """One row of the events table: time since the response started, id, event, retry, data."""
    if not event.complete:
        when = "pending"
    elif event.t_ns is None or start_ns is None:
        when = ""
    else:
        when = format_duration(max(event.t_ns - start_ns, 0))
    value = json_data(event)
    data = event.data if value is None else jsontext.pretty(value)
    retry = "" if event.retry is None else str(event.retry)
    return (when, event.id or "", event.event or "message", retry, data)


def _notes(exchange: Exchange, stream: EventStream) -> str:
    """The line under the table: the stream's state, then what the table leaves out."""
    notes = [stream_state(exchange)]
    if stream.events and not stream.events[-1].complete:
        notes.append("last event pending (no blank line yet)" if exchange.outcome == "streaming"
                     else "last event never ended (no blank line)")
    if stream.more:
        notes.append(f"{plural(stream.more, 'more event')} not shown")
    if stream.comments:
        notes.append(f"{plural(stream.comments, 'comment')} (keep-alives)")
    if not stream.timed:
        notes.append("compressed: event times not known")
    return "; ".join(notes)


class SseLens(Lens):
    """Server-Sent Events: recognised by the response's ``Content-Type``."""

    name = "sse"
    title = "Events"
    tag = "sse"
    summary = "Server-Sent Events streams"

    def read(self, exchange: Exchange) -> Reading | None:
        if exchange.type != "http" or not is_event_stream(exchange):
            return None
        return Reading(self.name)

    def sections(self, exchange: Exchange) -> list[Section]:
        stream = parse_stream(exchange)
        start = exchange.response_start
        start_ns = None if start is None else _sent_at(start)
        rows = tuple(_cell(event, start_ns) for event in stream.events)
        title = f"Events ({plural(len(stream.events) + stream.more, 'event')})"
        found: list[Section] = [Table(title, ("time", "id", "event", "retry", "data"), rows,
                                      _notes(exchange, stream))]
        assembled = assembled_text(stream.events)
        if assembled is not None:  # what the user reads of an LLM stream: first
            text, pieces = assembled
            found.insert(0, Block(f"Assembled text ({plural(pieces, 'chunk')})", text))
        return found
