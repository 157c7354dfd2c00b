"""``asgi-inspect proxy URL``: a recording reverse proxy in front of any HTTP server."""

from __future__ import annotations

import argparse
from typing import Any

from asgi_inspect.cli.live import serve
from asgi_inspect.cli.options import add_server_options, add_view_options, check_upstream
from asgi_inspect.record.serve import ENV_RECORD_LIFESPAN
from asgi_inspect.runtime.runner import ServerSpec


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "proxy", help="inspect any HTTP server through a recording reverse proxy",
        description="Serve a reverse proxy to UPSTREAM (any HTTP server, Python or not), record "
                    "all traffic through it, and open the inspector.")
    parser.add_argument("upstream", metavar="UPSTREAM", help="e.g. http://127.0.0.1:3000")
    parser.add_argument("--rewrite-host", action="store_true",
                        help="send the upstream's host in Host (default: keep the client's)")
    parser.add_argument("--no-forwarded", action="store_true",
                        help="do not add X-Forwarded-For/-Proto/-Host and Forwarded")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the upstream (default 60; 0: no limit)")
    add_server_options(parser, default_port=8080, app_options=False)
    add_view_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    upstream = check_upstream(args.upstream, "UPSTREAM")
    env = {"ASGI_INSPECT_UPSTREAM": upstream,
           "ASGI_INSPECT_REWRITE_HOST": "1" if args.rewrite_host else "0",
           "ASGI_INSPECT_FORWARDED": "0" if args.no_forwarded else "1",
           "ASGI_INSPECT_TIMEOUT": str(args.timeout) if args.timeout > 0 else "none",
           ENV_RECORD_LIFESPAN: "0"}  # the proxy's own lifespan is no upstream traffic
    spec = ServerSpec(target="asgi_inspect.proxy:proxy_from_env", factory=True, host=args.host,
                      port=args.port, root_path=args.root_path, max_body=args.max_body,
                      redact=args.redact, extra_env=env,
                      # the upstream's own Server/Date headers pass through, and the client
                      # address must not be rewritten from X-Forwarded-For: the proxy adds it
                      extra_args=["--no-server-header", "--no-date-header",
                                  "--no-proxy-headers"])
    return serve(spec, args, title=f"asgi-inspect proxy → {upstream}")
