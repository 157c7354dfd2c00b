"""Export: a selection of exchanges as text in one of the formats, redacted by default.

The one implementation behind the TUI's ``x`` (a file) and ``y`` (the clipboard), the CLI's
``asgi-inspect export`` and the Python API (``asgi_inspect.export``): the same exchanges and
options give the same bytes whoever asks. Secrets are redacted unless ``redact=False``: every
exchange is redacted as a deep copy (see :mod:`asgi_inspect.record.redact` for the rules), then
rendered.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, get_args

import msgspec

from asgi_inspect import content
from asgi_inspect.formats import codec
from asgi_inspect.formats.codec import new_trace
from asgi_inspect.formats.curl import curl_command, httpie_command
from asgi_inspect.formats.har import har_text
from asgi_inspect.http import scope_of, status_text, target_of, text_of
from asgi_inspect.model import Direction, Exchange, OutboundCall, Trace, header_pairs
from asgi_inspect.record.files import open_private
from asgi_inspect.record.redact import Redactor
from asgi_inspect.text import printable

if TYPE_CHECKING:
    from asgi_inspect.otel.exporter import OtlpSettings

Format = Literal["json", "jsonl", "har", "curl", "httpie", "otlp-json"]
FORMATS: Final[tuple[Format, ...]] = get_args(Format)
SUFFIXES: Final[dict[Format, str]] = {"json": ".json", "jsonl": ".jsonl", "har": ".har",
                                      "curl": ".sh", "httpie": ".sh",
                                      "otlp-json": ".otlp.jsonl"}
NEEDS_OTEL = "OTLP needs the OpenTelemetry exporters: pip install 'asgi-inspect[otel]'"
_BY_SUFFIX: Final[dict[str, Format]] = {".json": "json", ".jsonl": "jsonl", ".har": "har",
                                        ".sh": "curl"}


class ExportError(ValueError):
    """The selection cannot be exported in that format (one line, for the user)."""


def format_for(path: Path | None, default: Format = "json") -> Format:
    """The format a file name asks for by its suffix (``.har``, ``.jsonl``, ``.sh``...)."""
    return _BY_SUFFIX.get(path.suffix.lower(), default) if path is not None else default


def default_path(fmt: Format) -> Path:
    return Path(f"asgi-inspect-export{SUFFIXES[fmt]}")


def redact_exchange(exchange: Exchange, redactor: Redactor | None = None, *,
                    copied: bool = False) -> Exchange:
    """A redacted deep copy of ``exchange`` (default rules); the original never changes.

    The copy has containers of its own and shares the immutable leaves (bytes, str), so
    redacting an exchange with a big body does not copy the body. A compressed body is
    redacted inside its Content-Encoding (the recorder's redaction sees only its bytes).
    ``copied``: ``exchange`` is already such a copy, the caller's to change (the OTLP
    export makes a cheaper one of only what its spans carry: ``otel.spans.carried``).
    """
    redactor = redactor or Redactor()
    redacted = redactor.exchange_in_place(exchange if copied else copy.deepcopy(exchange))
    for direction in ("receive", "send"):
        _redact_encoded_body(redacted, direction, redactor)
    if redacted.inside:
        redacted.inside = [_redact_encoded_call(redacted, item, redactor)
                           if isinstance(item, OutboundCall) else item
                           for item in redacted.inside]
    return redacted


def _redact_encoded_body(exchange: Exchange, direction: Direction, redactor: Redactor) -> None:
    """Undo the body's Content-Encoding, redact the content, encode it again the same way;
    when it cannot be encoded again whole (a capped capture, a coding we cannot make), the
    body is withheld and a note says why: a secret never leaves compressed."""
    codings = content.content_codings(exchange, direction)
    if not codings:
        return
    changed, again = _reencoded(content.body_of(exchange, direction), redactor)
    if not changed:
        return
    events = [e for e in exchange.events if e.direction == direction
              and e.type in _BODY_TYPES and isinstance(e.message, dict)
              and isinstance(e.message.get("body"), bytes)]
    for n, event in enumerate(events):
        event.message["body"] = (again or b"") if n == 0 else b""
    counters = exchange.request if direction == "receive" else exchange.response
    if again is not None:  # the export holds these bytes, whole: sizes follow them
        counters.bytes = counters.kept_bytes = len(again)
    else:
        exchange.notes.append(f"the {_SIDES[direction]} body held secrets inside its "
                              f"{', '.join(codings)} encoding and was withheld from this export")


def _reencoded(body: content.Body, redactor: Redactor) -> tuple[bool, bytes | None]:
    """Whether redacting the decoded content changed it, and the redacted content encoded
    again the same way (None when it cannot be whole: a capped capture, a coding we cannot
    make; the body is withheld then)."""
    if not body.encoding:  # nothing could be undone: its bytes are as opaque as before
        return False, None
    clean = redactor.body(body.data)
    if clean is body.data:
        return False, None
    return True, content.encoded(clean, body.encoding.encode()) if body.complete else None


def _redact_encoded_call(exchange: Exchange, call: OutboundCall,
                         redactor: Redactor) -> OutboundCall:
    """An outbound call's bodies, kept as they crossed the wire, redacted inside their
    Content-Encoding as the exchange's own are (a copy when anything changed)."""
    changes: dict[str, object] = {}
    for side in ("request", "response"):
        raw = getattr(call, f"{side}_body")
        if not isinstance(raw, bytes) or not raw:
            continue
        body = content.decoded_body(raw, header_pairs(getattr(call, f"{side}_headers")),
                                    getattr(call, f"{side}_size"))
        changed, again = _reencoded(body, redactor)
        if not changed:
            continue
        changes[f"{side}_body"] = again or b""
        if again is not None:
            changes[f"{side}_size"] = len(again)
        else:
            exchange.notes.append(f"the {side} body of the outbound call {call.method} "
                                  f"{call.url} held secrets inside its {body.encoding} "
                                  f"encoding and was withheld from this export")
    return msgspec.structs.replace(call, **changes) if changes else call


