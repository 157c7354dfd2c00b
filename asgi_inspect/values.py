"""Lossless JSON for snapshot values.

ASGI messages carry bytes, str, ints, floats, bools, None, lists and dicts (plus, in real
traffic, objects that are none of these). JSON has no bytes and no non-string keys, so those
become one-key objects whose key starts with ``$``:

- ``{"$b": "text"}``: bytes that are valid UTF-8, stored as text for readability;
- ``{"$b64": "..."}``: any other bytes;
- ``{"$map": [[key, value], ...]}``: a dict with a non-str key or a key starting with ``$``;
- ``{"$float": "nan" | "inf" | "-inf"}``: floats JSON cannot spell;
- ``{"$opaque": {"type": ..., "repr": ...}}``: a value the recorder could not keep as data.

Every other dict is a plain JSON object, so ordinary scopes and messages stay readable.
Tuples become lists (the one thing not kept: ASGI treats them alike).

Values nest at most :data:`MAX_DEPTH` levels: a deeper container is written as an opaque value
saying so, and a file holding one is refused, so no reader, exporter or view of a value can
reach Python's recursion limit whatever a file or an app hands it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from typing import Any

from asgi_inspect.model import Opaque

# ASGI scopes and messages nest a few levels; a hundred is far past any real one, and keeps
# a walk over a value (three frames a level at most) well inside Python's recursion limit.
MAX_DEPTH = 100
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"

VALUE_SCHEMA: dict[str, Any] = {
    "description": "A snapshot value; bytes and other non-JSON values are tagged with $ keys.",
    "anyOf": [
        {"type": ["string", "number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#/$defs/Value"}},
        {"type": "object", "required": ["$b"], "additionalProperties": False,
         "properties": {"$b": {"type": "string"}}},
        {"type": "object", "required": ["$b64"], "additionalProperties": False,
         "properties": {"$b64": {"type": "string", "contentEncoding": "base64"}}},
        {"type": "object", "required": ["$float"], "additionalProperties": False,
         "properties": {"$float": {"enum": ["nan", "inf", "-inf"]}}},
        {"type": "object", "required": ["$opaque"], "additionalProperties": False,
         "properties": {"$opaque": {"type": "object", "required": ["type", "repr"],
                                    "properties": {"type": {"type": "string"},
                                                   "repr": {"type": "string"}}}}},
        {"type": "object", "required": ["$map"], "additionalProperties": False,
         "properties": {"$map": {"type": "array", "items": {
             "type": "array", "minItems": 2, "maxItems": 2,
             "items": {"$ref": "#/$defs/Value"}}}}},
        {"type": "object", "propertyNames": {"not": {"pattern": "^\\$"}},
         "additionalProperties": {"$ref": "#/$defs/Value"}},
    ],
}


class BadValue(ValueError):
    """A tagged value that does not decode."""


def to_json(value: Any, depth: int = 0) -> Any:
    """Turn a native snapshot value into JSON-safe, tagged data.

    A container ``MAX_DEPTH`` levels down becomes an opaque value that says so (what
    :func:`from_json` accepts, and no recursion past the bound).
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_to_json(bytes(value))
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_DEPTH:
        return {"$opaque": {"type": type(value).__qualname__, "repr": _TOO_DEEP}}
    inner = depth + 1
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: to_json(v, inner) for k, v in value.items()}
        return {"$map": [[to_json(k, inner), to_json(v, inner)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [to_json(v, inner) for v in value]
    if isinstance(value, Opaque):
        return {"$opaque": {"type": value.type, "repr": value.repr}}
    return {"$opaque": {"type": type(value).__qualname__, "repr": safe_repr(value)}}


def from_json(value: Any, depth: int = 0) -> Any:
    """Inverse of :func:`to_json`; :class:`BadValue` for a container deeper than
    ``MAX_DEPTH`` (no file makes it recurse further)."""
    if not isinstance(value, (list, dict)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key.startswith("$"):
            return _from_tag(key, inner, depth)
    if depth >= MAX_DEPTH:
        raise BadValue(f"a value is {_TOO_DEEP}")
    if isinstance(value, list):
        return [from_json(v, depth + 1) for v in value]
    return {k: from_json(v, depth + 1) for k, v in value.items()}


def _bytes_to_json(data: bytes) -> dict[str, str]:
    try:
        return {"$b": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"$b64": base64.b64encode(data).decode("ascii")}


def _from_tag(key: str, inner: Any, depth: int) -> Any:
    if key == "$map":
        return _from_map(inner, depth)
    try:
        if key == "$b":
            return inner.encode("utf-8")
        if key == "$b64":
            return base64.b64decode(inner, validate=True)
        if key == "$float":
            return float(inner)
        if key == "$opaque":
            return Opaque(type=_string(inner["type"]), repr=_string(inner["repr"]))
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise BadValue(f"bad {key} value: {exc}") from None
    raise BadValue(f"unknown tag {key!r}")


def _from_map(pairs: Any, depth: int) -> dict[Any, Any]:
    if depth >= MAX_DEPTH:
        raise BadValue(f"a value is {_TOO_DEEP}")
    try:
        return {_hashable(from_json(k, depth + 1)): from_json(v, depth + 1) for k, v in pairs}
    except BadValue:
        raise
    except (TypeError, ValueError) as exc:  # not pairs, or a key that cannot be one
        raise BadValue(f"bad $map value: {exc}") from None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def safe_repr(value: Any, limit: int = 200) -> str:
    """A repr that never raises and never grows past ``limit`` characters."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break recording
        text = f"<{type(value).__qualname__}: repr raised {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"



VALUE_TEXT_LIMIT = 2000  # characters of a value shown on one line


def value_text(value: Any, limit: int = VALUE_TEXT_LIMIT) -> str:
    """A snapshot value as one line of Python-like text for a view, opaque values as what
    they were (a function as ``module.qualname``).

    Containers are walked without recursion and the text stops at ``limit`` characters, so
    no value (however deep, long or cyclic) can exhaust the stack or grow a line without
    bound. Not escaped: views pass the text through :func:`asgi_inspect.text.printable`.
    """
    out: list[str] = []
    size = 0
    for piece in _pieces(value, limit):
        out.append(piece)
        size += len(piece)
        if size > limit:
            return "".join(out)[: limit - 1] + "…"
    return "".join(out)


class _Literal(str):
    """Punctuation between the parts of a container (as opposed to a str value)."""


def _pieces(value: Any, limit: int) -> Iterator[str]:
    """The text of ``value`` piece by piece, depth first, with a stack instead of recursion."""
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], stack)  # the stack itself marks the end of an iterator
        if item is stack:
            stack.pop()
        elif type(item) is _Literal:
            yield item
        elif isinstance(item, (dict, list, tuple)):
            stack.append(_parts(item))
        elif isinstance(item, Opaque):
            yield item.repr[: limit + 1]
        elif isinstance(item, (str, bytes)):
            yield repr(item[: limit + 1])
        else:
            yield safe_repr(item, limit + 1)


def _parts(container: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    """A container's brackets and separators as literals, its keys and items as values."""
    entries: Iterator[tuple[Any, ...]]
    if isinstance(container, dict):
        opening, closing = "{", "}"
        entries = ((key, _Literal(": "), item) for key, item in container.items())
    else:
        opening, closing = "[", "]"
        entries = ((item,) for item in container)
    yield _Literal(opening)
    for n, entry in enumerate(entries):
        if n:
            yield _Literal(", ")
        yield from entry
    yield _Literal(closing)
