"""``--junit FILE`` and ``--format github``: the CI outputs ``replay`` and ``diff`` share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asgi_inspect.cli.options import CliError
from asgi_inspect.formats.ci import Case, github_annotations, write_junit


def add_ci_options(parser: Any) -> None:
    group = parser.add_argument_group("CI")
    group.add_argument("--junit", type=Path, metavar="FILE",
                       help="also write JUnit XML: one test case per exchange, failures "
                            "carrying the diff (an owner-only file)")
    group.add_argument("--format", choices=("text", "github"), default="text",
                       help="github: after the report, one GitHub Actions ::error annotation "
                            "per difference or failure (default text)")


def write_ci(args: argparse.Namespace, suite: str, cases: Sequence[Case]) -> None:
    """The CI outputs asked for: annotations on stdout, the JUnit file (a one-line
    :class:`CliError` when it cannot be written)."""
    if args.format == "github":
        for line in github_annotations(suite, cases):
            print(line)
    if args.junit is not None:
        try:
            write_junit(args.junit, suite, cases)
        except OSError as exc:
            raise CliError(f"cannot write {args.junit}: {exc.strerror or exc}") from None
