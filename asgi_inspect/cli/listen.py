"""``asgi-inspect listen``: the collector and inspector alone, for apps run by any server.

Wrap the app with ``Inspector(app)`` and start its server (gunicorn with uvicorn workers,
hypercorn, several workers...) with ``ASGI_INSPECT`` set to the address this prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from asgi_inspect.cli.live import inspect_session, new_session
from asgi_inspect.cli.options import CliError, add_view_options, check_filter
from asgi_inspect.record.channel import Address
from asgi_inspect.record.files import write_private


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "listen", help="collect traffic from apps wrapped in Inspector(app), run by any server",
        description="Listen for recorders and inspect what they send. Start your server with "
                    "ASGI_INSPECT set to the printed address and the app wrapped in "
                    "asgi_inspect.Inspector(app).")
    parser.add_argument("--tcp", action="store_true",
                        help="listen on loopback TCP instead of a Unix socket (for containers)")
    parser.add_argument("--address-file", type=Path, metavar="FILE",
                        help="also write the address to FILE, for scripts (made 0600 "
                             "before it is written, also when it exists)")
    add_view_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import asyncio

    check_filter(args.filter)
    return asyncio.run(_listen(args))


async def _listen(args: argparse.Namespace) -> int:
    session = new_session(args, "asgi-inspect listen")  # replays go where each came from

    async def announce(address: Address) -> None:
        session.title = title_of(address)
        session.waiting_hint = WAITING_HINT
        if args.address_file:
            try:
                write_private(args.address_file, f"{address}\n")
            except OSError as exc:
                raise CliError(f"cannot write {args.address_file}: {exc.strerror or exc}") \
                    from None
        print(connect_hint(address), file=sys.stderr, flush=True)

    return await inspect_session(session, args, announce)


WAITING_HINT = ("Nothing recorded yet. Start your server with ASGI_INSPECT set (A copies it; "
                "it was printed on stderr too) and the app wrapped in "
                "asgi_inspect.Inspector(app).")


def connect_hint(address: Address) -> str:
    """How to connect, on stderr at start (stdout is for exchanges): the second line is a
    shell line to copy as it is."""
    return ("asgi-inspect: listening. Start your server with this in its environment and the "
            "app wrapped in asgi_inspect.Inspector(app):\n"
            f"export ASGI_INSPECT='{address}'")


def title_of(address: Address) -> str:
    """The session's title: where it listens, not the token (a screen is easily shared; the
    TUI's ``A`` copies the whole address)."""
    return f"asgi-inspect listen · {address.location} (A copies ASGI_INSPECT)"
