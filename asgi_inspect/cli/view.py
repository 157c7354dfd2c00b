"""``asgi-inspect view FILE``: open a saved trace (our JSON or JSONL, or HAR) in the inspector."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asgi_inspect.cli.diff import read_side
from asgi_inspect.cli.options import (
    add_ignore_header,
    add_replay_target,
    add_store_bounds,
    add_strict_option,
    check_filter,
    read_trace,
    replay_target,
)
from asgi_inspect.cli.replay import add_ignore_body, add_mock_outbound, ignore_body, mock_outbound
from asgi_inspect.ops.session_diff import PAIRINGS, SessionDiff, diff_sessions
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.untracked import freeze_for_exit, settle_heap
from asgi_inspect.store.view import by_start

if TYPE_CHECKING:
    from asgi_inspect.tui.app import InspectorApp


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("view", help="open a saved trace (JSON, JSONL or HAR)",
                            description="Open a saved trace in the inspector.")
    parser.add_argument("file", type=Path, metavar="FILE", help="a .json, .jsonl or .har file")
    parser.add_argument("--filter", default="", metavar="EXPR", help="start with this filter")
    add_replay_target(parser, required=False)
    add_ignore_header(parser)
    add_ignore_body(parser)
    add_mock_outbound(parser)
    add_strict_option(parser)
    add_store_bounds(parser)
    parser.add_argument("--compare", type=Path, metavar="B",
                        help="open on how the session in B differs from FILE, pair by pair "
                             "(as 'asgi-inspect diff FILE B'); Enter compares a pair")
    parser.add_argument("--pair", choices=PAIRINGS, default="method-path",
                        help="how --compare pairs exchanges (as diff's --pair)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    check_filter(args.filter)  # a bad expression fails here, before the screen opens
    ignore_body(args)  # and so does a bad --ignore-field or --ignore-text
    mocked = mock_outbound(args)  # and --mock-outbound without --app
    target = replay_target(args)
    session = open_session(args)
    compared = _compared(args, session) if args.compare is not None else None
    if target is not None:
        from asgi_inspect.replay.driver import InProcessReplayer

        session.replayer = InProcessReplayer(*target, mock_outbound=mocked)
    asyncio.run(_view(session, compared))
    return 0


def _compared(args: argparse.Namespace, session: Session) -> tuple[SessionDiff, str]:
    """The session in --compare's file against the one in view, and a title saying so."""
    other = read_side(args.compare, args.filter, strict=args.strict, n_plus_one=args.n_plus_one)
    result = diff_sessions(session.view.select("shown"), other, pairing=args.pair,
                           ignore_headers=session.ignored_headers,
                           ignore_body=session.ignored_body, n_plus_one=args.n_plus_one)
    return result, f"A: {args.file.name} · B: {args.compare.name}"


def open_session(args: argparse.Namespace) -> Session:
    """The session over the file: its exchanges in the order they started (a recording
    lists them as they finished), the store's bounds and the filter applied."""
    # The trace goes straight into the session: exchanges past --max-* are not kept alive.
    damage: list[str] = []
    trace = read_trace(args.file, strict=args.strict, damage=damage)
    trace.exchanges = by_start(trace.exchanges)
    session = Session.offline(trace, title=f"asgi-inspect view {args.file.name}",
                              max_exchanges=args.max_exchanges, max_memory=args.max_memory)
    session.skipped = len(damage)  # the header says so, as it says what was dropped
    session.n_plus_one = args.n_plus_one  # the views' N+1 flag, and ~n1 in its filter
    session.view.set_filter(args.filter)
    session.ignored_headers += tuple(args.ignore_header)
    session.ignored_body = ignore_body(args)
    return session


def viewer(session: Session, compared: tuple[SessionDiff, str] | None = None) -> InspectorApp:
    """The inspector over a file: it opens at the top, not following (nothing new comes);
    with ``compared``, on the pairs of another session first."""
    if compared is not None:
        from asgi_inspect.tui.compare_app import ComparingViewer

        return ComparingViewer(session, *compared)
    from asgi_inspect.tui.app import InspectorApp

    return InspectorApp(session, follow=False)


async def _view(session: Session, compared: tuple[SessionDiff, str] | None) -> None:
    settle_heap()
    try:
        await viewer(session, compared).run_async()
    finally:
        await session.close()
        freeze_for_exit()
