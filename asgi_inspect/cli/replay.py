"""``asgi-inspect replay TRACE``: replay a recorded session and report what changed.

Against an app in this process (``--app module:app``) or a live server (``--url``). Exits 1
when a response differs beyond the ignored parts (headers, ``--ignore-field`` JSONPaths,
``--ignore-text`` patterns), a replay fails, or one could not send what the client sent (a
request body capped at capture: a warning on stderr, and exit 1 unless ``--allow-truncated``),
so a recording can serve as a regression test. What the app prints, logs or raises while it
runs in this process goes to a log file, not into the report (one line per exchange says how
much). The loop is :func:`asgi_inspect.ops.replay.replay`, as in the TUI. With
``--mock-outbound`` the app's outbound HTTP calls get the recorded responses (offline); a call
with no recording is named under its exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from asgi_inspect.cli.ci_options import add_ci_options, write_ci
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
from asgi_inspect.formats.ci import Case, change_lines
from asgi_inspect.http import VOLATILE_HEADERS, status_text
from asgi_inspect.model import Exchange
from asgi_inspect.ops.replay import ReplayOutcome, replay, replayable
from asgi_inspect.replay.ignore import BodyIgnore, IgnoreError
from asgi_inspect.replay.output import OutputLog
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
    parser.add_argument("--log", type=Path, metavar="FILE",
                        help="where the app's own output goes (default: the output file with "
                             ".log, written only when the app prints)")
    add_ignore_header(parser)
    add_ignore_body(parser)
    add_mock_outbound(parser)
    parser.add_argument("--allow-truncated", action="store_true",
                        help="a replay that sent less than the client did (a request body "
                             "capped at capture) does not make the exit status 1; it is still "
                             "warned about")
    add_strict_option(parser)
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds one exchange may take (default 30)")
    add_ci_options(parser)
    parser.set_defaults(handler=handle)


def add_ignore_body(parser: Any) -> None:
    """--ignore-field and --ignore-text: what diffs leave out of bodies (replay, view)."""
    parser.add_argument("--ignore-field", action="append", default=[], metavar="JSONPATH",
                        help="a JSON field replays are not compared on, like '$.query_ms', "
                             "'$.rows[*].id' or '$..etag' (repeatable)")
    parser.add_argument("--ignore-text", action="append", default=[], metavar="REGEX",
                        help="text that is masked on both sides before comparing, like "
                             "'took [0-9.]+ms' (repeatable)")


def add_mock_outbound(parser: Any) -> None:
    """--mock-outbound: replays in-process answer the app's outbound calls from the trace."""
    parser.add_argument("--mock-outbound", action="store_true",
                        help="with --app: answer the app's outbound HTTP calls (httpx, "
                             "requests, urllib3, aiohttp) with the responses recorded in the "
                             "trace, never the network; a call with none fails and is named")


def mock_outbound(args: argparse.Namespace) -> bool:
    """Whether replays mock outbound calls; a one-line :class:`CliError` without --app."""
    if args.mock_outbound and not args.app:
        raise CliError("--mock-outbound needs --app: only an app replayed in this process "
                       "can have its outbound calls answered")
    return bool(args.mock_outbound)


def ignore_body(args: argparse.Namespace) -> BodyIgnore:
    """The --ignore-field and --ignore-text rules, or a one-line :class:`CliError`."""
    try:
        return BodyIgnore.parse(args.ignore_field, args.ignore_text)
    except IgnoreError as exc:
        raise CliError(str(exc)) from None


