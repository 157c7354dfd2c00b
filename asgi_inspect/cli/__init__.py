"""One module per ``asgi-inspect`` subcommand: ``add_parser(subparsers)`` and a handler."""
