"""``asgi-inspect proxy URL``: a recording reverse proxy in front of any HTTP server."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from asgi_inspect.cli import CliError
from asgi_inspect.commands.run import add_server_options, add_view_options, serve
from asgi_inspect.runner import ServerSpec


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "proxy", help="inspect any HTTP server through a recording reverse proxy",
        description="Serve a reverse proxy to UPSTREAM (any HTTP server, Python or not), record "
                    "all traffic through it, and open the inspector.")
    parser.add_argument("upstream", metavar="UPSTREAM", help="e.g. http://127.0.0.1:3000")
    parser.add_argument("--rewrite-host", action="store_true",
                        help="send the upstream's host in Host (default: keep the client's)")
    parser.add_argument("--no-forwarded", action="store_true",
                        help="do not add X-Forwarded-For/-Proto/-Host")
    add_server_options(parser)
    add_view_options(parser)
    parser.set_defaults(handler=handle, port=8080)


def handle(args: argparse.Namespace) -> int:
    upstream = check_upstream(args.upstream)
    env = {"ASGI_INSPECT_UPSTREAM": upstream,
           "ASGI_INSPECT_REWRITE_HOST": "1" if args.rewrite_host else "0",
           "ASGI_INSPECT_FORWARDED": "0" if args.no_forwarded else "1"}
    spec = ServerSpec(target="asgi_inspect.proxy:proxy_from_env", factory=True, host=args.host,
                      port=args.port, root_path=args.root_path, max_body=args.max_body,
                      redact=args.redact,
                      extra_env=env)
    return serve(spec, args, title=f"asgi-inspect proxy → {upstream}")


def check_upstream(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"UPSTREAM must be an http:// or https:// URL, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise CliError(f"bad port in UPSTREAM {url!r}") from None
    return url.rstrip("/")
