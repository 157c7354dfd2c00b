"""An app that calls an upstream service with each HTTP client asgi-inspect hooks: httpx (sync
in FastAPI's threadpool, and async), requests, urllib3 and aiohttp. The upstream's base URL is
read from ``OUTBOUND_UPSTREAM`` at each call, so a test can serve one on a free port (and
stop it to replay offline). ``OUTBOUND_EXTRA=1`` makes ``/httpx-async`` call one more URL, as a
changed app would. Used by tests/test_inside_http.py and tests/test_mock_outbound.py."""

from __future__ import annotations

import os

import aiohttp
import httpx
import httpx2
import requests
import urllib3
from fastapi import FastAPI, Request

app = FastAPI()


def upstream(path: str) -> str:
    return os.environ.get("OUTBOUND_UPSTREAM", "http://127.0.0.1:9") + path


@app.get("/httpx-sync")
def httpx_sync(n: str = "0") -> dict[str, object]:  # a sync endpoint: run in a thread
    response = httpx.get(upstream(f"/echo?n={n}"))  # the call under test
    return {"status": response.status_code, "upstream": response.json()}


@app.post("/httpx-async")
async def httpx_async(request: Request) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        response = await client.post(upstream("/echo?token=s3cret"), content=await request.body(),
                                     headers={"Authorization": "Bearer s3cret"})
        if os.environ.get("OUTBOUND_EXTRA") == "1":
            await client.get(upstream("/extra"))
    return {"status": response.status_code, "upstream": response.json()}


@app.get("/httpx2")
async def with_httpx2() -> dict[str, object]:
    """pydantic's fork of httpx, which the mcp SDK uses: hooked by the same code."""
    async with httpx2.AsyncClient() as client:
        response = await client.get(upstream("/echo?n=2"))  # the httpx2 call
    return {"status": response.status_code, "upstream": response.json()}


@app.get("/requests")
def with_requests() -> dict[str, object]:
    response = requests.get(upstream("/big"), timeout=5)
    return {"status": response.status_code, "size": len(response.content)}


@app.get("/abandoned")
def abandoned() -> dict[str, object]:
    """A streamed response the app neither reads nor closes, and lets go of (it is freed
    when the cycle collector next runs: httpx's response and its stream refer to each
    other)."""
    with httpx.Client() as client:
        response = client.send(client.build_request("GET", upstream("/big")), stream=True)
        status = response.status_code
        del response
    return {"status": status}


@app.get("/redirected")
def redirected() -> dict[str, object]:
    """requests follows the upstream's redirect itself: two network requests."""
    response = requests.get(upstream("/redirect"), timeout=5)
    return {"status": response.status_code, "hops": len(response.history)}


@app.get("/urllib3")
def with_urllib3() -> dict[str, object]:
    response = urllib3.request("GET", upstream("/echo?n=u"))
    return {"status": response.status, "upstream": response.json()}


@app.get("/aiohttp")
async def with_aiohttp() -> dict[str, object]:
    async with aiohttp.ClientSession() as session, \
            session.post(upstream("/echo?n=a"), data=b"from aiohttp") as response:
        return {"status": response.status, "upstream": await response.json()}


@app.get("/compressed")
async def compressed() -> dict[str, object]:
    """The same gzip-encoded answer through httpx (kept as sent) and aiohttp (decoded)."""
    async with httpx.AsyncClient() as client:
        first = (await client.get(upstream("/gzip"))).text
    async with aiohttp.ClientSession() as session, session.get(upstream("/gzip")) as response:
        second = await response.text()
    return {"same": first == second}


@app.get("/fail")
async def fail(url: str, timeout: float = 5.0) -> dict[str, object]:
    """Calls ``url`` with httpx and says how it failed (refused, timed out, TLS)."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            await client.get(url)
    except httpx.HTTPError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None}
