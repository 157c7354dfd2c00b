"""What several subcommands share: the user-error type, options, and reading their values.

Every check here turns bad input into a one-line :class:`CliError` (exit status 2), never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from asgi_inspect.inside import DEFAULT_N_PLUS_ONE
from asgi_inspect.model import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_EXCHANGES,
    DEFAULT_MAX_MEMORY,
    DEFAULT_OTLP_BODY,
    Trace,
)
from asgi_inspect.text import printable
from asgi_inspect.units import parse_size

SHOWN_DAMAGE = 5  # damaged lines named one by one on stderr; the rest are counted


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def size(text: str) -> int:
    """An argparse type: ``65536``, ``64KiB``, ``1MB``."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port (0 to 65535)")
    return number


def repeat_threshold(text: str) -> int:
    """An argparse type: how many runs of one statement in an exchange make an N+1 (2 or
    more)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 2:
        raise argparse.ArgumentTypeError(f"{number} is too few: a statement is repeated from "
                                         "2 runs on")
    return number


def add_server_options(parser: argparse.ArgumentParser, *, default_port: int,
                       app_options: bool = True) -> None:
    """uvicorn's options; ``app_options``: those about loading a Python app (not the proxy's)."""
    group = parser.add_argument_group("server (as uvicorn)")
    group.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    group.add_argument("--port", type=port, default=default_port,
                       help=f"bind port (default {default_port})")
    if app_options:
        group.add_argument("--reload", action="store_true", help="restart on code changes")
        group.add_argument("--factory", action="store_true", help="APP is a factory to call")
        group.add_argument("--app-dir", default=".",
                           help="look for APP's module here (default .)")
    group.add_argument("--root-path", default="", help="ASGI root_path, behind a proxy")
    group.add_argument("--max-body", default=DEFAULT_MAX_BODY, type=size, metavar="SIZE",
                       help="body bytes kept per direction and exchange "
                            f"(default {DEFAULT_MAX_BODY // 1024}KiB)")
    group.add_argument("--redact", action="store_true",
                       help="redact secrets as they are recorded: they never leave the app's "
                            "process (exports redact by default anyway)")


def add_view_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inspector")
    add_store_bounds(group)
    group.add_argument("--headless", action="store_true",
                       help="no UI: print one line per exchange")
    group.add_argument("--record", type=Path, metavar="FILE",
                       help="write every exchange to FILE (JSONL)")
    group.add_argument("--filter", default="", metavar="EXPR",
                       help="show (and record) only exchanges matching EXPR")
    add_ignore_header(group)
    add_otlp_options(parser, live=True)


def add_otlp_options(parser: argparse.ArgumentParser, *, live: bool) -> None:
    """--otlp and its settings (``live``: run, proxy, listen; else export), and --trace-url
    (live): exchanges as OpenTelemetry traces (asgi_inspect/otel, docs/otel.md)."""
    group = parser.add_argument_group("OpenTelemetry")
    group.add_argument("--otlp", nargs="?", const="", metavar="ENDPOINT",
                       help="send every exchange as an OTLP trace to ENDPOINT, a base URL "
                            "(http://collector:4318); alone: $OTEL_EXPORTER_OTLP_ENDPOINT, "
                            "else localhost")
    group.add_argument("--otlp-protocol", metavar="PROTOCOL",
                       help="http/protobuf or grpc (default: $OTEL_EXPORTER_OTLP_PROTOCOL, "
                            "else http/protobuf)")
    group.add_argument("--otlp-body", type=size, default=DEFAULT_OTLP_BODY, metavar="SIZE",
                       help="body bytes a span carries per direction, redacted; 0: none "
                            f"(default {DEFAULT_OTLP_BODY // 1024}KiB)")
    if not live:
        return
    group.add_argument("--trace-url", metavar="TEMPLATE",
                       help="link each exchange to its trace: a URL with {trace_id} in it "
                            "(http://jaeger:16686/trace/{trace_id})")


def add_store_bounds(parser: Any) -> None:
    """--max-exchanges and --max-memory: what a session keeps in memory; and --n-plus-one,
    how it reads what the app did inside (run, proxy, listen, view)."""
    parser.add_argument("--n-plus-one", type=repeat_threshold, default=DEFAULT_N_PLUS_ONE,
                        metavar="N",
                        help="flag a statement run N times or more in one exchange as an N+1 "
                             f"(default {DEFAULT_N_PLUS_ONE})")
    parser.add_argument("--max-exchanges", type=int, default=DEFAULT_MAX_EXCHANGES,
                        help="exchanges kept in memory; the oldest go first "
                             f"(default {DEFAULT_MAX_EXCHANGES})")
    parser.add_argument("--max-memory", type=size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                        help="about how much memory the kept exchanges may use (bodies, "
                             "messages); the oldest go first "
                             f"(default {DEFAULT_MAX_MEMORY // 1024**3}GiB)")


def add_ignore_header(parser: Any) -> None:
    """--ignore-header: shared by every command that compares a replay with its original."""
    parser.add_argument("--ignore-header", action="append", default=[], metavar="NAME",
                        help="a response header replays are not compared on, besides date, "
                             "server, etag, request ids... (repeatable)")


def add_replay_target(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """--app / --url: what replays run against (``view`` and ``replay``)."""
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--app", metavar="MODULE:ATTR", help="replay in-process against this app")
    target.add_argument("--url", help="replay against a running server at this base URL")
    parser.add_argument("--factory", action="store_true", help="--app is a factory to call")
    parser.add_argument("--app-dir", default=".", help="look for --app's module here")


def replay_target(args: argparse.Namespace) -> tuple[Any, str] | None:
    """The app replays run against (a proxy to --url, or --app loaded), and its description."""
    if args.url:
        from asgi_inspect.proxy import make_proxy

        url = check_upstream(args.url)
        return make_proxy(url, rewrite_host=True, forwarded=False), url
    if not args.app:
        return None
    from asgi_inspect.record.serve import load_app

    try:
        return load_app(args.app, factory=args.factory, app_dir=args.app_dir), args.app
    except Exception as exc:  # any import failure of the user's module is one line here
        raise CliError(f"cannot load {args.app}: {exc}") from None


def check_upstream(url: str, what: str = "--url") -> str:
    """The upstream URL, or a one-line :class:`CliError` saying what is wrong with it."""
    from asgi_inspect.proxy import parse_upstream

    try:
        parse_upstream(url)
    except ValueError as exc:
        raise CliError(f"bad {what}: {exc}") from None
    return url.rstrip("/")


def check_filter(text: str) -> str:
    """The --filter expression, once it is known to compile (else a one-line error)."""
    from asgi_inspect.filters import FilterError, compile_filter

    try:
        compile_filter(text)
    except FilterError as exc:
        raise CliError(f"bad --filter: {exc}") from None
    return text


def add_strict_option(parser: argparse.ArgumentParser) -> None:
    """--strict: refuse a damaged trace rather than skip its damaged lines (view, export,
    replay)."""
    parser.add_argument("--strict", action="store_true",
                        help="refuse a trace with a damaged line or an invalid exchange (exit "
                             "2) instead of skipping it with a warning")


def read_trace(path: Path, *, strict: bool = False, damage: list[str] | None = None) -> Trace:
    """Any trace file we read (:func:`asgi_inspect.read`), or a one-line :class:`CliError`.

    Damaged lines and invalid exchanges are skipped, each named in a warning line on stderr
    (the first :data:`SHOWN_DAMAGE`, then a count) and added to ``damage`` if given; with
    ``strict`` the first one is an error.
    """
    from asgi_inspect.formats.codec import TraceError
    from asgi_inspect.formats.reader import read

    damage = [] if damage is None else damage
    try:
        trace = read(path, None if strict else damage.append)
    except TraceError as exc:
        raise CliError(f"{path}: {exc}") from None
    for reason in damage[:SHOWN_DAMAGE]:
        _warn(f"{path}: {reason} (skipped; --strict refuses the file)")
    if len(damage) > SHOWN_DAMAGE:
        _warn(f"{path}: {len(damage) - SHOWN_DAMAGE} more damaged lines or exchanges skipped")
    return trace


def _warn(text: str) -> None:
    print(f"asgi-inspect: warning: {printable(text)}", file=sys.stderr)
