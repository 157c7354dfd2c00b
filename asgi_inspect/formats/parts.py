"""What the exporters need beyond :mod:`asgi_inspect.http`: bodies and timing anchors.

Traces can be hand-edited or come from anywhere, so nothing here trusts a message's shape.
"""

from __future__ import annotations

import zlib
from typing import Any

from asgi_inspect.model import Direction, Event, Exchange

_DECODERS = {b"gzip": 47, b"x-gzip": 47, b"deflate": 15}  # zlib wbits (47: gzip or zlib)


def message_of(event: Event) -> dict[str, Any]:
    return event.message if isinstance(event.message, dict) else {}


# bodies ------------------------------------------------------------------------------------

def body_size(exchange: Exchange, direction: Direction) -> tuple[bytes, int]:
    """The kept body and the size it had: more than ``len(kept)`` when it was capped."""
    kept = exchange.body(direction)
    counters = exchange.request if direction == "receive" else exchange.response
    return kept, max(counters.bytes, len(kept))


def decoded(body: bytes, content_encoding: bytes | None) -> bytes | None:
    """The body with its gzip/deflate Content-Encoding undone; None when it cannot be.

    A capped body is a prefix of the stream: it decodes to a prefix of the content.
    """
    if not content_encoding or content_encoding.strip().lower() == b"identity":
        return body
    wbits = _DECODERS.get(content_encoding.strip().lower())
    if wbits is None:
        return None
    try:
        return zlib.decompressobj(wbits).decompress(body)
    except zlib.error:
        try:  # some servers send raw deflate without the zlib header
            return zlib.decompressobj(-15).decompress(body)
        except zlib.error:
            return None


def encoded(body: bytes, content_encoding: bytes | None) -> bytes | None:
    """``body`` compressed as ``content_encoding`` says; None for codings we cannot make."""
    if not content_encoding or content_encoding.strip().lower() == b"identity":
        return body
    wbits = _DECODERS.get(content_encoding.strip().lower())
    if wbits is None:
        return None
    compressor = zlib.compressobj(wbits=31 if wbits == 47 else 15)
    return compressor.compress(body) + compressor.flush()


def end_of(event: Event) -> int:
    return event.t_call if event.t_return is None else event.t_return
