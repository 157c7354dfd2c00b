"""The one reader of trace files: our JSON or JSONL, or HAR (from a browser, mitmproxy, ...).

Every view opens files through :func:`read` (``asgi_inspect.read``, ``view``, ``export``,
``replay``), so they all accept the same files and fail with the same one-line reasons.
"""

from __future__ import annotations

import re
from pathlib import Path

from asgi_inspect.formats.codec import TraceError, loads
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.model import Trace

# HAR has one top-level key, "log"; our formats start with the trace header.
_HAR_START = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"log"\s*:')


def read(path: str | Path) -> Trace:
    """Read a trace file of any format we know; :class:`TraceError` with a short reason."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse(data)


def parse(data: bytes) -> Trace:
    """A trace from the bytes of a file of any format we know (see :func:`read`)."""
    if _HAR_START.match(data[:256]):
        return from_har(data)
    try:
        return loads(data)
    except UnicodeDecodeError as exc:  # msgspec's error for bad UTF-8 inside a string
        raise TraceError(f"not valid JSON: {exc.reason} at byte {exc.start}") from None
