"""``Inspector(app, redact=True)``: secrets are redacted before they leave the app's process."""

from __future__ import annotations

import json
from typing import Any

import httpx

from asgi_inspect import Inspector, MemorySink
from tests.servers import uvicorn_server

SEEN: list[Any] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    SEEN.append(dict(scope["headers"]))
    body = (await receive()).get("body", b"")
    SEEN.append(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"set-cookie", b"session=s3cret; Path=/")]})
    await send({"type": "http.response.body", "body": body})


async def test_secrets_never_reach_the_trace_and_the_app_sees_them_all() -> None:
    SEEN.clear()
    sink = MemorySink()
    inspector = Inspector(app, sink, redact=True)
    payload = json.dumps({"user": "ada", "password": "hunter2"}).encode()
    with uvicorn_server(inspector, lifespan="off") as url:
        response = httpx.post(url + "/login?token=abc123&page=2", content=payload,
                              headers={"authorization": "Bearer xyz"})
    inspector.flush()
    assert response.headers["set-cookie"] == "session=s3cret; Path=/"  # untouched on the wire
    assert SEEN[1] == payload and SEEN[0][b"authorization"] == b"Bearer xyz"
    (exchange,) = sink.exchanges
    recorded = repr(exchange.scope) + repr([e.message for e in exchange.events])
    for secret in ("xyz", "hunter2", "abc123", "s3cret"):
        assert secret not in recorded
    assert b"page=2" in exchange.scope["query_string"]
    assert json.loads(exchange.body("receive"))["user"] == "ada"
    assert b"<redacted:" in dict(exchange.request_headers)[b"authorization"]
