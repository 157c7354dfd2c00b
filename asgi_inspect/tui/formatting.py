"""Captured data as Textual renderables: escaped by :mod:`asgi_inspect.text`, never markup.

Titles and notifications in Textual parse plain strings as markup, so captured text reaches
them only as :class:`~textual.content.Content` or ``Text`` built here. Widgets that edit
captured text (a comment, a request before replay, the filter) show it through
:func:`editable` or :class:`PrintableInput`: a terminal never receives its control characters.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from rich.text import Text
from textual.content import Content
from textual.widgets import Input

from asgi_inspect.text import decode, printable
from asgi_inspect.values import value_text


def data_text(value: str | bytes, style: str = "") -> Text:
    """A ``Text`` holding captured data: escaped, and never parsed as markup."""
    if isinstance(value, bytes):
        value = decode(value)
    return Text(printable(value), style=style, no_wrap=True, end="")


def field_text(value: Any) -> str:
    """A snapshot field as text, not yet escaped: text as it is, bytes decoded, a value of
    any other type as it was, bounded (a crafted trace can hold anything anywhere)."""
    if isinstance(value, str):
        return value
    return decode(value) if isinstance(value, bytes) else value_text(value)


def plain(text: str) -> Content:
    """Captured text for a border title or a dialog's title: escaped, and never markup
    (Textual parses a plain ``str`` there as markup, where ``[/]`` would even raise)."""
    return Content(printable(text))


NO_TIME = "—"


def clock(started_at: float, *, with_date: bool = False) -> str:
    """``HH:MM:SS.mmm`` in local time (the list's time column), optionally with the date;
    :data:`NO_TIME` for a time no calendar holds (a crafted file's ``1e20``, NaN)."""
    try:
        seconds = math.floor(started_at)
        moment = time.localtime(seconds)
    except (TypeError, ValueError, OverflowError, OSError):
        return NO_TIME
    millis = min(int((started_at - seconds) * 1000), 999)  # a tiny negative time rounds up
    pattern = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return time.strftime(pattern, moment) + f".{millis:03d}"


# A backslash that starts what printable() writes for a character: \xNN or \uNNNN.
_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4})")
_ESCAPE_START = re.compile(r"\\(?=x[0-9a-f]{2}|u[0-9a-f]{4})")


def editable(text: str) -> str:
    """``text`` for a widget that edits it: its control characters spelled out as
    :func:`printable` does (lines and tabs kept), and a backslash that would read as such an
    escape written ``\x5c``, so that :func:`typed` gives back ``text`` exactly."""
    return "\n".join(printable(_ESCAPE_START.sub(r"\\x5c", line), keep_tabs=True)
                     for line in text.split("\n"))


def typed(text: str) -> str:
    """What the user meant by edited text: the escapes :func:`editable` writes (and any the
    user types, like ``\x1b``) become the characters again."""
    return _ESCAPE.sub(_unescaped, text)


def _unescaped(match: re.Match[str]) -> str:
    char = chr(int(match.group(1)[1:], 16))
    return char if char == "\\" or printable(char) != char else match.group()


class PrintableInput(Input):
    """An ``Input`` whose value never holds a control character (pasted, or set from captured
    text or the command line): each is spelled out as :func:`printable` does."""

    def validate_value(self, value: str) -> str:
        return printable(value)
