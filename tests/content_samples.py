"""Compressed bodies recorded for real: one app served by uvicorn, fetched with httpx.

Starlette's GZipMiddleware answers ``/starlette``; the other paths compress by hand what
:data:`TEXT` (or the path's own content) is, with each coding asgi-inspect undoes, stacked,
past the recorder's cap, as a decompression bomb, corrupt, or with a coding nobody knows.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import brotli
import httpx
import zstandard
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.model import DEFAULT_MAX_BODY, Exchange
from tests.servers import uvicorn_server

TEXT = "".join(f"item {n}: the quick brown fox\n" for n in range(500)).encode()
BOMB_SIZE = 50 * 1024**2  # zeros: compressed to about 50 KiB, under the recorder's cap


def _noise() -> bytes:
    """Text that compresses about 2:1, so that its gzip runs past the recorder's cap."""
    rnd = random.Random(12)
    return "".join(f"line {n} {rnd.getrandbits(64):016x}\n" for n in range(12_000)).encode()


NOISE = _noise()


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@functools.cache
def _bomb() -> bytes:
    return zlib.compress(bytes(BOMB_SIZE), 9, wbits=31)


# path: (Content-Encoding, the body as sent); made when asked for
_HAND_MADE: dict[str, tuple[bytes, Callable[[], bytes]]] = {
    "/gzip": (b"gzip", lambda: gzip.compress(TEXT)),
    "/br": (b"br", lambda: brotli.compress(TEXT)),
    "/zstd": (b"zstd", lambda: zstandard.ZstdCompressor().compress(TEXT)),
    "/deflate": (b"deflate", lambda: zlib.compress(TEXT)),
    "/raw-deflate": (b"deflate", lambda: _raw_deflate(TEXT)),
    "/stacked": (b"gzip, br", lambda: brotli.compress(gzip.compress(TEXT))),
    "/capped": (b"gzip", lambda: gzip.compress(NOISE)),
    "/bomb": (b"gzip", _bomb),
    "/corrupt": (b"gzip", lambda: b"\x1f\x8b\x08 this is not gzip at all"),
    "/unknown": (b"compress", lambda: b"\x1f\x9d whatever compress made"),
}


async def _starlette_text(request: Request) -> PlainTextResponse:
    return PlainTextResponse(TEXT.decode())


async def _starlette_json(request: Request) -> PlainTextResponse:
    n = int(request.query_params.get("n", "0"))
    document = {"n": n, "items": [f"item {i}" for i in range(100)]}
    return PlainTextResponse(json.dumps(document), media_type="application/json")


_starlette = GZipMiddleware(Starlette(routes=[Route("/starlette", _starlette_text),
                                              Route("/json", _starlette_json)]))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The hand-made answers, else Starlette's; ``/upload`` answers the size it received."""
    if scope["type"] != "http" or scope["path"] not in (*_HAND_MADE, "/upload"):
        await _starlette(scope, receive, send)
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    coding, make = _HAND_MADE.get(scope["path"], (b"identity", lambda: str(size).encode()))
    body = make()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-encoding", coding),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def fetch(url: str, requests: Iterable[tuple[str, str]]) -> None:
    """Each (method, target) once; a POST sends :data:`TEXT` gzipped. Bodies are read as
    sent (httpx would decode them, and fail on the corrupt one)."""
    with httpx.Client(base_url=url, headers={"accept-encoding": "gzip"}) as client:
        for method, target in requests:
            content = gzip.compress(TEXT) if method == "POST" else None
            headers = {"content-encoding": "gzip"} if content else {}
            with client.stream(method, target, content=content, headers=headers) as response:
                for _ in response.iter_raw():
                    pass


def record(requests: Iterable[tuple[str, str]]) -> dict[str, Exchange]:
    """The recorded HTTP exchanges of ``requests``, by target."""
    sink = MemorySink()
    inspector = Inspector(app, sink, max_body=DEFAULT_MAX_BODY)
    with uvicorn_server(inspector, lifespan="off") as url:
        fetch(url, requests)
    inspector.flush()
    return {e.path: e for e in sink.exchanges if e.type == "http"}


EVERY_PATH = [("GET", path) for path in (*_HAND_MADE, "/starlette", "/json?n=1", "/json?n=2")]
EVERY_REQUEST = [*EVERY_PATH, ("POST", "/upload")]
