"""Export: a selection of exchanges as text in one of the formats, redacted by default.

The one implementation behind the TUI's ``x`` (a file) and ``y`` (the clipboard), the CLI's
``asgi-inspect export`` and the Python API (``asgi_inspect.export``): the same exchanges and
options give the same bytes whoever asks. Secrets are redacted unless ``redact=False``: every
exchange is redacted as a deep copy (see :mod:`asgi_inspect.record.redact` for the rules), then
rendered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final, Literal, get_args

from asgi_inspect.formats import codec
from asgi_inspect.formats.curl import to_curl, to_httpie
from asgi_inspect.formats.har import to_har
from asgi_inspect.http import scope_of, target_of, text_of
from asgi_inspect.model import Exchange, Trace
from asgi_inspect.record.redact import Redactor
from asgi_inspect.text import printable

Format = Literal["json", "jsonl", "har", "curl", "httpie"]
FORMATS: Final[tuple[Format, ...]] = get_args(Format)
SUFFIXES: Final[dict[Format, str]] = {"json": ".json", "jsonl": ".jsonl", "har": ".har",
                                      "curl": ".sh", "httpie": ".sh"}
_BY_SUFFIX: Final[dict[str, Format]] = {".json": "json", ".jsonl": "jsonl", ".har": "har",
                                        ".sh": "curl"}


class ExportError(ValueError):
    """The selection cannot be exported in that format (one line, for the user)."""


def format_for(path: Path | None, default: Format = "json") -> Format:
    """The format a file name asks for by its suffix (``.har``, ``.jsonl``, ``.sh``...)."""
    return _BY_SUFFIX.get(path.suffix.lower(), default) if path is not None else default


def default_path(fmt: Format) -> Path:
    return Path(f"asgi-inspect-export{SUFFIXES[fmt]}")


def redact_exchange(exchange: Exchange, redactor: Redactor | None = None) -> Exchange:
    """A redacted deep copy of ``exchange`` (default rules); the original never changes."""
    return (redactor or Redactor()).exchange_in_place(codec.exchange_copy(exchange))


def export(exchanges: Iterable[Exchange], fmt: Format, *, redact: bool | Redactor = True,
           base_url: str | None = None, header: Trace | None = None) -> str:
    """The exchanges as ``fmt`` text.

    ``redact``: True for the default rules, a :class:`Redactor` for others, False to keep
    secrets. ``base_url`` (curl, HTTPie): send the commands to this origin instead of the
    recorded host. ``header`` (JSON, JSONL): the trace's header fields (created_at, caps,
    dropped...); a new header when omitted. Raises :class:`ExportError` for a selection the
    format cannot express (curl of nothing but WebSockets).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    selected = list(exchanges)
    redactor = redact if isinstance(redact, Redactor) else Redactor() if redact else None
    if redactor is not None:
        selected = [redact_exchange(e, redactor) for e in selected]
    if fmt == "har":
        return json.dumps(to_har(selected), indent=2, ensure_ascii=False) + "\n"
    if fmt in ("json", "jsonl"):
        trace = _trace(selected, header)
        data = codec.dumps(trace) + b"\n" if fmt == "json" else codec.dumps_jsonl(trace)
        return data.decode("utf-8")
    command = to_curl if fmt == "curl" else to_httpie
    return _commands(selected, fmt, lambda e: command(e, base_url=base_url))


def export_to(path: Path, exchanges: Iterable[Exchange], fmt: Format | None = None, *,
              redact: bool | Redactor = True, base_url: str | None = None,
              header: Trace | None = None) -> int:
    """Write :func:`export`'s text to ``path`` (the format from its suffix when not given);
    how many exchanges were selected. Raises :class:`ExportError` or ``OSError``."""
    selected = list(exchanges)
    text = export(selected, fmt or format_for(path), redact=redact, base_url=base_url,
                  header=header)
    path.write_text(text, encoding="utf-8")
    return len(selected)


def _trace(exchanges: list[Exchange], header: Trace | None) -> Trace:
    if header is None:
        return codec.new_trace(exchanges)
    return Trace(created_at=header.created_at, generator=header.generator, caps=header.caps,
                 dropped=header.dropped, recorder_errors=header.recorder_errors,
                 exchanges=exchanges)


def _commands(exchanges: list[Exchange], fmt: str, command: Callable[[Exchange], str]) -> str:
    """One command per HTTP exchange, each under a comment naming it (a newline or control
    character in the comment would end it and start a command: they are escaped)."""
    blocks = []
    for exchange in exchanges:
        method = text_of(scope_of(exchange).get("method"), exchange.type.upper())
        title = "# " + printable(f"{exchange.id}: {method} {target_of(exchange)}")
        if exchange.type == "http":
            blocks.append(f"{title}\n{command(exchange)}\n")
        elif exchange.type == "websocket":
            blocks.append(f"{title} (WebSocket: not exported)\n")
    if not any(e.type == "http" for e in exchanges):
        raise ExportError(f"none of these exchanges is an HTTP request {fmt} can re-send")
    return "\n".join(blocks)
