"""``asgi-inspect run [module:app]``: serve an app under uvicorn and inspect its traffic."""

from __future__ import annotations

import argparse
import re
from typing import Any

from asgi_inspect.cli.live import serve
from asgi_inspect.cli.options import CliError, add_server_options, add_view_options
from asgi_inspect.runtime.runner import ServerSpec

DEMO = "asgi_inspect.demo:app"
_TARGET = re.compile(r"^[\w.]+:[\w.]+$")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "run", help="serve an ASGI app under uvicorn and inspect its traffic live",
        description="Serve APP (module:attribute, as uvicorn takes it; the bundled demo when "
                    "omitted) under uvicorn in a child process, record all its traffic, and "
                    "open the inspector.")
    parser.add_argument("app", nargs="?", default=DEMO, metavar="APP",
                        help="the app as module:attribute (default: the bundled demo)")
    add_server_options(parser, default_port=8000)
    add_view_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if not _TARGET.match(args.app):
        raise CliError(f"APP must look like module:attribute, got {args.app!r}")
    spec = ServerSpec(target=args.app, host=args.host, port=args.port, reload=args.reload,
                      factory=args.factory, app_dir=args.app_dir, root_path=args.root_path,
                      max_body=args.max_body, redact=args.redact)
    return serve(spec, args, title=f"asgi-inspect run {args.app}")
