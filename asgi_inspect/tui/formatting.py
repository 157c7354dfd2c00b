"""Turning captured data into text that is safe to show.

Everything in a trace came from the network or from the app, so it is data: it must never be
read as Rich/Textual markup (we only build ``rich.text.Text`` from it, never markup strings) and
must never reach the terminal as control characters (an ``ESC`` in a header could recolour or
move the screen). :func:`printable` spells such characters out, visibly.
"""

from __future__ import annotations

import re
import time

from rich.text import Text

# C0 and C1 controls, DEL, and the invisible direction/line-separator controls that can make
# text look different from what it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_UNSAFE_KEEP_TAB = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_tabs: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\u202e``)."""
    pattern = _UNSAFE_KEEP_TAB if keep_tabs else _UNSAFE
    return pattern.sub(_escape, text)


def decode(data: bytes) -> str:
    """Bytes as text: UTF-8 when valid, else latin-1 (one character per byte, nothing lost)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def data_text(value: str | bytes, style: str = "") -> Text:
    """A ``Text`` holding captured data: escaped, and never parsed as markup."""
    if isinstance(value, bytes):
        value = decode(value)
    return Text(printable(value), style=style, no_wrap=True, end="")


def clock(started_at: float, *, with_date: bool = False) -> str:
    """``HH:MM:SS.mmm`` in local time (the list's time column), optionally with the date."""
    seconds = int(started_at)
    millis = int((started_at - seconds) * 1000)
    pattern = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return time.strftime(pattern, time.localtime(seconds)) + f".{millis:03d}"
