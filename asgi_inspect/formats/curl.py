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
- A request that kept ``Accept-Encoding`` gets curl's ``--compressed``: curl still sends the
  recorded header, and shows the answer decoded instead of as compressed bytes. HTTPie needs
  nothing: it always decodes what it gets.

Bodies up to 64 KiB that are UTF-8 and show as they are (tabs and line breaks allowed; see
:func:`asgi_inspect.text.printable`) go inline (``--data-raw`` / ``--raw``); any other body is
piped in from ``printf`` with octal escapes (``--data-binary @-`` / stdin), which carries every
byte, NUL included, in any POSIX shell (a leading ``-`` too). A method, URL or header item with
a control character is spelled ``"$(printf ...)"`` likewise, so nothing captured reaches the
terminal raw. The commands are made in pieces (:func:`curl_command`, :func:`httpie_command`), a
body a chunk at a time, so exporting a big body takes little more memory than the body.
Redaction happens before (:mod:`asgi_inspect.ops.export`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Final, NamedTuple

from asgi_inspect import http
from asgi_inspect.formats import parts
from asgi_inspect.model import Exchange
from asgi_inspect.text import printable

CHUNK: Final = 64 * 1024  # body bytes escaped at a time
INLINE_MAX: Final = 64 * 1024  # a bigger body is piped: an argument may not pass 128 KiB (Linux)
_LEFT_OUT = http.CONNECTION_HEADERS | http.FRAMING_HEADERS
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
    return "".join(curl_command(exchange, base_url=base_url))


def to_httpie(exchange: Exchange, *, base_url: str | None = None) -> str:
    """An HTTPie (``http``) command line that re-sends the exchange's request."""
    return "".join(httpie_command(exchange, base_url=base_url))


def curl_command(exchange: Exchange, *, base_url: str | None = None) -> Iterator[str]:
    """:func:`to_curl`'s text in pieces: a big body is escaped a chunk at a time, never whole."""
    request = request_of(exchange, base_url=base_url)
    first = ["curl"]
    if request.method == "HEAD":
        first.append("--head")
    elif request.method != ("POST" if request.body else "GET"):
        first += ["--request", _shell_word(request.method)]
    first.append(_shell_word(request.url))
    if re.search(r"[\[\]{}]", request.url):
        first.append("--globoff")
    if _DOT_SEGMENT.search(request.url):
        first.append("--path-as-is")
    if http.header(request.headers, b"accept-encoding"):
        first.append("--compressed")  # the answer comes compressed: curl decodes it
    lines = [" ".join(first)]
    for name, value in request.headers:
        item = name + b";" if not value else name + b": " + value
        lines.append(f"--header {_shell_word(item)}")
    if request.body and not http.header(request.headers, b"content-type"):
        lines.append("--header 'Content-Type:'")  # else curl adds a form Content-Type
    text = _inline_text(request.body)
    yield request.note
    if request.body and text is None:
        yield from _printf(request.body)
        yield " | "
        lines.append("--data-binary @-")
    elif text is not None:
        lines.append(f"--data-raw {shlex.quote(text)}")
    yield " \\\n  ".join(lines)


def httpie_command(exchange: Exchange, *, base_url: str | None = None) -> Iterator[str]:
    """:func:`to_httpie`'s text in pieces (see :func:`curl_command`)."""
    request = request_of(exchange, base_url=base_url)
    text = _inline_text(request.body)
    piped = bool(request.body) and text is None
    yield request.note
    if piped:
        yield from _printf(request.body)
        yield " | "
    first = ["http"] if piped else ["http", "--ignore-stdin"]
    if _DOT_SEGMENT.search(request.url):
        first.append("--path-as-is")
    if text:
        first.append(f"--raw={shlex.quote(text)}")
    first += [_shell_word(request.method), _shell_word(request.url)]
    lines = [" ".join(first)]
    for name, value in request.headers:
        escaped = _HTTPIE_SPECIAL.sub(r"\\\1", value.decode("latin-1")).encode("latin-1")
        lines.append(_shell_word(name + (b":" + escaped if value else b";")))
    if request.body and not http.header(request.headers, b"content-type"):
        lines.append("'Content-Type:'")  # else HTTPie adds application/json
    yield " \\\n  ".join(lines)


# words and bodies, as a shell reads them and a terminal shows them ------------------------

def _shows_as_is(text: str, *, lines: bool = False) -> bool:
    """Whether a terminal shows ``text`` as the characters it is (:func:`printable` leaves it
    alone), tabs allowed and, with ``lines``, line breaks."""
    if not lines:
        return printable(text) == text
    return all(printable(line, keep_tabs=True) == line for line in text.split("\n"))


def _inline_text(body: bytes) -> str | None:
    """The body as text to pass inline, or None to pipe it: inline is UTF-8 that shows as it
    is (tabs and line breaks too), and small enough to be one argument of the command."""
    if not body or len(body) > INLINE_MAX:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _shows_as_is(text, lines=True) else None


def _shell_word(data: bytes | str) -> str:
    """One shell word for a method, URL or header item: quoted text when it shows as it is,
    else ``"$(printf ...)"`` (no control character reaches the terminal raw)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and _shows_as_is(text):
        return shlex.quote(text)
    return f'"$({"".join(_printf(data))})"'


def _printf(data: bytes) -> Iterator[str]:
    """A POSIX ``printf`` command that writes exactly ``data``, in pieces. Its format never
    starts with ``-``, which bash's and dash's printf would take for an option (every
    multipart body starts with ``--``): a leading ``-`` is written as ``\\055``."""
    yield "printf '"
    first = 0
    if data.startswith(b"-"):
        yield "\\055"
        first = 1
    for start in range(first, len(data), CHUNK):  # a chunk at a time: never the whole body
        yield "".join(map(_ESCAPES.__getitem__, data[start:start + CHUNK]))
    yield "'"


def _escape(byte: int) -> str:
    char = chr(byte)
    if char == "%":
        return "%%"
    if char == "\\":
        return "\\\\"
    if 0x20 <= byte < 0x7F and char != "'":
        return char
    return f"\\{byte:03o}"


_ESCAPES: Final = [_escape(byte) for byte in range(256)]  # printf's spelling of each byte
