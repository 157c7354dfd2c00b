"""``--otlp`` and ``--trace-url`` for ``run``, ``proxy`` and ``listen``, and ``export -f
otlp``: the settings read and checked (one line on bad input), the export started beside the
session's other views.

The OpenTelemetry packages are imported only when asked for (the ``otel`` extra): without
them, ``--otlp`` is a one-line error that says what to install.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from asgi_inspect.cli.options import CliError
from asgi_inspect.model import Exchange
from asgi_inspect.otel.context import TRACE_ID_FIELD, TRACED
from asgi_inspect.runtime.session import Session

if TYPE_CHECKING:
    from asgi_inspect.otel.exporter import OtlpSettings, SpanExport

NEEDS_EXTRA = "--otlp needs the OpenTelemetry exporters: pip install 'asgi-inspect[otel]'"
_SERVICE = re.compile(r"^([\w.]+):")


def otlp_settings(args: argparse.Namespace, endpoint: str | None) -> OtlpSettings:
    """The settings of ``--otlp ENDPOINT`` (``""``: the standard environment variable's,
    else the protocol's default), or a one-line :class:`CliError`."""
    try:
        from asgi_inspect.otel.exporter import OtlpError, settings
    except ImportError:
        raise CliError(NEEDS_EXTRA) from None
    try:
        return settings(endpoint or None, protocol=args.otlp_protocol,
                        service_name=service_name(args), max_body=args.otlp_body)
    except OtlpError as exc:
        raise CliError(f"bad --otlp: {exc}") from None


def service_name(args: argparse.Namespace) -> str:
    """The service the spans name when ``OTEL_SERVICE_NAME`` does not: the app's module
    (``run``), the upstream's address (``proxy``), else ``asgi-inspect``."""
    app = getattr(args, "app", None)
    match = _SERVICE.match(app) if isinstance(app, str) else None
    if match:
        return match[1]
    upstream = getattr(args, "upstream", None)
    return urlsplit(upstream).netloc or "asgi-inspect" if isinstance(upstream, str) \
        else "asgi-inspect"


def check_trace_url(template: str | None) -> str | None:
    """``--trace-url``: a template with ``{trace_id}`` in it, or a one-line error."""
    if template is None:
        return None
    if TRACE_ID_FIELD not in template:
        raise CliError(f"bad --trace-url: it needs {TRACE_ID_FIELD} where the trace id goes, "
                       f"e.g. 'http://jaeger:16686/trace/{TRACE_ID_FIELD}'")
    return template


def start_export(session: Session, args: argparse.Namespace) -> SpanExport | None:
    """With ``--otlp``: every exchange the session closes goes to OpenTelemetry, from a
    thread (redacted by the export rules); its losses count among the session's drops and
    are said where the session says things (stderr headless, else the Logs pane)."""
    session.trace_url = check_trace_url(args.trace_url)
    if args.otlp is None:
        return None
    if session.trace_url is None:  # the trace id, without a link
        session.trace_url = ""
    config = otlp_settings(args, args.otlp)
    from asgi_inspect.ops.export import redact_exchange
    from asgi_inspect.otel.exporter import SpanExport
    from asgi_inspect.record.redact import Redactor

    warn = _to_stderr if args.headless else functools.partial(session.log, "inspector")
    # one redactor for the export's thread: it remembers its verdicts on names
    redact = functools.partial(redact_exchange, redactor=Redactor(), copied=True)
    export = SpanExport(config, redact, warn=warn)
    session.on_close.append(export)
    session.otlp = export
    return export


def send_trace(exchanges: Sequence[Exchange], args: argparse.Namespace) -> int:
    """``export -f otlp``: send the exchanges with their recorded times (redacted unless
    --no-redact), then one line on stderr; a one-line error when spans were lost."""
    if args.output is not None:
        raise CliError("-f otlp sends the trace to --otlp's endpoint: -o is for files "
                       "(-f otlp-json -o FILE writes OTLP JSON)")
    from asgi_inspect.ops.export import ExportError, send_otlp

    config = otlp_settings(args, args.otlp)
    try:
        sent, lost = send_otlp(exchanges, config, redact=args.redact, warn=lambda text: None)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    traced = sum(exchange.type in TRACED for exchange in exchanges)
    if lost:
        raise CliError(f"{lost:,} of {sent + lost:,} spans could not be sent to {config.url}"
                       f"{f' ({_last_reason()})' if _last_reason() else ''}")
    _to_stderr(f"asgi-inspect: sent {traced:,} exchange{'' if traced == 1 else 's'} as "
               f"{sent:,} span{'' if sent == 1 else 's'} to {config.url}")
    return 0


def _last_reason() -> str:
    from asgi_inspect.otel.exporter import last_error

    return last_error()


def _to_stderr(text: str) -> None:
    with contextlib.suppress(OSError):  # nowhere left to say it
        print(text, file=sys.stderr, flush=True)
