"""``asgi-inspect diff A B``: compare two recorded sessions exchange by exchange.

A and B are our traces or HAR files. Their exchanges are paired (``--pair``) and each pair is
diffed as a replay is, with the same ``--ignore-header``/``--ignore-field``/``--ignore-text``;
the report names what only A has (missing), what only B has (added) and what changed. Exits 1
on any difference, 0 when the sessions answer the same. The operation is
:func:`asgi_inspect.ops.session_diff.diff_sessions`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from asgi_inspect.cli.ci_options import add_ci_options, write_ci
from asgi_inspect.cli.options import (
    add_ignore_header,
    add_strict_option,
    check_filter,
    read_trace,
    repeat_threshold,
)
from asgi_inspect.cli.replay import SHOWN_CHANGES, add_ignore_body, ignore_body
from asgi_inspect.formats.ci import Case, change_lines
from asgi_inspect.http import VOLATILE_HEADERS
from asgi_inspect.inside import DEFAULT_N_PLUS_ONE
from asgi_inspect.model import Exchange
from asgi_inspect.ops.session_diff import PAIRINGS, Pair, diff_sessions
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "diff", help="compare two recorded sessions: missing, added and changed exchanges",
        description="Pair the exchanges of A and B and diff each pair as replay does; exit 1 "
                    "when anything is missing, added or changed.")
    parser.add_argument("a", type=Path, metavar="A", help="a .json, .jsonl or .har file")
    parser.add_argument("b", type=Path, metavar="B", help="the session to compare it with")
    parser.add_argument("--pair", choices=PAIRINGS, default="method-path",
                        help="how exchanges are paired: the nth same method and path (query "
                             "included, the default), the same without the query string "
                             "('path'), or the nth exchange of each ('order')")
    parser.add_argument("--filter", default="", metavar="EXPR",
                        help="compare only the exchanges this matches, on both sides")
    parser.add_argument("--all", action="store_true",
                        help="list the same pairs too, not only the differences")
    parser.add_argument("--n-plus-one", type=repeat_threshold, default=DEFAULT_N_PLUS_ONE,
                        metavar="N",
                        help="a statement run N times or more in one exchange is an N+1; a "
                             f"new one is a change (default {DEFAULT_N_PLUS_ONE})")
    add_ignore_header(parser)
    add_ignore_body(parser)
    add_strict_option(parser)
    add_ci_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    rules = ignore_body(args)  # bad rules fail before the traces are read
    chosen = check_filter(args.filter)
    sides = [read_side(path, chosen, strict=args.strict, n_plus_one=args.n_plus_one)
             for path in (args.a, args.b)]
    result = diff_sessions(*sides, pairing=args.pair,
                           ignore_headers=(*VOLATILE_HEADERS, *args.ignore_header),
                           ignore_body=rules, n_plus_one=args.n_plus_one)
    for pair in result.pairs:
        if args.all or pair.kind != "same":
            for line in _report(pair):
                print(printable(line))
    print(result.summary())
    write_ci(args, f"asgi-inspect diff {args.a.name} {args.b.name}",
             [_case(pair) for pair in result.pairs])
    return 1 if result.differs else 0


def read_side(path: Path, filter_text: str, *, strict: bool,
              n_plus_one: int) -> list[Exchange]:
    """The exchanges of one side that ``filter_text`` matches (``diff``, ``view --compare``;
    ``~n1`` at their ``--n-plus-one``)."""
    session = Session.offline(read_trace(path, strict=strict), title=str(path))
    session.n_plus_one = n_plus_one
    session.view.set_filter(filter_text)
    return session.view.select("shown")


def _report(pair: Pair) -> list[str]:
    """The pair's lines: its headline, then the changes, indented."""
    changes = change_lines(pair.diff, SHOWN_CHANGES) if pair.diff is not None else []
    return [pair.headline(), *(f"        {line}" for line in changes)]


def _case(pair: Pair) -> Case:
    """The pair as a CI test case: failing unless both sides answered the same."""
    if pair.kind == "same":
        return Case(pair.title)
    if pair.diff is None:
        return Case(pair.title, f"{pair.kind}: only in {'A' if pair.kind == 'missing' else 'B'}")
    return Case(pair.title, pair.diff.summary(), "\n".join(change_lines(pair.diff)))
