"""What the exporters need beyond :mod:`asgi_inspect.http`: bodies and timing anchors.

Content-Encoding is undone (and done again, for a HAR import) by :mod:`asgi_inspect.content`.

Traces can be hand-edited or come from anywhere, so nothing here trusts a message's shape.
"""

from __future__ import annotations

from typing import Any

from asgi_inspect.model import Direction, Event, Exchange


def message_of(event: Event) -> dict[str, Any]:
    return event.message if isinstance(event.message, dict) else {}


# bodies ------------------------------------------------------------------------------------

def body_size(exchange: Exchange, direction: Direction) -> tuple[bytes, int]:
    """The kept body and the size it had: more than ``len(kept)`` when it was capped."""
    kept = exchange.body(direction)
    counters = exchange.request if direction == "receive" else exchange.response
    return kept, max(counters.bytes, len(kept))


def end_of(event: Event) -> int:
    return event.t_call if event.t_return is None else event.t_return
