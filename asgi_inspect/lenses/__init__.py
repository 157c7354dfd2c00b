"""Protocol lenses: exchanges read the way their protocol's users think of them.

Every view asks here, never a lens directly: :func:`readings` (what each lens that recognised
the exchange made of it), :func:`operation` and :func:`error` (one line for a list),
:func:`tagged` (the filter flags), :func:`sections` (a tab's content) and :func:`frame_label`
(a WebSocket frame in the subprotocol's terms). A lens that fails on a crafted trace is
contained here: its exchange reads as unrecognised, its sections as one block saying why.

:data:`LENSES` lists the built-in lenses, most specific first: an MCP call answered over SSE
is read by both the JSON-RPC and the SSE lens, and its operation comes from the first.
"""

from __future__ import annotations

from asgi_inspect.lenses.base import Block, Lens, Reading, Section, Table
from asgi_inspect.lenses.forms import FormLens
from asgi_inspect.lenses.graphql import GraphQLLens
from asgi_inspect.lenses.jsonrpc import JsonRpcLens
from asgi_inspect.lenses.socketio import SocketIOLens
from asgi_inspect.lenses.sse import SseLens
from asgi_inspect.model import Event, Exchange

__all__ = ["LENSES", "Block", "Lens", "Reading", "Section", "Table", "error", "frame_label",
           "lens_of", "operation", "readings", "sections", "tagged"]

LENSES: tuple[Lens, ...] = (GraphQLLens(), JsonRpcLens(), SocketIOLens(), SseLens(), FormLens())

_NONE: tuple[Reading, ...] = ()


def readings(exchange: Exchange) -> tuple[Reading, ...]:
    """The readings of every lens that recognised ``exchange``, in the registry's order.

    Kept on the exchange once it has ended (its events no longer change); a streaming
    exchange is read afresh each time, as its body grows.
    """
    cached = exchange.__dict__.get("_lens_readings")
    count = len(exchange.events)
    if cached is not None and cached[0] == count:
        return cached[1]  # type: ignore[no-any-return]
    found = tuple(r for r in (_read(lens, exchange) for lens in LENSES) if r is not None) \
        or _NONE
    if exchange.outcome != "streaming":
        exchange.__dict__["_lens_readings"] = (count, found)
    return found


def _read(lens: Lens, exchange: Exchange) -> Reading | None:
    try:
        return lens.read(exchange)
    except Exception:  # a crafted trace can hold anything: unrecognised, not a crash
        return None


def operation(exchange: Exchange) -> str:
    """What the client called, in the protocol's words; empty when no lens named one."""
    return next((r.operation for r in readings(exchange) if r.operation), "")


def error(exchange: Exchange) -> str:
    """Why a protocol calls the exchange a failure (a GraphQL ``errors`` list in a 200)."""
    return next((r.error for r in readings(exchange) if r.error), "")


def tagged(exchange: Exchange, tag: str) -> bool:
    """Whether the lens whose flag is ``tag`` recognised ``exchange``."""
    names = {lens.name for lens in LENSES if lens.tag == tag}
    return any(r.lens in names for r in readings(exchange))


def lens_of(reading: Reading) -> Lens:
    return next(lens for lens in LENSES if lens.name == reading.lens)


def sections(exchange: Exchange) -> list[tuple[Lens, list[Section]]]:
    """Each recognising lens with its sections, for a view that shows payloads."""
    found = []
    for reading in readings(exchange):
        lens = lens_of(reading)
        try:
            parts = lens.sections(exchange)
        except Exception as exc:  # shown, not raised: the other lenses and tabs still work
            parts = [Block(f"{lens.title}: could not read this exchange",
                           f"{type(exc).__name__}: {exc}")]
        found.append((lens, parts))
    return found


def frame_label(exchange: Exchange, event: Event) -> str | None:
    """A WebSocket frame in its subprotocol's terms, from the first lens that knows it."""
    for reading in readings(exchange):
        try:
            label = lens_of(reading).frame(exchange, event)
        except Exception:
            label = None
        if label:
            return label
    return None
