"""``asgi-inspect replay TRACE``: replay a recorded session and report what changed.

Against an app in this process (``--app module:app``) or a live server (``--url``). Exits 1
when a response differs beyond the ignored parts, or a replay fails, so a recording can serve
as a regression test. The loop is :func:`asgi_inspect.ops.replay.replay`, as in the TUI.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from asgi_inspect.cli.options import (
    CliError,
    add_ignore_header,
    add_replay_target,
    add_strict_option,
    check_filter,
    read_trace,
    replay_target,
)
from asgi_inspect.formats import codec
from asgi_inspect.http import VOLATILE_HEADERS
from asgi_inspect.model import Exchange
from asgi_inspect.ops.replay import ReplayOutcome, replay, replayable
from asgi_inspect.replay.request import ReplayError
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable

SHOWN_CHANGES = 6


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "replay", help="replay a trace against an app or a server and report differences",
        description="Replay every HTTP and WebSocket exchange of TRACE, compare each new "
                    "response with the recorded one, write the replays to a file, and exit 1 "
                    "when any differs or fails.")
    parser.add_argument("trace", type=Path, metavar="TRACE", help="a .json, .jsonl or .har file")
    add_replay_target(parser, required=True)
    parser.add_argument("--filter", default="", metavar="EXPR", help="replay only these")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="where to write the replays (default: TRACE.replay.jsonl)")
    add_ignore_header(parser)
    add_strict_option(parser)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds one exchange may take (default 30)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    session = Session.offline(read_trace(args.trace, strict=args.strict), title=str(args.trace))
    session.view.set_filter(check_filter(args.filter))
    chosen = replayable(session.view.select("shown"))
    if not chosen:
        raise CliError("nothing to replay: no HTTP or WebSocket exchange matches")
    target = replay_target(args)
    assert target is not None  # --app or --url is required
    output = args.output or args.trace.with_suffix(".replay.jsonl")
    ignored = (*VOLATILE_HEADERS, *args.ignore_header)
    outcomes = asyncio.run(_replay_all(target, chosen, args.timeout, ignored))
    codec.write(codec.new_trace(o.replay for o in outcomes if o.replay is not None), output,
                jsonl=True)
    replayed = [o for o in outcomes if not o.skipped]
    failed = sum(o.differs or o.replay is None for o in replayed)
    print(f"{len(replayed)} replayed, {failed} differ or failed; replays written to {output}")
    return 1 if failed else 0


async def _replay_all(target: tuple[Any, str], exchanges: list[Exchange], timeout: float,
                      ignored: tuple[str, ...]) -> list[ReplayOutcome]:
    from asgi_inspect.replay.driver import InProcessReplayer

    replayer = InProcessReplayer(*target, timeout=timeout)
    outcomes = []
    try:
        await replayer.start()
        async for outcome in replay(replayer, exchanges, ignore_headers=ignored):
            _report(outcome)
            outcomes.append(outcome)
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    finally:
        await replayer.close()
    return outcomes


def _report(outcome: ReplayOutcome) -> None:
    a = outcome.original
    if outcome.diff is None:
        verb = "skipped" if outcome.skipped else "failed"
        print(printable(f"{a.id:>5} {verb}: {outcome.error}"))
        return
    diff, b = outcome.diff, outcome.diff.replay
    print(printable(f"{a.id:>5} {a.method} {a.path}  {a.status} → {b.status}  {diff.summary()}"))
    significant = [c for c in diff.changes if c.significant]
    for change in significant[:SHOWN_CHANGES]:
        print(printable(f"        {change.section}: {change.text}"))
    if len(significant) > SHOWN_CHANGES:
        print(f"        … {len(significant) - SHOWN_CHANGES} more")
