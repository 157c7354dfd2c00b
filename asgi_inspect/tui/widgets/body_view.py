"""The Request and Response tabs: start line, headers table, and the body pretty-printed.

The body is rendered to lines once per change of its size (so a streaming response costs one
render per poll at most) and drawn lazily; past 64 KiB only a prefix is shown until the user
asks for all of it, or opens it in ``$PAGER``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from http import HTTPStatus
from typing import Any, ClassVar

from rich.highlighter import Highlighter, JSONHighlighter, RegexHighlighter
from rich.text import Text
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from asgi_inspect import http
from asgi_inspect.content import Body, body_of
from asgi_inspect.model import Counters, Direction, Exchange, header, header_pairs
from asgi_inspect.text import decode, printable
from asgi_inspect.tui.bodies import SHOW_LIMIT, RenderedBody, render_body
from asgi_inspect.tui.formatting import data_text
from asgi_inspect.tui.widgets.lines import TextLines
from asgi_inspect.units import format_size, plural
from asgi_inspect.values import safe_repr


class MarkupHighlighter(RegexHighlighter):
    """Tags and attributes of HTML/XML, with Rich's ``repr.*`` styles."""

    base_style = "repr."
    highlights: ClassVar[list[str]] = [
        r"(?P<tag_start></?)(?P<tag_name>[\w:.-]+)",
        r"(?P<attrib_name>[\w:-]+)(?P<attrib_equal>=)(?P<attrib_value>\"[^\"]*\"|'[^']*')",
        r"(?P<tag_end>/?>)",
    ]


_HIGHLIGHTERS: dict[str, Highlighter] = {"json": JSONHighlighter(), "html": MarkupHighlighter()}


def message_headers(exchange: Exchange, direction: Direction) -> list[tuple[bytes, bytes]]:
    """The request headers, or the response's (a WebSocket accept carries them too): the
    well-formed byte pairs only (the Messages tab shows a malformed one as it was)."""
    if direction == "receive":
        return http.request_headers(exchange)
    accept = exchange.first("websocket.accept")
    if exchange.response_start is None and accept is not None and isinstance(accept.message,
                                                                             dict):
        return header_pairs(accept.message.get("headers"))
    return http.response_headers(exchange)


def content_type(exchange: Exchange, direction: Direction) -> str:
    return decode(header(message_headers(exchange, direction), b"content-type") or b"")


def start_line(exchange: Exchange, direction: Direction) -> str:
    """``GET /path?q HTTP/1.1`` or ``HTTP/1.1 200 OK``, as the wire would have had it."""
    scope = http.scope_of(exchange)
    version = http.http_version(exchange)
    if direction == "receive":
        raw = scope.get("raw_path")
        target = decode(raw) if isinstance(raw, bytes) else exchange.path
        query = scope.get("query_string") or b""
        if isinstance(raw, bytes) and isinstance(query, bytes) and query:
            target += "?" + decode(query)
        method = "GET" if exchange.type == "websocket" else exchange.method
        return printable(f"{method} {target} {version}")
    status = exchange.status
    if status is None:
        return "no response yet" if exchange.outcome == "streaming" else "no response started"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return printable(f"{version} {safe_repr(status)} {phrase}".rstrip())


