"""JSON read from captured bytes, bounded: whatever a client or app sent, reading it returns.

The body view, the protocol lenses and the diff all parse JSON someone else wrote; a 3 KB
body nested 3,000 deep must give a reason, never a ``RecursionError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from asgi_inspect.values import MAX_DEPTH


def parse(text: str | bytes) -> Any:
    """One JSON value, nested at most ``MAX_DEPTH`` levels so that printing it cannot exhaust
    the stack; ValueError with a short reason otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column "
                         f"{exc.colno})") from None
    except RecursionError:  # the parser recurses once a level
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # a number too long to convert, for one: its first clause
        raise ValueError(f"not readable as JSON ({str(exc).split(':')[0]})") from None
    if deeper_than(value, MAX_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def pretty(value: Any) -> str:
    """A parsed value as indented JSON (non-ASCII kept as it is; not yet made printable)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` holds a list or object ``limit`` levels down (walked level by level,
    without recursion)."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level for child in _children(item)]
        if not level:
            return False
    return any(isinstance(item, (dict, list)) for item in level)


def _children(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        return value.values()
    return value if isinstance(value, list) else ()
