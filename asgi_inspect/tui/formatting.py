"""Captured data as Textual renderables: escaped by :mod:`asgi_inspect.text`, never markup.

Titles and notifications in Textual parse plain strings as markup, so captured text reaches
them only as :class:`~textual.content.Content` or ``Text`` built here.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.content import Content

from asgi_inspect.text import decode, printable


def data_text(value: str | bytes, style: str = "") -> Text:
    """A ``Text`` holding captured data: escaped, and never parsed as markup."""
    if isinstance(value, bytes):
        value = decode(value)
    return Text(printable(value), style=style, no_wrap=True, end="")


def plain(text: str) -> Content:
    """Captured text for a border title or a dialog's title: escaped, and never markup
    (Textual parses a plain ``str`` there as markup, where ``[/]`` would even raise)."""
    return Content(printable(text))


def clock(started_at: float, *, with_date: bool = False) -> str:
    """``HH:MM:SS.mmm`` in local time (the list's time column), optionally with the date."""
    seconds = int(started_at)
    millis = int((started_at - seconds) * 1000)
    pattern = "%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S"
    return time.strftime(pattern, time.localtime(seconds)) + f".{millis:03d}"