class MessageView(VerticalScroll):
    """One direction of an exchange: start line, headers, body, in one scroll: every header
    and the body are reached by scrolling the tab (no table scrolls on its own inside it)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "show_all", "Show all", tooltip="Show the whole body, not just 64 KiB"),
        Binding("o", "pager", "Pager", tooltip="Open the body in $PAGER"),
        Binding("b", "toggle_raw", "Raw bytes",
                tooltip="Show a compressed body as sent, or decoded again"),
    ]
    DEFAULT_CSS = """
    MessageView {
        & > .start-line { height: 1; padding: 0 1; text-style: bold; }
        & > DataTable { height: auto; max-height: initial; overflow-y: hidden; }
        & > .body-info { height: auto; padding: 0 1; color: $text-muted; }
        & > TextLines { height: auto; overflow-y: hidden; }
    }
    """

    def __init__(self, direction: Direction, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.direction = direction
        self.exchange: Exchange | None = None
        self.show_all = False
        self.raw = False  # the bytes as sent, Content-Encoding not undone
        self._start = Static(classes="start-line")
        self._headers: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
        self._info = Static(classes="body-info")
        self._body = TextLines()
        self._shown_headers: list[tuple[bytes, bytes]] | None = None
        self._shown_body: tuple[str, int, bool, bool] | None = None

    def compose(self) -> ComposeResult:
        yield self._start
        yield self._headers
        yield self._info
        yield self._body

    def on_mount(self) -> None:
        self._headers.add_columns("header", "value")

    def show(self, exchange: Exchange | None) -> None:
        """Show ``exchange`` (again): only what changed is rebuilt."""
        if exchange is not self.exchange:
            self.show_all = self.raw = False
        self.exchange = exchange
        if exchange is None:
            self._start.update("")
            self._set_headers([])
            self._info.update("")
            self._body.set_lines([])
            self._shown_body = None
            return
        self._update(self._start, Text(start_line(exchange, self.direction)))
        self._set_headers(message_headers(exchange, self.direction))
        self._set_body(exchange)

    @staticmethod
    def _update(static: Static, text: Text) -> None:
        """Repaint a Static only when its text changed (the body's info may wrap: a new one
        is laid out again)."""
        if static.content != text:
            static.update(text)

    def _set_headers(self, pairs: list[tuple[bytes, bytes]]) -> None:
        if pairs == self._shown_headers:
            return
        self._shown_headers = pairs
        self._headers.clear()
        self._headers.add_rows((data_text(name), data_text(value)) for name, value in pairs)

    def _set_body(self, exchange: Exchange) -> None:
        content = body_of(exchange, self.direction)
        key = (exchange.id, len(content.raw), self.show_all, self.raw)
        if key == self._shown_body:
            return
        same_exchange = self._shown_body is not None and self._shown_body[0] == exchange.id
        self._shown_body = key
        body = self._rendered_body(exchange, content, None if self.show_all else SHOW_LIMIT)
        self._update(self._info, self._body_info(exchange, body, content))
        self._body.set_lines(body.lines, _HIGHLIGHTERS.get(body.kind), keep_scroll=same_exchange)

    def _rendered_body(self, exchange: Exchange, content: Body, limit: int | None) -> RenderedBody:
        """The decoded body, or the bytes as sent (``b``); bytes still encoded are not what the
        content type says, so they are read as bytes (a hex dump)."""
        if self.raw:
            data, encoded = content.raw, bool(content.encoding)
        else:  # bytes that could not be decoded are still encoded
            data, encoded = content.data, bool(content.note) and not content.encoding
        return render_body(data, "" if encoded else content_type(exchange, self.direction),
                           limit)

    def _body_info(self, exchange: Exchange, body: RenderedBody, content: Body) -> Text:
        counters = exchange.request if self.direction == "receive" else exchange.response
        if exchange.type == "websocket":
            return Text(websocket_info(counters, self.direction))
        if body.kind == "empty":
            return Text("no body" if not counters.bytes else "body not kept by the recorder")
        parts = [body.kind, *_decoding_info(content, counters.bytes, self.raw)]
        if counters.kept_bytes < counters.bytes:
            parts.append(f"the recorder kept {format_size(counters.kept_bytes)}")
        if body.shown < body.total:
            parts.append(f"showing {format_size(body.shown)}: a shows all, o opens $PAGER")
        if body.note:
            parts.append(body.note)
        return Text(" · ".join(parts))

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        if self.exchange is not None:
            self._set_body(self.exchange)

    def action_show_all(self) -> None:
        self.show_all = True
        if self.exchange is not None:
            self._set_body(self.exchange)

    def action_pager(self) -> None:
        """The whole kept body, rendered, in ``$PAGER`` (the screen is suspended meanwhile)."""
        exchange = self.exchange
        if exchange is None:
            return
        body = self._rendered_body(exchange, body_of(exchange, self.direction), None)
        error = open_in_pager("\n".join(body.lines) + "\n", self.app)
        if error:
            self.notify(error, severity="error")


def _decoding_info(content: Body, sent: int, raw: bool) -> list[str]:
    """What the info line says of the Content-Encoding: ``gzip decoded · 275B sent → 1.2KiB``
    and the key that shows the other side; what went wrong, when it did."""
    if not content.encoding:
        return [f"{format_size(sent)} sent", *([content.note] if content.note else [])]
    if raw:
        return [f"{content.encoding} as sent", f"{format_size(sent)} sent", "b decodes"]
    parts = [f"{content.encoding} decoded",
             f"{format_size(sent)} sent → {format_size(len(content.data))}", "b shows raw"]
    return parts if content.complete else [*parts, content.note]


def websocket_info(counters: Counters, direction: Direction) -> str:
    """What a WebSocket's Request or Response tab has instead of a body: its frames."""
    who = "the client sent" if direction == "receive" else "the app sent"
    return (f"no body: a WebSocket carries frames; {who} {plural(counters.chunks, 'frame')} "
            f"({format_size(counters.bytes)}): see the Frames tab")


def open_in_pager(text: str, app: App[Any]) -> str | None:
    """Show ``text`` in ``$PAGER`` (default ``less``); a one-line error, or None."""
    command = shlex.split(os.environ.get("PAGER") or "less")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False,
                                     encoding="utf-8") as file:
        file.write(text)
    try:
        with app.suspend():
            subprocess.run([*command, file.name], check=False)
    except SuspendNotSupported:
        return "cannot open a pager here: this terminal cannot be suspended"
    except OSError as exc:
        return f"cannot run {command[0]}: {exc.strerror or exc}"
    finally:
        with contextlib.suppress(OSError):
            os.unlink(file.name)
    return None
