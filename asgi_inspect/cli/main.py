"""The ``asgi-inspect`` command line: one module per subcommand in this package."""

from __future__ import annotations

import argparse
import importlib
import sys

from asgi_inspect import __version__
from asgi_inspect.cli.options import CliError
from asgi_inspect.record.hotpath import describe
from asgi_inspect.text import printable

COMMANDS = ("run", "listen", "view", "replay", "export", "proxy", "mcp", "diff", "gen_test")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asgi-inspect",
        description="Record every ASGI scope, receive() and send() of an app and inspect them "
                    "live in a terminal UI; replay, diff and export them.")
    parser.add_argument("--version", action="version",
                        version=f"asgi-inspect {__version__} (recorder hot path: {describe()})")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"asgi_inspect.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"asgi-inspect: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
