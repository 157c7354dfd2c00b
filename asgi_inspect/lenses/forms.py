"""The forms lens: an HTML form's submission as the fields it sent, not a hex dump.

``application/x-www-form-urlencoded`` bodies become a name/value table; ``multipart/form-data``
bodies are read by a small bounded parser of our own (the standard library's is gone from
3.13, and python-multipart is the app's dependency, not ours): field, filename, type, size
and a preview of each part. A capture capped at 64 KiB is read as far as it goes, and says
so: the fields after the cap were sent but not kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes

from asgi_inspect.http import header_text, request_headers, request_type
from asgi_inspect.lenses.base import Lens, Reading, Section, Table, body
from asgi_inspect.model import Exchange
from asgi_inspect.units import format_size

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FIELDS = 1000  # rows of a table; a note counts the rest
MAX_PART_HEADERS = 8 * 1024  # bytes of one part's header block read
PREVIEW_CHARS = 60
PREVIEW_BYTES = 16  # of a binary part, shown in hex
_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:\\.|[^"\\])*"|[^;]*)')


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart body, as far as the capture kept it."""

    field: str
    filename: str | None  # None for a plain field; "" for a file input left empty
    content_type: str
    data: bytes
    whole: bool  # False when the capture ended inside it


def parameters(value: str) -> dict[str, str]:
    """The ``; name=value`` parameters of a header value (quoted or not, names lowercased;
    ``filename*=UTF-8''...`` decoded), the first of each name."""
    found: dict[str, str] = {}
    for name, raw in _PARAMETER.findall(value):
        key = name.lower()
        text = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw[:1] == '"' else raw.strip()
        if key.endswith("*"):  # the extended form wins over the plain one
            charset, _, encoded = text.partition("''")
            found[key[:-1]] = _percent_decoded(encoded, charset)
        else:
            found.setdefault(key, text)
    return found


def _percent_decoded(text: str, charset: str) -> str:
    try:
        return unquote(text, encoding=charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset
        return unquote(text, errors="replace")


def multipart(data: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body, at most ``MAX_FIELDS + 1`` (one more says "more"); the
    last may be cut where the capture ended."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    start = data.find(delimiter)
    parts: list[Part] = []
    while start >= 0 and len(parts) <= MAX_FIELDS:
        at = start + len(delimiter)
        if data[at:at + 2] == b"--":  # the close delimiter
            break
        head_end = data.find(b"\r\n\r\n", at, at + MAX_PART_HEADERS)
        if head_end < 0:
            break  # the capture ended inside the part's headers: nothing of it to show
        end = data.find(b"\r\n" + delimiter, head_end + 4)
        parts.append(_part(data[at:head_end], data[head_end + 4:end if end >= 0 else None],
                           end >= 0))
        start = end + 2 if end >= 0 else -1
    return parts


def _part(head: bytes, content: bytes, whole: bool) -> Part:
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    disposition = parameters(headers.get("content-disposition", ""))
    return Part(disposition.get("name", ""), disposition.get("filename"),
                headers.get("content-type", ""), content, whole)


def preview(data: bytes, content_type: str = "") -> str:
    """The first characters of a text part, or the hex of a binary part's first bytes."""
    text = _text(data[:PREVIEW_CHARS * 4], content_type)
    if text is None:
        head = data[:PREVIEW_BYTES].hex(" ")
        return head + (" …" if len(data) > PREVIEW_BYTES else "")
    return text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS or
                                   len(data) > PREVIEW_CHARS * 4 else "")


def _text(data: bytes, content_type: str) -> str | None:
    """``data`` as text when it reads as UTF-8 without NULs (an incomplete last character,
    where the preview cut it, is dropped), else None."""
    if content_type and not content_type.startswith("text/") and "json" not in content_type \
            and "xml" not in content_type:
        return None
    for cut in range(4):  # up to three bytes of a character the slice split
        try:
            text = data[:len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return None if "\x00" in text else text
    return None


def urlencoded(data: bytes) -> list[tuple[str, str]]:
    """The name/value pairs of a urlencoded body, at most ``MAX_FIELDS + 1``."""
    pairs = []
    for item in data.split(b"&", MAX_FIELDS + 1)[:MAX_FIELDS + 1]:
        if item:
            name, _, value = item.partition(b"=")
            pairs.append((_form_decoded(name), _form_decoded(value)))
    return pairs


def _form_decoded(raw: bytes) -> str:
    """A urlencoded name or value: ``+`` is a space, %XX a byte; UTF-8 (else latin-1)."""
    data = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def capped_note(exchange: Exchange, kept: int) -> str:
    """What the capture did not keep of the request body, "" when it kept all of it."""
    sent = exchange.request.bytes
    if sent <= kept:
        return ""
    return f"capture capped: {kept:,} of {sent:,} bytes; later fields not kept"


def _notes(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def _more(count: int) -> str:
    return f"the first {MAX_FIELDS:,} fields shown" if count > MAX_FIELDS else ""


class FormLens(Lens):
    name = "form"
    title = "Form"
    tag = "form"
    summary = "form submissions (urlencoded and multipart/form-data)"

    def read(self, exchange: Exchange) -> Reading | None:
        if exchange.type != "http" or exchange.method in _BODILESS \
                or _form_type(exchange) is None:  # the method first: it is cached
            return None
        return Reading(self.name)  # a form has no operation, and its failures are HTTP's

    def sections(self, exchange: Exchange) -> list[Section]:
        kind = _form_type(exchange)
        raw = exchange.body("receive")
        data = body(exchange, "receive")
        capped = capped_note(exchange, len(raw))
        if kind == URLENCODED:
            pairs = urlencoded(data)
            return [Table("Form fields", ("name", "value"), tuple(pairs[:MAX_FIELDS]),
                          _notes(_more(len(pairs)), capped))]
        boundary = parameters(header_text(request_headers(exchange),
                                          b"content-type")).get("boundary", "")
        if not boundary:
            return [Table("Form parts", _PART_COLUMNS, (),
                          "no boundary in the Content-Type: the parts cannot be told apart")]
        parts = multipart(data, boundary)
        rows = tuple(_part_row(part) for part in parts[:MAX_FIELDS])
        return [Table("Form parts", _PART_COLUMNS, rows,
                       _notes(_more(len(parts)), capped))]


_PART_COLUMNS = ("field", "filename", "type", "size", "preview")
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})  # a form sent this way is in the URL


def _form_type(exchange: Exchange) -> str | None:
    kind = request_type(exchange)
    return kind if kind in (URLENCODED, MULTIPART) else None


def _part_row(part: Part) -> tuple[str, ...]:
    size = format_size(len(part.data))
    return (part.field, "" if part.filename is None else part.filename, part.content_type,
            size if part.whole else f"{size} kept (cut)",
            preview(part.data, part.content_type))
