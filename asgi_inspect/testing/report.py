"""A failing test's traffic: its report section, and its trace file for ``asgi-inspect view``.

Both are redacted by the export rules (``ops.export``: one copy per exchange, the originals
untouched). The section is for a terminal or a CI log: one headless line per exchange (with
the lens's operation), then its bodies, capped, and the app's traceback, every line through
``text.printable``. The trace holds every exchange whole, as the recorder kept it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from asgi_inspect import content
from asgi_inspect.model import Direction, Exchange
from asgi_inspect.ops.export import export_to, redact_exchange
from asgi_inspect.record.redact import Redactor
from asgi_inspect.runtime.headless import format_line
from asgi_inspect.text import decode, printable
from asgi_inspect.units import format_size, plural

SHOWN_EXCHANGES: Final = 20  # the last ones, in a section; the trace has them all
SHOWN_BODY: Final = 1024  # bytes of each body shown in a section
_INDENT = "    "
_SIDES: Final[dict[Direction, str]] = {"receive": "request", "send": "response"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def trace_path(directory: Path, nodeid: str) -> Path:
    """Where a test's trace goes: its node id made a file name that no shell or option parser
    misreads, and a digest of it (two ids can make the same name: ``t[a/b]`` and ``t[a_b]``)."""
    name = _UNSAFE_NAME.sub("_", nodeid).strip("._-")[:120] or "test"
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:8]
    return directory / f"{name}-{digest}.jsonl"


def write_trace(path: Path, exchanges: list[Exchange]) -> str:
    """Write the trace, redacted, owner-only; the line the section gives about it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        export_to(path, exchanges, "jsonl")
    except OSError as exc:
        return f"trace not written: {path}: {exc.strerror or exc}"
    return f"open with: asgi-inspect view {path}"


def section(exchanges: list[Exchange], trace_line: str, evicted: int = 0,
            dropped: int = 0) -> str:
    """The report section: a summary line, where the trace is, then the last exchanges."""
    shown = exchanges[-SHOWN_EXCHANGES:]
    head = [f"{plural(len(exchanges), 'exchange')} recorded" +
            (f" (the last {len(shown)} shown)" if len(shown) < len(exchanges) else ""),
            printable(trace_line)]
    if evicted:
        head.append(f"{plural(evicted, 'earlier exchange')} not kept (the store's bound)")
    if dropped:
        head.append(f"{plural(dropped, 'record')} dropped by the recorder")
    redactor = Redactor()
    lines = [line for exchange in shown
             for line in _exchange_lines(redact_exchange(exchange, redactor))]
    return "\n".join(head + lines)


def _exchange_lines(exchange: Exchange) -> Iterator[str]:
    yield format_line(exchange)
    for direction in ("receive", "send"):
        yield from _body_lines(exchange, direction)
    if exchange.exception is not None and exchange.exception.traceback:
        yield from _indented(exchange.exception.traceback)


def _body_lines(exchange: Exchange, direction: Direction) -> Iterator[str]:
    """One direction's body as text, its first :data:`SHOWN_BODY` bytes, decoded."""
    body = content.body_of(exchange, direction)
    if not body.data:
        return
    counters = exchange.request if direction == "receive" else exchange.response
    total = max(counters.bytes, len(body.raw))
    facts = [format_size(total)]
    if body.encoding:
        facts.append(f"{body.encoding} decoded")
    if len(body.data) > SHOWN_BODY:
        facts.append(f"first {format_size(SHOWN_BODY)} shown")
    elif not body.complete:
        facts.append("capped at capture")
    yield f"{_INDENT}{_SIDES[direction]} body ({', '.join(facts)}):"
    yield from _indented(_text_prefix(body.data, SHOWN_BODY), 2)


def _text_prefix(data: bytes, size: int) -> str:
    """The first ``size`` bytes as text, not cut inside a UTF-8 character (which would make
    the whole prefix read as latin-1)."""
    prefix = data[:size]
    if len(prefix) < len(data):
        for cut in range(len(prefix), max(len(prefix) - 4, 0), -1):
            try:
                return prefix[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
    return decode(prefix)


def _indented(text: str, depth: int = 1) -> Iterator[str]:
    for line in text.splitlines():
        yield _INDENT * depth + printable(line, keep_tabs=True)
