"""Bodies as lines of text: pretty JSON, url-decoded forms, HTML/text, and hex for binary.

Pure functions, no Textual: the body view renders the lines lazily, the pager gets them whole.
Every line is already :func:`~asgi_inspect.text.printable`. Whatever the bytes, rendering
returns: JSON that cannot be pretty-printed (not JSON, cut short, nested deeper than
:data:`~asgi_inspect.values.MAX_DEPTH` levels) is shown as text, with a note saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

from asgi_inspect.jsontext import parse, pretty
from asgi_inspect.text import decode, printable

SHOW_LIMIT = 64 * 1024  # bytes rendered in the pane until the user asks for all of it

Kind = Literal["empty", "json", "form", "html", "text", "binary"]


@dataclass(frozen=True)
class RenderedBody:
    kind: Kind
    lines: list[str]
    shown: int  # bytes of the body that the lines cover
    total: int  # bytes of the body that were kept
    note: str = ""  # why the body is not shown as its content type says (printable)


def classify(data: bytes, content_type: str) -> Kind:
    """What to render the body as, from its content type, then from a look at the bytes."""
    if not data:
        return "empty"
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime.endswith(("json", "+json")) or mime == "application/x-ndjson":
        return "json"
    if mime == "application/x-www-form-urlencoded":
        return "form"
    if mime.endswith(("html", "xml", "+xml")):
        return "html"
    if mime.startswith("text/") or mime.endswith(("javascript", "ecmascript")):
        return "text"
    head = data[:1024]
    if b"\x00" in head or not _mostly_text(head):
        return "binary"
    return "json" if head.lstrip()[:1] in (b"{", b"[") else "text"


def _mostly_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # a multi-byte character cut at the end is fine
            return False
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t")
    return controls * 20 < max(len(text), 1)


def render_body(data: bytes, content_type: str, limit: int | None = SHOW_LIMIT) -> RenderedBody:
    """Lines for ``data``; only the first ``limit`` bytes unless ``limit`` is None."""
    kind = classify(data, content_type)
    part = data if limit is None else data[:limit]
    note = ""
    if kind == "json":
        try:
            lines = _json_lines(part)
        except ValueError as exc:  # cut by the limit or the recorder's cap, not JSON, too deep
            kind, lines, note = "text", _text_lines(part), printable(f"{exc}: shown as text")
    elif kind == "form":
        lines = _form_lines(part)
    elif kind == "binary":
        lines = hex_dump(part)
    else:
        lines = _text_lines(part)
    return RenderedBody(kind, lines, len(part), len(data), note)


def _json_lines(data: bytes) -> list[str]:
    """Pretty-printed JSON, or newline-delimited JSON one value a line; ValueError saying
    why it is neither (the reason the whole text is not one JSON value)."""
    text = decode(data)
    try:
        value = parse(text)
    except ValueError as exc:
        try:
            values = [parse(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            values = []
        if not values:
            raise exc from None
        return [printable(json.dumps(v, ensure_ascii=False)) for v in values]
    return [printable(line) for line in pretty(value).split("\n")]


def _form_lines(data: bytes) -> list[str]:
    pairs = parse_qsl(decode(data), keep_blank_values=True)
    if not pairs:
        return _text_lines(data)
    width = min(max(len(printable(name)) for name, _ in pairs), 40)
    return [f"{printable(name):<{width}}  {printable(value)}" for name, value in pairs]


def _text_lines(data: bytes) -> list[str]:
    text = decode(data).replace("\r\n", "\n")
    return [printable(line.expandtabs(4)) for line in text.split("\n")]


def hex_dump(data: bytes, width: int = 16) -> list[str]:
    """``offset  hex bytes  |ascii|`` lines, like ``hexdump -C``."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset: offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<{width * 3 - 1}}  |{text}|")
    return lines
