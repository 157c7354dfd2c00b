"""The app behind tests/test_mcp_server.py: a gzip JSON list bigger than a result's body
bound, a route that needs an Authorization header, and a counter that makes replays differ."""

from __future__ import annotations

import gzip
import json
from typing import Any

ITEMS = [{"id": n, "name": f"item {n}", "text": "lorem ipsum " * 4} for n in range(400)]
SERVED = {"count": 0}  # how many answers this process gave: replays differ in "served"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    SERVED["count"] += 1
    headers = dict(scope["headers"])
    if scope["path"] == "/items":
        body, extra = gzip.compress(json.dumps({"items": ITEMS}).encode()), [
            (b"content-encoding", b"gzip")]
        status = 200
    elif scope["path"] == "/me":
        authorized = headers.get(b"authorization") == b"Bearer s3cret-token"
        status = 200 if authorized else 401
        body, extra = json.dumps({"user": "ada" if authorized else None,
                                  "served": SERVED["count"]}).encode(), []
    else:
        status, body, extra = 404, b'{"error": "not found"}', []
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *extra]})
    await send({"type": "http.response.body", "body": body})
