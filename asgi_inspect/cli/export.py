"""``asgi-inspect export TRACE``: a trace (ours or HAR) as JSON, JSONL, HAR, curl or HTTPie.

Secrets are redacted unless ``--no-redact`` is given. The text is what the TUI's export writes
for the same exchanges (both go through :mod:`asgi_inspect.ops.export`). Any bad input (a
missing file, a file that is not a trace, a bad filter, an output that cannot be written) is
one line on stderr and exit status 2. A damaged line of the trace is skipped with a warning
(``--strict``: exit 2 instead); on success one line on stderr says what was written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from asgi_inspect import inside
from asgi_inspect.cli.options import (
    CliError,
    add_otlp_options,
    add_strict_option,
    check_filter,
    read_trace,
)
from asgi_inspect.cli.otlp import send_trace
from asgi_inspect.model import Exchange
from asgi_inspect.ops.export import (
    FORMATS,
    ExportError,
    Format,
    export_pieces,
    format_for,
    slices,
    write_pieces,
)
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable
from asgi_inspect.units import format_size

FORMAT_NAMES: dict[Format, str] = {"json": "JSON", "jsonl": "JSONL", "har": "HAR",
                                   "curl": "curl", "httpie": "HTTPie", "otlp-json": "OTLP JSON"}


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "export", help="export a trace as JSON, JSONL, HAR, curl or HTTPie commands",
        description="Export a saved trace (our JSON or JSONL, or HAR). Secrets are redacted "
                    "unless --no-redact is given: values of headers, parameters and JSON or "
                    "form fields whose names contain token, secret, key, auth, pass, session, "
                    "signature or cookie, and those values wherever exceptions and printed "
                    "lines repeat them. -o files are created readable by you alone (0600).")
    parser.add_argument("trace", type=Path, metavar="TRACE", help="a .json, .jsonl or .har file")
    parser.add_argument("-f", "--format", choices=(*FORMATS, "otlp"),
                        help="output format (default: from the -o suffix, else json); otlp "
                             "sends the exchanges as traces to --otlp's endpoint")
    parser.add_argument("--filter", default="", metavar="EXPR",
                        help="export only the exchanges this filter expression matches")
    parser.add_argument("--marked", action="store_true",
                        help="export only the exchanges marked in the trace")
    parser.add_argument("--no-redact", dest="redact", action="store_false",
                        help="keep secrets in the output")
    parser.add_argument("--with-calls", action="store_true",
                        help="har: add the outbound HTTP calls the app made as entries of "
                             "their own, each naming the exchange that made it")
    parser.add_argument("--base-url", metavar="URL",
                        help="curl/httpie: send to this origin (http://host:port) instead")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write here instead of standard output")
    add_otlp_options(parser, live=False)
    add_strict_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Export as the arguments say; 0 on success, 2 with a one-line message on bad input.

    The text is written as it is made (:func:`export_pieces`), an exchange at a time, so a
    big trace is never held twice; ``-o`` creates the file owner-only (0600).
    """
    session = Session.offline(read_trace(args.trace, strict=args.strict), title=str(args.trace))
    session.view.set_filter(check_filter(args.filter))
    session.view.marked_only = args.marked
    selected = session.view.select("shown")
    if args.format == "otlp" or (args.format is None and args.otlp is not None):
        return send_trace(selected, args)  # sent, not written
    fmt = args.format or format_for(args.output)
    try:
        pieces = export_pieces(selected, fmt, redact=args.redact, base_url=args.base_url,
                               header=session.trace_header(), with_calls=args.with_calls)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    size = _write(args.output, pieces)
    calls = sum(len(inside.calls(e)) for e in selected) if args.with_calls else 0
    _say_written(_exported(selected, fmt), fmt, size, args.output, calls)
    return 0


def _say_written(count: int, fmt: Format, size: int, output: Path | None,
                 calls: int = 0) -> None:
    """One line on stderr (standard output holds the export alone): what went where."""
    where = "standard output" if output is None else printable(str(output))
    also = f" and {calls:,} outbound call{'' if calls == 1 else 's'}" if calls else ""
    print(f"asgi-inspect: wrote {count:,} exchange{'' if count == 1 else 's'}{also} "
          f"({FORMAT_NAMES[fmt]}, {format_size(size)}) to {where}", file=sys.stderr)


def _exported(selected: Sequence[Exchange], fmt: Format) -> int:
    """How many exchanges the export holds: commands are made of HTTP exchanges only."""
    if fmt in ("curl", "httpie"):
        return sum(exchange.type == "http" for exchange in selected)
    return len(selected)


def _write(output: Path | None, pieces: Iterator[str]) -> int:
    """Write the pieces to ``output`` (standard output when None); the UTF-8 bytes written."""
    tally = _Tally()
    parts = tally.through(slices(pieces))
    if output is None:
        for part in parts:
            sys.stdout.write(part)
        return tally.size
    try:
        write_pieces(output, parts)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    return tally.size


class _Tally:
    """The UTF-8 size of the text an export wrote, counted as it goes by (the export is
    never held whole to be measured)."""

    def __init__(self) -> None:
        self.size = 0

    def through(self, parts: Iterable[str]) -> Iterator[str]:
        """The parts, each counted when it passes (an ASCII part without encoding it)."""
        for part in parts:
            self.size += len(part) if part.isascii() else len(part.encode("utf-8"))
            yield part