_BODY_TYPES = frozenset({"http.request", "http.response.body", "websocket.http.response.body"})
_SIDES: Final[dict[Direction, str]] = {"receive": "request", "send": "response"}


def export(exchanges: Iterable[Exchange], fmt: Format, *, redact: bool | Redactor = True,
           base_url: str | None = None, header: Trace | None = None,
           with_calls: bool = False) -> str:
    """The exchanges as ``fmt`` text.

    ``redact``: True for the default rules, a :class:`Redactor` for others, False to keep
    secrets. ``base_url`` (curl, HTTPie): send the commands to this origin instead of the
    recorded host. ``header`` (JSON, JSONL): the trace's header fields (created_at, caps,
    dropped...); a new header when omitted. ``with_calls`` (HAR): the outbound HTTP calls
    the app made are entries of their own (JSON and JSONL always carry them). Raises
    :class:`ExportError` for a selection the format cannot express (curl of nothing but
    WebSockets) or an option it does not take.
    """
    return "".join(export_pieces(exchanges, fmt, redact=redact, base_url=base_url,
                                 header=header, with_calls=with_calls))


def export_pieces(exchanges: Iterable[Exchange], fmt: Format, *,
                  redact: bool | Redactor = True, base_url: str | None = None,
                  header: Trace | None = None, with_calls: bool = False) -> Iterator[str]:
    """:func:`export`'s text in pieces, in order: each exchange is redacted and rendered when
    its turn comes, so writing the pieces out as they come keeps memory to about one
    exchange beyond the trace (a big body is escaped a chunk at a time). Raises
    :class:`ExportError` here, before the first piece, never halfway through."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if with_calls and fmt != "har":
        raise ExportError(f"outbound calls as entries of their own are a HAR option (not "
                          f"{fmt}; JSON and JSONL carry them in each exchange's inside)")
    selected = list(exchanges)
    if fmt in ("curl", "httpie") and not any(e.type == "http" for e in selected):
        raise ExportError(f"none of these exchanges is an HTTP request {fmt} can re-send")
    redactor = redact if isinstance(redact, Redactor) else Redactor() if redact else None
    ready = selected if redactor is None else (redact_exchange(e, redactor) for e in selected)
    if fmt == "har":
        return itertools.chain(har_text(ready, with_calls=with_calls), "\n")
    if fmt == "otlp-json":
        return _otlp_json_pieces(ready)
    if fmt == "json":
        return _json_pieces(ready, header)
    if fmt == "jsonl":
        return itertools.chain([codec.header_line(_header(header)).decode("utf-8")],
                               (codec.exchange_line(e).decode("utf-8") for e in ready))
    command = curl_command if fmt == "curl" else httpie_command
    return _commands(ready, lambda e: command(e, base_url=base_url))


def export_to(path: Path, exchanges: Iterable[Exchange], fmt: Format | None = None, *,
              redact: bool | Redactor = True, base_url: str | None = None,
              header: Trace | None = None, with_calls: bool = False) -> int:
    """Write :func:`export`'s text to ``path`` (the format from its suffix when not given) as
    it is made, in a file only its owner may read (it may hold secrets: ``redact=False``, or
    what no rule recognises); how many exchanges were selected. Raises :class:`ExportError`
    or ``OSError``."""
    selected = list(exchanges)
    write_pieces(path, export_pieces(selected, fmt or format_for(path), redact=redact,
                                     base_url=base_url, header=header, with_calls=with_calls))
    return len(selected)


def write_pieces(path: Path, pieces: Iterable[str]) -> None:
    """Write text pieces to ``path`` as UTF-8, one by one, created (or made) 0600."""
    with open_private(path) as file:
        for part in slices(pieces):
            file.write(part.encode("utf-8"))


def slices(pieces: Iterable[str], size: int = 1024 * 1024) -> Iterator[str]:
    """Each piece in slices of at most ``size`` characters, so a big piece (a body's text) is
    never encoded for writing all at once."""
    for piece in pieces:
        if len(piece) <= size:
            yield piece
        else:
            yield from (piece[start:start + size] for start in range(0, len(piece), size))


def _header(header: Trace | None) -> Trace:
    """The header fields an export carries: the given trace's, or new ones."""
    return new_trace() if header is None else msgspec.structs.replace(header, exchanges=[])


def _json_pieces(exchanges: Iterable[Exchange], header: Trace | None) -> Iterator[str]:
    """``codec.dumps`` of the trace (one indented JSON document), the same text, written an
    exchange at a time: the header's document with its empty exchange list opened up."""
    empty = codec.dumps(_header(header)).decode("utf-8")
    head, _, tail = empty.rpartition('"exchanges": []')
    key_indent = head[head.rindex("\n"):]  # a line break and the keys' spaces
    item_indent = key_indent + " "  # one level deeper (codec.dumps indents by one space)
    started = False
    for exchange in exchanges:
        line = msgspec.json.format(codec.exchange_line(exchange), indent=1)
        text = line.decode("utf-8").replace("\n", item_indent)
        yield (f",{item_indent}" if started else f'{head}"exchanges": [{item_indent}') + text
        started = True
    yield f"{key_indent}]{tail}\n" if started else f"{empty}\n"


def _otlp_json_pieces(exchanges: Iterable[Exchange]) -> Iterator[str]:
    """OTLP JSON, one ``ExportTraceServiceRequest`` line per exchange (what the OTel
    Collector's file exporter writes and its ``otlpjsonfile`` receiver reads); raises
    :class:`ExportError` at once when the OpenTelemetry packages are missing."""
    try:
        from asgi_inspect.otel.exporter import service_resource
        from asgi_inspect.otel.json import request_line
        from asgi_inspect.otel.spans import to_spans
    except ImportError:
        raise ExportError(NEEDS_OTEL) from None
    resource = service_resource()
    return (request_line(spans).decode("utf-8") for exchange in exchanges
            if (spans := to_spans(exchange, resource)))


def send_otlp(exchanges: Iterable[Exchange], config: OtlpSettings, *,
              redact: bool | Redactor = True,
              warn: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Send exchanges to an OTLP endpoint as traces with their recorded timestamps (redacted
    as every export is); how many spans were sent and how many lost. Raises
    :class:`ExportError` when the OpenTelemetry packages are missing."""
    try:
        from asgi_inspect.otel.exporter import SpanSender
    except ImportError:
        raise ExportError(NEEDS_OTEL) from None
    redactor = redact if isinstance(redact, Redactor) else Redactor() if redact else None
    sender = SpanSender(config, _identity if redactor is None else functools.partial(
        redact_exchange, redactor=redactor, copied=True), warn=warn)
    sender.send(exchanges)
    sender.shutdown()
    return sender.sent, sender.dropped


def _identity(exchange: Exchange) -> Exchange:
    return exchange


def _commands(exchanges: Iterable[Exchange],
              command: Callable[[Exchange], Iterator[str]]) -> Iterator[str]:
    """One command per HTTP exchange, each under a comment naming it (a newline or control
    character in the comment would end it and start a command: they are escaped)."""
    separator = ""  # a blank line between two blocks
    for exchange in exchanges:
        if exchange.type not in ("http", "websocket"):
            continue
        method = text_of(scope_of(exchange).get("method"), exchange.type.upper())
        title = "# " + printable(f"{exchange.id}: {method} {target_of(exchange)}")
        if exchange.type == "http":
            yield f"{separator}{title} → {printable(status_text(exchange))}\n"
            yield from command(exchange)
            yield "\n"
        else:
            yield f"{separator}{title} (WebSocket: not exported)\n"
        separator = "\n"
