"""Compare a replay with its original: status, headers, body, message sequence, timing.

Headers are compared as a multiset (order does not matter) without the volatile ones (dates,
request ids, cookie values...), JSON bodies structurally, text bodies line by line, binary bodies
by size and hash; the volatile parts of bodies and frames a :class:`BodyIgnore` names (JSON
fields, text patterns) are left out on both sides first. Differences in chunking and timing
are reported but do not make a replay "differ": they are not what a client sees as the answer.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asgi_inspect.content import body_of
from asgi_inspect.http import VOLATILE_HEADERS, status_text
from asgi_inspect.model import Exchange
from asgi_inspect.replay.ignore import NOTHING, BodyIgnore
from asgi_inspect.units import format_duration

MAX_BODY_LINES = 200


@dataclass(frozen=True)
class Change:
    section: str  # status, headers, body, frames, messages, timing
    text: str
    significant: bool = True


@dataclass
class Diff:
    original: Exchange
    replay: Exchange
    changes: list[Change] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return any(c.significant for c in self.changes)

    def summary(self) -> str:
        """One line: "same", or the sections that differ."""
        sections = list(dict.fromkeys(c.section for c in self.changes if c.significant))
        if not sections:
            return "same"
        status = next((c.text for c in self.changes if c.section == "status"), "")
        return "differs: " + ", ".join(status if s == "status" else s for s in sections)


def diff_exchanges(original: Exchange, replay: Exchange, *,
                   ignore_headers: Sequence[str] = VOLATILE_HEADERS,
                   ignore_body: BodyIgnore = NOTHING) -> Diff:
    ignored = {h.lower() for h in ignore_headers}
    if ignore_body:  # a length follows the parts left out: the body comparison covers it
        ignored.add("content-length")
    changes = [*_status(original, replay), *_headers(original, replay, ignored)]
    if original.type == "websocket":
        changes += _frames(original, replay, ignore_body)
    changes += [*_body(original, replay, ignore_body), *_messages(original, replay),
                *_timing(original, replay)]
    return Diff(original, replay, changes)


def _status(a: Exchange, b: Exchange) -> Iterator[Change]:
    if a.status != b.status:
        yield Change("status", f"status {status_text(a)} → {status_text(b)}")
    if a.outcome != b.outcome:
        yield Change("outcome", f"outcome {a.outcome} → {b.outcome}")
    if (a.exception is None) != (b.exception is None) or (
            a.exception and b.exception and a.exception.type != b.exception.type):
        before = a.exception.type if a.exception else "none"
        after = b.exception.type if b.exception else "none"
        yield Change("exception", f"exception {before} → {after}")


def _header_set(exchange: Exchange, ignored: set[str]) -> Counter[tuple[str, str]]:
    counted: Counter[tuple[str, str]] = Counter()
    for raw_name, raw_value in exchange.response_headers:
        name = raw_name.decode("latin-1").lower()
        if name in ignored:
            continue
        value = raw_value.decode("latin-1")
        if name == "set-cookie":  # the cookie's name matters, its value is usually fresh
            value = value.split("=", 1)[0] + "=…"
        counted[(name, value)] += 1
    return counted


def _headers(a: Exchange, b: Exchange, ignored: set[str]) -> Iterator[Change]:
    before, after = _header_set(a, ignored), _header_set(b, ignored)
    for (name, value), _ in sorted((before - after).items()):
        yield Change("headers", f"- {name}: {value}")
    for (name, value), _ in sorted((after - before).items()):
        yield Change("headers", f"+ {name}: {value}")


def _frames(a: Exchange, b: Exchange, ignore: BodyIgnore) -> Iterator[Change]:
    before, after = _sent_frames(a, ignore), _sent_frames(b, ignore)
    for line in difflib.unified_diff(before, after, "original", "replay", n=1, lineterm=""):
        if not line.startswith(("---", "+++")):
            yield Change("frames", line)


def _sent_frames(exchange: Exchange, ignore: BodyIgnore) -> list[str]:
    frames = []
    for event in exchange.events:
        if event.type == "websocket.send" and isinstance(event.message, dict):
            data = event.message.get("text")
            if isinstance(data, str) and ignore:
                data = _ignored_in_text(data, ignore)
            elif data is None:
                data = f"<{len(event.message.get('bytes') or b'')} bytes "
                data += hashlib.sha256(event.message.get("bytes") or b"").hexdigest()[:12] + ">"
            frames.append(str(data))
        elif event.type == "websocket.close" and isinstance(event.message, dict):
            frames.append(f"<close {event.message.get('code', 1000)}>")
    return frames


def _body(a: Exchange, b: Exchange, ignore: BodyIgnore) -> Iterator[Change]:
    first, second = body_of(a, "send"), body_of(b, "send")  # Content-Encoding undone
    before, after = first.data, second.data
    # A WebSocket's response counters count its frames, compared above: only HTTP is capped.
    capped = a.type == "http" and not (first.complete and second.complete)
    if capped:
        yield Change("body", f"bodies capped at capture: compared the first bytes only "
                             f"({a.response.bytes} and {b.response.bytes} bytes in all)",
                     significant=a.response.bytes != b.response.bytes)
        size = min(len(before), len(after))
        before, after = before[:size], after[:size]
    if before == after:
        return
    parsed = _json(before), _json(after)
    if parsed[0] is not _NOT_JSON and parsed[1] is not _NOT_JSON:
        kept = ignore.json(parsed[0]), ignore.json(parsed[1])
        yield from (Change("body", line) for line in _json_changes(kept[0], kept[1], "$"))
    elif _is_text(before) and _is_text(after):
        yield from _text_changes(ignore.text(before.decode()), ignore.text(after.decode()))
    else:
        yield Change("body", f"binary body: {len(before)} bytes sha256 {_hash(before)} → "
                             f"{len(after)} bytes sha256 {_hash(after)}")


_NOT_JSON = object()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return _NOT_JSON


def _json_changes(a: Any, b: Any, path: str) -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            sub = f"{path}.{key}"
            if key not in b:
                yield f"- {sub}: {_short(a[key])}"
            elif key not in a:
                yield f"+ {sub}: {_short(b[key])}"
            else:
                yield from _json_changes(a[key], b[key], sub)
    elif isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            sub = f"{path}[{index}]"
            if index >= len(b):
                yield f"- {sub}: {_short(a[index])}"
            elif index >= len(a):
                yield f"+ {sub}: {_short(b[index])}"
            else:
                yield from _json_changes(a[index], b[index], sub)
    elif a != b or type(a) is not type(b):
        yield f"~ {path}: {_short(a)} → {_short(b)}"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ignored_in_text(text: str, ignore: BodyIgnore) -> str:
    """A text frame as compared: JSON without the ignored fields, then the patterns masked."""
    parsed = _json(text.encode())
    if parsed is not _NOT_JSON and ignore.fields:
        text = json.dumps(ignore.json(parsed), ensure_ascii=False, sort_keys=True)
    return ignore.text(text)


def _is_text(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _text_changes(a: str, b: str) -> Iterator[Change]:
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), "original", "replay", n=1,
                                 lineterm="")
    for count, line in enumerate(lines):
        if count >= MAX_BODY_LINES:
            yield Change("body", "… (more lines differ)")
            return
        if not line.startswith(("---", "+++")):
            yield Change("body", line)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _messages(a: Exchange, b: Exchange) -> Iterator[Change]:
    before, after = _shape(a), _shape(b)
    if before != after:
        yield Change("messages", f"messages {_describe(before)} → {_describe(after)}",
                     significant=False)


def _shape(exchange: Exchange) -> list[tuple[str, int]]:
    """The send sequence as runs: [("http.response.start", 1), ("http.response.body", 3)]."""
    runs: list[tuple[str, int]] = []
    for event in exchange.events:
        if event.direction != "send":
            continue
        if runs and runs[-1][0] == event.type:
            runs[-1] = (event.type, runs[-1][1] + 1)
        else:
            runs.append((event.type, 1))
    elided = exchange.response.elided  # chunks counted but not kept still count here
    return [(kind, n + elided if kind == "http.response.body" else n) for kind, n in runs]


def _describe(runs: list[tuple[str, int]]) -> str:
    return ", ".join(f"{kind.rsplit('.', 1)[-1]}×{n}" if n > 1 else kind.rsplit(".", 1)[-1]
                     for kind, n in runs) or "none"


def _timing(a: Exchange, b: Exchange) -> Iterator[Change]:
    for name, before, after in (("duration", a.duration_ns, b.duration_ns),
                                ("ttfb", a.ttfb_ns, b.ttfb_ns)):
        if before is not None and after is not None:
            yield Change("timing", f"{name} {format_duration(before)} → "
                                   f"{format_duration(after)}", significant=False)
