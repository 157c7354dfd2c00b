"""An app instrumented with the OpenTelemetry SDK the usual way, for ``asgi-inspect run``: its
module sets the global tracer provider up at import, as the SDK's docs show."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("orders")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    with tracer.start_as_current_span("place order"), tracer.start_as_current_span("charge"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
