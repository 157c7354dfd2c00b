"""The Overview names each exchange's OpenTelemetry trace when the session sends them
(``--otlp``): the ``--trace-url`` link, or the trace id; nothing otherwise."""

from __future__ import annotations

import pytest
from rich.text import Text

from asgi_inspect.runtime.session import Session
from tests.tui.conftest import make_app
from tests.tui.factory import http_exchange

TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLED = [[b"traceparent", f"00-{TRACE}-b7ad6b7169203331-01".encode()]]


@pytest.mark.parametrize(("trace_url", "shown"), [
    ("http://jaeger:16686/trace/{trace_id}", f"http://jaeger:16686/trace/{TRACE}"),
    ("", f"trace {TRACE}"),  # --otlp without --trace-url
    (None, None)])  # no --otlp
async def test_the_overview_names_the_trace(trace_url: str | None, shown: str | None) -> None:
    session = Session.offline([http_exchange("1", path="/orders", extra_headers=CALLED)],
                              title="otel")
    session.trace_url = trace_url
    app = make_app(session=session)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        lines = [line.plain if isinstance(line, Text) else line
                 for line in app.detail._overview.lines]
        rows = [line.split(None, 1)[1] for line in lines if line.startswith("trace ")]
        assert rows == ([] if shown is None else [shown]), lines
