"""An HTTP exchange's request as a shell command: curl, or HTTPie's ``http``.

The command sends the same method, path, query, headers and body bytes. What differs, and why:

- ``Host``, ``Content-Length`` and hop-by-hop headers (``Connection``, ``Transfer-Encoding``,
  ``Upgrade``, ...) are left out: the tool sets them for its own connection, and ``Host``
  follows the URL (so ``base_url`` can point the command at another server).
- Headers the request did not have but the tool always sends are added by the tool (curl:
  ``User-Agent``, ``Accept``; HTTPie: also ``Accept-Encoding``, ``Connection``). A missing
  ``Content-Type`` is kept missing.
- HTTPie strips leading and trailing blanks from header values, and cannot spell a value in
  which a backslash precedes one of ``:;=@``.
- A body the recorder capped is sent as kept, and a comment above the command says so.

Bodies that are printable UTF-8 go inline (``--data-raw`` / ``--raw``); any other body is
piped in from ``printf`` with octal escapes (``--data-binary @-`` / stdin), which carries every
byte, NUL included, in any POSIX shell. Redaction happens before (:mod:`asgi_inspect.ops.export`).
"""

from __future__ import annotations

import re
import shlex
from typing import NamedTuple

from asgi_inspect import http
from asgi_inspect.formats import parts
from asgi_inspect.model import Exchange

_LEFT_OUT = http.CONNECTION_HEADERS | http.FRAMING_HEADERS
_INLINE = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f]*")  # no control characters but tab and LF
_HTTPIE_SPECIAL = re.compile(r"([:;=@])")
_DOT_SEGMENT = re.compile(r"^[^?]*?[^/]/\.\.?(/|\?|$)")  # kept as is: the tools would squash it


class Request(NamedTuple):
    """What the command has to send."""

    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    note: str  # a shell comment line, or ""


def request_of(exchange: Exchange, *, base_url: str | None = None) -> Request:
    """The request to re-send; ValueError for an exchange that is not HTTP."""
    if exchange.type != "http":
        raise ValueError(f"exchange {exchange.id} is {exchange.type}, not HTTP")
    headers = [(n, v) for n, v in http.request_headers(exchange)
               if n.lower() not in _LEFT_OUT and not n.startswith(b":")]
    body, size = parts.body_size(exchange, "receive")
    note = f"# the request body was capped by the recorder: {len(body)} of {size} bytes sent\n"
    method = http.text_of(http.scope_of(exchange).get("method"), "GET")
    return Request(method, http.url_of(exchange, base_url), headers, body,
                   note if size > len(body) else "")


def to_curl(exchange: Exchange, *, base_url: str | None = None) -> str:
    """A curl command line (for sh, bash, zsh) that re-sends the exchange's request."""
    request = request_of(exchange, base_url=base_url)
    first = ["curl"]
    if request.method == "HEAD":
        first.append("--head")
    elif request.method != ("POST" if request.body else "GET"):
        first += ["--request", shlex.quote(request.method)]
    first.append(shlex.quote(request.url))
    if re.search(r"[\[\]{}]", request.url):
        first.append("--globoff")
    if _DOT_SEGMENT.search(request.url):
        first.append("--path-as-is")
    lines = [" ".join(first)]
    for name, value in request.headers:
        item = name + b";" if not value else name + b": " + value
        lines.append(f"--header {_shell_word(item)}")
    if request.body and not http.header(request.headers, b"content-type"):
        lines.append("--header 'Content-Type:'")  # else curl adds a form Content-Type
    pipe = ""
    if request.body:
        text = _inline(request.body)
        if text is None:
            pipe = f"{_printf(request.body)} | "
            lines.append("--data-binary @-")
        else:
            lines.append(f"--data-raw {shlex.quote(text)}")
    return request.note + pipe + " \\\n  ".join(lines)


def to_httpie(exchange: Exchange, *, base_url: str | None = None) -> str:
    """An HTTPie (``http``) command line that re-sends the exchange's request."""
    request = request_of(exchange, base_url=base_url)
    text = _inline(request.body) if request.body else ""
    pipe = f"{_printf(request.body)} | " if text is None else ""
    first = ["http"] if pipe else ["http", "--ignore-stdin"]
    if _DOT_SEGMENT.search(request.url):
        first.append("--path-as-is")
    if text:
        first.append(f"--raw={shlex.quote(text)}")
    first += [shlex.quote(request.method), shlex.quote(request.url)]
    lines = [" ".join(first)]
    for name, value in request.headers:
        escaped = _HTTPIE_SPECIAL.sub(r"\\\1", value.decode("latin-1")).encode("latin-1")
        lines.append(_shell_word(name + (b":" + escaped if value else b";")))
    if request.body and not http.header(request.headers, b"content-type"):
        lines.append("'Content-Type:'")  # else HTTPie adds application/json
    return request.note + pipe + " \\\n  ".join(lines)


def _inline(body: bytes) -> str | None:
    """The body as text that is safe to paste into a terminal, else None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _INLINE.fullmatch(text) else None


def _shell_word(data: bytes) -> str:
    """One shell word for a header item: quoted text, or printf for other bytes."""
    text = _inline(data)
    if text is not None and "\n" not in text and "\t" not in text:
        return shlex.quote(text)
    return f'"$({_printf(data)})"'


def _printf(data: bytes) -> str:
    """A POSIX ``printf`` command that writes exactly ``data``."""
    out = []
    for byte in data:
        char = chr(byte)
        if char == "%":
            out.append("%%")
        elif char == "\\":
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F and char != "'":
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "printf '" + "".join(out) + "'"
