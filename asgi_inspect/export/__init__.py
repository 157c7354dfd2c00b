"""Exports and imports: HAR 1.2, curl and HTTPie commands, and secret redaction.

:func:`load_any` opens any trace file the tools read: our JSON or JSONL, or a HAR file.
"""

from __future__ import annotations

import re
from pathlib import Path

from asgi_inspect.codec import TraceError, loads
from asgi_inspect.export.curl import to_curl, to_httpie
from asgi_inspect.export.har import to_har
from asgi_inspect.export.har_import import from_har
from asgi_inspect.export.redact import Redactor, capture_redactor, redact_exchange
from asgi_inspect.model import Trace

# HAR has one top-level key, "log"; our formats start with the trace header.
_HAR_START = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"log"\s*:')


def load_any(path: str | Path) -> Trace:
    """Read a trace from our JSON or JSONL, or from HAR; ``TraceError`` with a short reason."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if _HAR_START.match(data[:256]):
        return from_har(data)
    try:
        return loads(data)
    except UnicodeDecodeError as exc:  # msgspec's error for bad UTF-8 inside a string
        raise TraceError(f"not valid JSON: {exc.reason} at byte {exc.start}") from None


__all__ = ["Redactor", "capture_redactor", "from_har", "load_any", "redact_exchange",
           "to_curl", "to_har", "to_httpie"]
