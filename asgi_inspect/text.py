"""Captured text made safe to show: the one policy for every view.

Everything in a trace came from the network or from the app, so it is data. Before any of it
reaches a terminal (the TUI's list, tabs, titles, notifications and dialogs; headless lines;
the CLI's messages; comments in exported shell scripts) it goes through :func:`printable`:
control characters, and the invisible ones that make text read differently from what it is,
are spelled out as visible escapes (``\\x1b``, ``\\u202e``). Views that render styled text
never parse the result as markup (the TUI builds ``Text``/``Content`` from it).
"""

from __future__ import annotations

import re

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
