"""``asgi-inspect replay TRACE``: replay a recorded session and report what changed.

Against an app in this process (``--app module:app``) or a live server (``--url``). Exits 1
when a response differs beyond the ignored parts, so a recording can serve as a regression test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from asgi_inspect import codec
from asgi_inspect.cli import CliError
from asgi_inspect.commands.run import add_ignore_header
from asgi_inspect.commands.view import add_replay_target
from asgi_inspect.diff import DEFAULT_IGNORED_HEADERS, Diff, diff_exchanges
from asgi_inspect.driver import Driver
from asgi_inspect.model import Exchange
from asgi_inspect.replay import ReplayError, ReplayRequest

SHOWN_CHANGES = 6


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "replay", help="replay a trace against an app or a server and report differences",
        description="Replay every HTTP and WebSocket exchange of TRACE, compare each new "
                    "response with the recorded one, write the replays to a file, and exit 1 "
                    "when any differs.")
    parser.add_argument("trace", type=Path, metavar="TRACE", help="a .json, .jsonl or .har file")
    add_replay_target(parser, required=True)
    parser.add_argument("--filter", default="", metavar="EXPR", help="replay only these")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="where to write the replays (default: TRACE.replay.jsonl)")
    add_ignore_header(parser)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds one exchange may take (default 30)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from asgi_inspect.commands.run import compile_filter_option
    from asgi_inspect.commands.view import load_trace_file, replay_target

    trace = load_trace_file(args.trace)
    keep = compile_filter_option(args.filter) or (lambda exchange: True)
    chosen = [e for e in trace.exchanges
              if e.type in ("http", "websocket") and e.replay_of is None and keep(e)]
    if not chosen:
        raise CliError("nothing to replay: no HTTP or WebSocket exchange matches")
    app, _ = replay_target(args)  # type: ignore[misc]  # required=True: never None
    output = args.output or args.trace.with_suffix(".replay.jsonl")
    ignored = (*DEFAULT_IGNORED_HEADERS, *args.ignore_header)
    diffs = asyncio.run(_replay_all(app, chosen, args.timeout, ignored))
    codec.write(codec.new_trace(d.replay for d in diffs), output, jsonl=True)
    differing = sum(d.differs for d in diffs)
    print(f"{len(diffs)} replayed, {differing} differ; replays written to {output}")
    return 1 if differing else 0


async def _replay_all(app: Any, exchanges: list[Exchange], timeout: float,
                      ignored: tuple[str, ...]) -> list[Diff]:
    diffs = []
    try:
        async with Driver(app, timeout=timeout) as driver:
            for original in exchanges:
                try:
                    request = ReplayRequest.from_exchange(original)
                except ReplayError as exc:
                    print(f"{original.id:>5} skipped: {exc}")
                    continue
                replayed = await driver.replay(request, original.id)
                diff = diff_exchanges(original, replayed, ignore_headers=ignored)
                _report(diff)
                diffs.append(diff)
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    return diffs


def _report(diff: Diff) -> None:
    a, b = diff.original, diff.replay
    line = f"{a.id:>5} {a.method} {a.path}  {a.status} → {b.status}  {diff.summary()}"
    print(line, file=sys.stdout)
    significant = [c for c in diff.changes if c.significant]
    for change in significant[:SHOWN_CHANGES]:
        print(f"        {change.section}: {change.text}")
    if len(significant) > SHOWN_CHANGES:
        print(f"        … {len(significant) - SHOWN_CHANGES} more")
