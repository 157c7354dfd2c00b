"""The live channel: only a peer with the token gets in; drops are counted, never silent."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_inspect import Inspector, SocketSink
from asgi_inspect.record import channel as channel_module
from asgi_inspect.record.channel import MAGIC, Address, Listener, frame_bytes
from asgi_inspect.store.collector import Collector
from tests.servers import uvicorn_server

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def hello(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


@pytest.fixture(params=["unix", "tcp"])
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Listener, Collector]]:
    collector = Collector()
    listener = Listener(collector.feed, tcp=request.param == "tcp")
    await listener.start()
    yield listener, collector
    await listener.stop()


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the event loop (and so the listener) run until ``condition()`` holds; the bound
    only stops a hung test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_recorded_traffic_arrives(channel: tuple[Listener, Collector]) -> None:
    listener, collector = channel
    inspector = Inspector(hello, SocketSink(str(listener.address)))
    with uvicorn_server(inspector) as url:
        async with httpx.AsyncClient() as client:
            for _ in range(3):
                assert (await client.get(url + "/x")).text == "hi"
    # Send what the stopped server's loop had not sent yet (from a thread: the listener reads
    # on this loop), then let the listener take it in.
    await asyncio.to_thread(inspector.close)

    def statuses() -> list[int | None]:
        return [e.status for e in collector.store.exchanges.values() if e.type == "http"]

    await until(lambda: statuses() == [200, 200, 200], "three recorded exchanges")
    assert listener.connections >= 1 and listener.rejected == 0


def _intruder(address: Address, token: str) -> str:
    """A third process that knows where the socket is but not the token.

    The listener hangs up on it; what that looks like to the intruder depends on timing, not
    on the listener: an orderly close, a reset (its bytes were left unread), or a broken pipe
    (the hang-up came before its batch was sent). The timeouts only bound a hang.
    """
    forged = Address(address.kind, address.path, address.host, address.port, token)
    code = f"""
from asgi_inspect.record.channel import Address, frame_bytes
try:
    sock = Address.parse({str(forged)!r}).connect(timeout=60)
    sock.sendall(frame_bytes(b"garbage batch"))
    print("closed" if sock.recv(1) == b"" else "open")
except (BrokenPipeError, ConnectionResetError):
    print("closed")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=100, check=False)
    return result.stdout.strip() or result.stderr.strip().splitlines()[-1]


async def test_a_third_process_without_the_token_is_refused(
        channel: tuple[Listener, Collector]) -> None:
    listener, collector = channel
    assert listener.address is not None
    fed: list[bytes] = []
    listener.on_frame = fed.append
    outcome = await asyncio.to_thread(_intruder, listener.address, "wrong-token")
    assert outcome == "closed"
    assert listener.rejected == 1 and listener.connections == 0
    assert fed == [] and not collector.store.exchanges


async def test_unix_socket_is_private() -> None:
    listener = Listener(Collector().feed)
    address = await listener.start()
    try:
        mode = stat.S_IMODE(os.stat(address.path).st_mode)
        directory = stat.S_IMODE(os.stat(Path(address.path).parent).st_mode)
        assert mode == 0o600 and directory == 0o700
    finally:
        await listener.stop()
    assert not os.path.exists(address.path)


async def test_a_gone_collector_means_counted_drops_and_a_working_app() -> None:
    listener = Listener(Collector().feed)
    address = await listener.start()
    await listener.stop()
    inspector = Inspector(hello, SocketSink(str(address)))
    with uvicorn_server(inspector) as url:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).text == "hi"
        await asyncio.sleep(0.1)
    inspector.flush()
    assert inspector.dropped > 0


def test_addresses_parse_and_reject_junk() -> None:
    assert str(Address.parse("unix:/tmp/x.sock#abc")) == "unix:/tmp/x.sock#abc"
    assert Address.parse("tcp://127.0.0.1:9#t").port == 9
    for junk in ("unix:/tmp/x.sock", "http://x#t", "tcp://host#t"):
        with pytest.raises(ValueError):
            Address.parse(junk)


def _flood(address: Address, hello: bytes, size: int) -> tuple[int, str]:
    """Send ``hello`` then ``size`` bytes; how many went out before the collector hung up."""
    if address.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(address.path)
    else:
        sock = socket.create_connection((address.host, address.port))
    sent = 0
    chunk = b"\xab" * 65536
    try:
        sock.sendall(hello)
        while sent < size:
            sent += sock.send(chunk)
        return sent, "open"
    except (BrokenPipeError, ConnectionResetError):
        return sent, "closed"
    finally:
        sock.close()


@pytest.mark.parametrize("hello", [
    struct.pack(">I", 10 * 1024 * 1024),  # "here come 10 MiB of hello"
    frame_bytes(MAGIC + b"x" * 32),  # the right length, a wrong token
], ids=["huge-length", "wrong-token"])
async def test_a_peer_without_the_token_is_cut_off_before_it_costs_anything(
        channel: tuple[Listener, Collector], hello: bytes) -> None:
    listener, _ = channel
    assert listener.address is not None
    sent, outcome = await asyncio.to_thread(_flood, listener.address, hello, 10 * 1024 * 1024)
    assert outcome == "closed" and sent < 10 * 1024 * 1024
    assert listener.rejected == 1 and listener.connections == 0
    assert listener.refused_bytes <= len(hello) and listener.refused_bytes <= 100


async def test_a_silent_peer_is_refused_after_the_hello_timeout(
        channel: tuple[Listener, Collector], monkeypatch: pytest.MonkeyPatch) -> None:
    listener, _ = channel
    assert listener.address is not None
    monkeypatch.setattr(channel_module, "HELLO_TIMEOUT", 0.2)
    address = listener.address
    if address.kind == "unix":
        reader, writer = await asyncio.open_unix_connection(address.path)
    else:
        reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(b"\x00\x00")  # half a length, then nothing
    assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # hung up on
    writer.close()
    assert listener.rejected == 1 and listener.refused_bytes == 2
