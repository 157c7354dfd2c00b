"""The one reader of trace files: our JSON or JSONL, or HAR (from a browser, mitmproxy, ...).

Every view opens files through :func:`read` (``asgi_inspect.read``, ``view``, ``export``,
``replay``), so they all accept the same files and fail with the same one-line reasons. The
command line reads leniently (a damaged line is named on stderr and skipped, unless
``--strict``); the Python API is strict unless given ``on_damage``.
"""

from __future__ import annotations

import re
from pathlib import Path

from asgi_inspect.formats.codec import OnDamage, TraceError, loads
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.model import Trace

# HAR has one top-level key, "log"; our formats start with the trace header.
_HAR_START = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"log"\s*:')


def read(path: str | Path, on_damage: OnDamage | None = None) -> Trace:
    """Read a trace file of any format we know: our JSON or JSONL, or HAR.

    Strict by default: a file that cannot be read, is not a trace, or holds a damaged line
    (a writer killed mid-line, a file cut short) or an invalid exchange raises
    :class:`TraceError`, whose message is one line naming the line or exchange and field.
    With ``on_damage`` (for example ``problems.append``), our formats are read leniently: each
    damaged line or invalid exchange is skipped and described to ``on_damage`` in one line
    (``line 3424: ...``), so every intact exchange still loads; :class:`TraceError` then
    means nothing could be read at all.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse(data, on_damage)


def parse(data: bytes, on_damage: OnDamage | None = None) -> Trace:
    """A trace from the bytes of a file of any format we know (see :func:`read`)."""
    if _HAR_START.match(data[:256]):
        return from_har(data)
    try:
        return loads(data, on_damage)
    except UnicodeDecodeError as exc:  # msgspec's error for bad UTF-8 inside a string
        raise TraceError(f"not valid JSON: {exc.reason} at byte {exc.start}") from None