def handle(args: argparse.Namespace) -> int:
    rules = ignore_body(args)  # bad rules fail before the trace is read
    mocked = mock_outbound(args)
    session = Session.offline(read_trace(args.trace, strict=args.strict), title=str(args.trace))
    session.view.set_filter(check_filter(args.filter))
    chosen = replayable(session.view.select("shown"))
    if not chosen:
        raise CliError("nothing to replay: no HTTP or WebSocket exchange matches")
    target = replay_target(args)
    assert target is not None  # --app or --url is required
    output = args.output or args.trace.with_suffix(".replay.jsonl")
    log = OutputLog(args.log or output.with_suffix(".log"))
    ignored = (*VOLATILE_HEADERS, *args.ignore_header)
    try:
        outcomes = asyncio.run(_replay_all(target, chosen, args.timeout, log,
                                           ignore_headers=ignored, ignore_body=rules,
                                           mock_outbound=mocked))
    finally:
        log.close()
    codec.write(codec.new_trace(o.replay for o in outcomes if o.replay is not None), output,
                jsonl=True)
    replayed = [o for o in outcomes if not o.skipped]
    failed = sum(o.differs or o.replay is None for o in replayed)
    truncated = sum(bool(o.warnings) for o in replayed)
    print(f"{len(replayed)} replayed, {failed} differ or failed, {truncated} sent less than "
          f"recorded; replays written to {output}"
          + (f", the app's output to {log.path}" if log.used else ""))
    write_ci(args, f"asgi-inspect replay {args.trace.name}", [_case(o) for o in replayed])
    return 1 if failed or (truncated and not args.allow_truncated) else 0


async def _replay_all(target: tuple[Any, str], exchanges: list[Exchange], timeout: float,
                      log: OutputLog, *, ignore_headers: tuple[str, ...],
                      ignore_body: BodyIgnore, mock_outbound: bool) -> list[ReplayOutcome]:
    """Replay in order, reporting each as it ends; the app's output goes to ``log``."""
    from asgi_inspect.replay.driver import InProcessReplayer

    replayer = InProcessReplayer(*target, timeout=timeout, mock_outbound=mock_outbound)
    outcomes = []
    try:
        with log.capture("the app's startup"):
            await replayer.start()
        results = replay(replayer, exchanges, ignore_headers=ignore_headers,
                         ignore_body=ignore_body)
        for exchange in exchanges:  # one outcome each, each replay inside its own capture
            title = f"#{exchange.id} {exchange.method} {exchange.path}"
            with log.capture(title) as captured:
                outcome = await anext(results)
            _report(outcome, _app_output(outcome, captured.lines, log))
            outcomes.append(outcome)
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    finally:
        with log.capture("the app's shutdown"):
            await replayer.close()
    return outcomes


def _app_output(outcome: ReplayOutcome, lines: int, log: OutputLog) -> str:
    """One line on what the app printed and raised during a replay (the traceback goes to the
    log); empty when it did neither."""
    failure = outcome.replay.exception if outcome.replay is not None else None
    if failure is not None and failure.traceback:
        log.write(f"#{outcome.original.id}: the replay's exception", failure.traceback.encode())
    said = [f"printed {lines} line{'s' if lines != 1 else ''}"] if lines else []
    if failure is not None:
        said.append(f"raised {failure.type}")
    return f"app {', '.join(said)}; see {log.path}" if said else ""


def _report(outcome: ReplayOutcome, app_output: str) -> None:
    """The outcome's lines: stdout for the report, stderr for what the replay could not send."""
    from asgi_inspect.replay.driver import unanswered  # loaded with the replayer

    a = outcome.original
    for warning in outcome.warnings:
        print(printable(f"asgi-inspect: warning: #{a.id}: {warning}"), file=sys.stderr)
    mark = "  (sent less than recorded)" if outcome.warnings else ""
    if outcome.diff is None:
        verb = "skipped" if outcome.skipped else "failed"
        print(printable(f"{a.id:>5} {verb}: {outcome.error}{mark}"))
    else:
        diff, b = outcome.diff, outcome.diff.replay
        print(printable(f"{a.id:>5} {a.method} {a.path}  {status_text(a)} → {status_text(b)}  "
                        f"{diff.summary()}{mark}"))
        for line in change_lines(diff, SHOWN_CHANGES):
            print(printable(f"        {line}"))
        for note in unanswered(b):
            print(printable(f"        {note}"))
    if app_output:
        print(printable(f"        {app_output}"))


def _case(outcome: ReplayOutcome) -> Case:
    """One replay as a CI test case: failed when it differs, failed or sent less."""
    a = outcome.original
    name = f"#{a.id} {a.method} {a.path}"
    if outcome.diff is None:
        return Case(name, f"failed: {outcome.error}")
    why = outcome.diff.summary() if outcome.differs else ""
    if outcome.warnings:
        why = "; ".join(filter(None, (why, *outcome.warnings)))
    return Case(name, why, "\n".join(change_lines(outcome.diff)))
