"""An app whose answers are text with a timing in it, binary, gzip JSON and a body past the
capture cap: each kind of body a generated test compares differently."""

from __future__ import annotations

import gzip
import json
import os
import time
from typing import Any

BIG = bytes(range(256)) * 400  # 100 KiB: past the 64 KiB a recording keeps


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    suffix = b"!" if os.environ.get("RECORDED_API_CHANGE") else b""
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/text":
        body = f"done, took {time.perf_counter_ns() % 1000}ms".encode() + suffix
    elif scope["path"] == "/binary":
        body, headers = b"\x00\xff\x10" + suffix, [(b"content-type", b"image/png")]
    elif scope["path"] == "/gzip":
        body = gzip.compress(json.dumps({"ok": True, "v": len(suffix)}).encode())
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    else:
        body = BIG + suffix
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
