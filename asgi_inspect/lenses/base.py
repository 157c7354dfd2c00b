"""What a protocol lens is: one small object that reads an exchange in a protocol's terms.

The wire shows ``POST /graphql 200``; the app's users think "the mutation AddItem, which
failed". A lens recognises the exchanges of one protocol, names their operation, says when the
protocol reports a failure that HTTP does not, and renders their payloads as sections (tables
and blocks of text) that every view can show: the TUI's protocol tab, headless lines, the
filters (``~op``, and a flag per lens such as ``~gql``) and the Python API. Sections are plain
data, no Textual or Rich: a view decides how to draw them.

A lens reads a trace someone else wrote: whatever the bytes, its methods return (they may
return ``None`` or an empty reading, never raise); the registry still guards every call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from asgi_inspect import content
from asgi_inspect.model import Direction, Event, Exchange
from asgi_inspect.text import decode

Syntax = Literal["", "json", "graphql"]


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of cells under a title, such as an SSE stream's events or a form's fields.

    A cell may hold several lines (pretty JSON); a view wraps the last column when it is long.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""  # one line under the table: "assembled text of 14 chunks", "cut at 64 KiB"


@dataclass(frozen=True, slots=True)
class Block:
    """A titled block of text: a GraphQL query, a JSON-RPC result, a text assembled from a
    stream. ``syntax`` says how a view may highlight it."""

    title: str
    text: str
    syntax: Syntax = ""


Section = Table | Block


@dataclass(frozen=True, slots=True)
class Reading:
    """What one lens made of one exchange: cheap to compute, shown in one-line views.

    ``operation`` names what the client called ("query GetItems", "tools/call search",
    "chat"); ``error`` says why the protocol calls it a failure though the status may say
    200 ("2 GraphQL errors: Item not found"), empty when it did not fail.
    """

    lens: str
    operation: str = ""
    error: str = ""


class Lens(ABC):
    """A protocol's reading of exchanges. Subclasses set the three names and ``read``; those
    that render more than the one-line reading override ``sections``, and those that know a
    WebSocket subprotocol override ``frame``."""

    name: ClassVar[str]  # the key of its readings, e.g. "graphql"
    title: ClassVar[str]  # what a view calls it, e.g. "GraphQL"
    tag: ClassVar[str]  # the filter flag matching what it recognised: "gql" makes ``~gql``
    summary: ClassVar[str]  # the flag's line in the filter help: "GraphQL operations"

    @abstractmethod
    def read(self, exchange: Exchange) -> Reading | None:
        """Its reading of ``exchange``, or None when the exchange is not of its protocol.

        Called for every exchange a list shows, and again as a streaming exchange grows:
        decide from cheap facts first (type, method, content type, path) before parsing."""

    def sections(self, exchange: Exchange) -> list[Section]:
        """The payloads in the protocol's terms, for an exchange ``read`` recognised."""
        return []

    def frame(self, exchange: Exchange, event: Event) -> str | None:
        """One WebSocket frame of ``exchange`` in the protocol's terms (``42 event "chat"``),
        or None when the frame is not the protocol's."""
        return None


# Helpers every lens needs, so that each reads bodies and frames the same way.

def body(exchange: Exchange, direction: Direction) -> bytes:
    """The kept body of one direction, its Content-Encoding undone (as far as it goes)."""
    return content.data_of(exchange, direction)


def body_text(exchange: Exchange, direction: Direction) -> str:
    return decode(body(exchange, direction))


def frame_payload(event: Event) -> str | bytes | None:
    """The text or bytes of a WebSocket frame event (``websocket.receive``/``send``)."""
    message = event.message
    if not isinstance(message, dict):
        return None
    text = message.get("text")
    if isinstance(text, str):
        return text
    data = message.get("bytes")
    return data if isinstance(data, bytes) else None


def subprotocols(exchange: Exchange) -> list[str]:
    """The WebSocket subprotocols the client offered (``graphql-transport-ws``...)."""
    offered = exchange.scope.get("subprotocols") if isinstance(exchange.scope, dict) else None
    return [p for p in offered if isinstance(p, str)] if isinstance(offered, list) else []
