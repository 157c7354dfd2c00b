"""``asgi-inspect export TRACE``: a trace (ours or HAR) as JSON, JSONL, HAR, curl or HTTPie.

Secrets are redacted unless ``--no-redact`` is given. Any bad input (a missing file, a file
that is not a trace, a bad filter, an output that cannot be written) is one line on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgi_inspect.codec import TraceError, dumps, dumps_jsonl
from asgi_inspect.export import load_any, redact_exchange, to_curl, to_har, to_httpie
from asgi_inspect.export.parts import scope_of, target_of, text_of
from asgi_inspect.model import Exchange, Trace

FORMATS = ("json", "jsonl", "har", "curl", "httpie")
_BY_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".har": "har", ".sh": "curl"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a newline in a comment would start a command


class _Failure(Exception):
    """A user error: one line on stderr, exit status 2."""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "export", help="export a trace as JSON, JSONL, HAR, curl or HTTPie commands",
        description="Export a saved trace (our JSON or JSONL, or HAR). Secrets (Authorization, "
                    "Cookie, API-key headers, token query parameters, password JSON fields) "
                    "are redacted unless --no-redact is given.")
    parser.add_argument("trace", type=Path, metavar="TRACE", help="a .json, .jsonl or .har file")
    parser.add_argument("-f", "--format", choices=FORMATS,
                        help="output format (default: from the -o suffix, else json)")
    parser.add_argument("--filter", default="", metavar="EXPR",
                        help="export only the exchanges this filter expression matches")
    parser.add_argument("--no-redact", dest="redact", action="store_false",
                        help="keep secrets in the output")
    parser.add_argument("--base-url", metavar="URL",
                        help="curl/httpie: send to this origin (http://host:port) instead")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write here instead of standard output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Export as the arguments say; 0 on success, 2 with a one-line message on bad input."""
    try:
        text = render(args)
        _write(args.output, text)
    except _Failure as exc:
        print(f"asgi-inspect: error: {exc}", file=sys.stderr)
        return 2
    return 0


def render(args: argparse.Namespace) -> str:
    """The exported text."""
    try:
        trace = load_any(args.trace)
    except TraceError as exc:
        raise _Failure(f"{args.trace}: {exc}") from None
    exchanges = _selected(trace.exchanges, args.filter)
    fmt = args.format or _BY_SUFFIX.get(args.output.suffix if args.output else "", "json")
    if fmt == "har":
        return json.dumps(to_har(exchanges, redact=args.redact), indent=2, ensure_ascii=False)
    if args.redact:
        exchanges = [redact_exchange(e) for e in exchanges]
    if fmt in ("json", "jsonl"):
        exported = Trace(created_at=trace.created_at, generator=trace.generator, caps=trace.caps,
                         dropped=trace.dropped, recorder_errors=trace.recorder_errors,
                         exchanges=exchanges)
        return (dumps(exported) if fmt == "json" else dumps_jsonl(exported)).decode("utf-8")
    command = to_curl if fmt == "curl" else to_httpie
    return _commands(exchanges, lambda e: command(e, base_url=args.base_url, redact=False))


def _selected(exchanges: list[Exchange], expression: str) -> list[Exchange]:
    if not expression:
        return exchanges
    from asgi_inspect.filters import FilterError, compile_filter

    try:
        matches = compile_filter(expression)
    except FilterError as exc:
        raise _Failure(f"bad --filter: {exc}") from None
    return [e for e in exchanges if matches(e)]


def _commands(exchanges: list[Exchange], command: Callable[[Exchange], str]) -> str:
    """One command per HTTP exchange, each under a comment naming it."""
    blocks = []
    for exchange in exchanges:
        method = text_of(scope_of(exchange).get("method"), exchange.type.upper())
        title = _CONTROL.sub("?", f"# {exchange.id}: {method} {target_of(exchange)}")
        if exchange.type == "http":
            blocks.append(f"{title}\n{command(exchange)}\n")
        elif exchange.type == "websocket":
            blocks.append(f"{title} (WebSocket: not exported)\n")
    return "\n".join(blocks)


def _write(output: Path | None, text: str) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _Failure(f"cannot write {output}: {exc.strerror or exc}") from None
