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
"""

from __future__ import annotations

import base64
import math
from typing import Any

from asgi_inspect.model import Opaque

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


def to_json(value: Any) -> Any:
    """Turn a native snapshot value into JSON-safe, tagged data."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_to_json(bytes(value))
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: to_json(v) for k, v in value.items()}
        return {"$map": [[to_json(k), to_json(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Opaque):
        return {"$opaque": {"type": value.type, "repr": value.repr}}
    return {"$opaque": {"type": type(value).__qualname__, "repr": safe_repr(value)}}


def from_json(value: Any) -> Any:
    """Inverse of :func:`to_json`."""
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key.startswith("$"):
            return _from_tag(key, inner)
    return {k: from_json(v) for k, v in value.items()}


def _bytes_to_json(data: bytes) -> dict[str, str]:
    try:
        return {"$b": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"$b64": base64.b64encode(data).decode("ascii")}


def _from_tag(key: str, inner: Any) -> Any:
    try:
        if key == "$b":
            return inner.encode("utf-8")
        if key == "$b64":
            return base64.b64decode(inner, validate=True)
        if key == "$float":
            return float(inner)
        if key == "$map":
            return {_hashable(from_json(k)): from_json(v) for k, v in inner}
        if key == "$opaque":
            return Opaque(type=str(inner["type"]), repr=str(inner["repr"]))
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise BadValue(f"bad {key} value: {exc}") from None
    raise BadValue(f"unknown tag {key!r}")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def safe_repr(value: Any, limit: int = 200) -> str:
    """A repr that never raises and never grows past ``limit`` characters."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break recording
        text = f"<{type(value).__qualname__}: repr raised {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"

