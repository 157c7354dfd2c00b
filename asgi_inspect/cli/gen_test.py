"""``asgi-inspect gen-test TRACE --app module:app -o FILE``: pytest tests from recorded traffic.

The module written needs pytest and httpx only; see :mod:`asgi_inspect.ops.gen_test`. It holds
the requests as recorded (headers, bodies): it is written owner-only, and the secrets it holds
(by the redaction rules' names) are named on stderr to review before committing it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from asgi_inspect.cli.options import (
    CliError,
    add_ignore_header,
    add_strict_option,
    check_filter,
    read_trace,
)
from asgi_inspect.cli.replay import add_ignore_body, ignore_body
from asgi_inspect.http import VOLATILE_HEADERS
from asgi_inspect.ops.gen_test import APP_REFERENCE, generate
from asgi_inspect.record.files import write_private
from asgi_inspect.record.redact import Redactor
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "gen-test", help="write pytest tests that replay a trace's exchanges against the app",
        description="Write a pytest module (it needs pytest and httpx only) with one test per "
                    "recorded HTTP exchange, or per sequence of exchanges that depend on each "
                    "other (a cookie, an id), asserting on the status, the meaningful headers "
                    "and the body.")
    parser.add_argument("trace", type=Path, metavar="TRACE", help="a .json, .jsonl or .har file")
    parser.add_argument("--app", required=True, metavar="MODULE:ATTR",
                        help="the app the tests import, as the tests' sys.path finds it")
    parser.add_argument("--filter", default="", metavar="EXPR", help="only these exchanges")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                        help="the module to write, e.g. tests/test_recorded.py")
    add_ignore_header(parser)
    add_ignore_body(parser)
    add_strict_option(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    rules = ignore_body(args)
    if not APP_REFERENCE.fullmatch(args.app):  # it becomes an import line of the module
        raise CliError(f"bad --app {args.app!r}: expected MODULE:ATTR, like main:app")
    session = Session.offline(read_trace(args.trace, strict=args.strict), title=str(args.trace))
    session.view.set_filter(check_filter(args.filter))
    generated = generate(session.view.select("shown"), app=args.app, source=args.trace.name,
                         ignore_headers=(*VOLATILE_HEADERS, *args.ignore_header),
                         ignore_body=rules)
    if not generated.tests:
        raise CliError("no test to write: no recorded HTTP exchange with a response matches")
    try:
        write_private(args.output, generated.source)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    for exchange, why in generated.skipped:
        _warn(f"#{exchange.id} {exchange.method} {exchange.path} left out: {why}")
    if generated.calling:
        _warn(f"{generated.calling} of the tests let the app make the outbound HTTP calls it "
              "made when recorded, for real (named in comments in them)")
    secrets = _secret_headers(generated.sent_headers)
    if secrets:
        _warn(f"{args.output} holds recorded {', '.join(secrets)} headers: review it before "
              "committing it")
    print(printable(f"{generated.tests} tests written to {args.output} "
                    f"({len(generated.skipped)} exchanges left out)"))
    return 0


def _secret_headers(names: set[str]) -> list[str]:
    """The request headers the module sends that the redaction rules call secret."""
    redactor = Redactor()
    return sorted(name for name in names if redactor.is_secret("header", name))


def _warn(text: str) -> None:
    print(printable(f"asgi-inspect: warning: {text}"), file=sys.stderr)
