"""``asgi-inspect listen``: the collector and inspector alone, for apps run by any server.

Wrap the app with ``Inspector(app)`` and start its server (gunicorn with uvicorn workers,
hypercorn, several workers...) with ``ASGI_INSPECT`` set to the address this prints.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from asgi_inspect.cli.live import inspect_session, new_session
from asgi_inspect.cli.options import add_view_options, check_filter
from asgi_inspect.record.channel import Address


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "listen", help="collect traffic from apps wrapped in Inspector(app), run by any server",
        description="Listen for recorders and inspect what they send. Start your server with "
                    "ASGI_INSPECT set to the printed address and the app wrapped in "
                    "asgi_inspect.Inspector(app).")
    parser.add_argument("--tcp", action="store_true",
                        help="listen on loopback TCP instead of a Unix socket (for containers)")
    parser.add_argument("--address-file", type=Path, metavar="FILE",
                        help="also write the address to FILE (mode 0600), for scripts")
    add_view_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import asyncio

    check_filter(args.filter)
    return asyncio.run(_listen(args))


async def _listen(args: argparse.Namespace) -> int:
    session = new_session(args, "asgi-inspect listen")  # replays go where each came from

    async def announce(address: Address) -> None:
        session.title = f"asgi-inspect listen · ASGI_INSPECT={address}"
        if args.address_file:
            _write_private(args.address_file, f"{address}\n")
        print(f"export ASGI_INSPECT='{address}'", flush=True)

    return await inspect_session(session, args, announce)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
