"""Apps for the OpenTelemetry export tests: a FastAPI app with a route, a failing request, a
form with a secret and a WebSocket; a front service that calls a back service (the URL in
``OTEL_TEST_BACK``) with the W3C ``traceparent`` of a span of its own, made with the
OpenTelemetry API as an instrumented app makes one; and a real OTLP/HTTP receiver that keeps
what it is sent, decoded."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from fastapi import FastAPI, Request, WebSocket
from opentelemetry import propagate, trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

app = FastAPI()


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


@app.get("/fail")
async def fail() -> None:
    raise RuntimeError("the basket could not be priced")


@app.post("/login")
async def login(request: Request) -> dict[str, Any]:
    body = await request.json()
    return {"user": body.get("user"), "token": "tok-777"}


@app.websocket("/ws")
async def echo(socket: WebSocket) -> None:
    await socket.accept()
    text = await socket.receive_text()
    await socket.send_text(text.upper())
    await socket.close()


# Two services: front calls back, propagating the trace context as instrumented apps do.
front = FastAPI()
back = FastAPI()
_tracer = TracerProvider().get_tracer("otel-test-front")


@front.get("/order/{order_id}")
async def order(order_id: int, request: Request) -> dict[str, Any]:
    context = propagate.extract(dict(request.headers))  # continue the caller's trace, if any
    with _tracer.start_as_current_span("price order", context=context,
                                       kind=trace.SpanKind.CLIENT):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        async with httpx.AsyncClient() as client:
            priced = await client.get(f"{os.environ['OTEL_TEST_BACK']}/price/{order_id}",
                                      headers=headers)
    return {"order": order_id, "price": priced.json()["price"]}


front.get("/fail")(fail)
front.post("/login")(login)


@back.get("/price/{order_id}")
async def price(order_id: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"price": order_id * 10}


class Receiver:
    """An OTLP/HTTP endpoint (``/v1/traces``) that keeps the decoded requests; ``delay``
    seconds before each answer (a slow collector)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.delay = delay
        self.app = Starlette(routes=[Route("/v1/traces", self.traces, methods=["POST"])])

    async def traces(self, request: StarletteRequest) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        await asyncio.sleep(self.delay)
        self.requests.append(message)
        return Response(b"", media_type="application/x-protobuf")

    @property
    def spans(self) -> list[Any]:
        return [span for request in self.requests for resource in request.resource_spans
                for scope in resource.scope_spans for span in scope.spans]
