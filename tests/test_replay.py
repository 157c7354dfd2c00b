"""Replay: in-process (recorded receive sequence) and over HTTP; never touching the original."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from asgi_inspect import Inspector, MemorySink, read
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.http import server_url_of
from asgi_inspect.model import Exchange
from asgi_inspect.replay.diff import diff_exchanges
from asgi_inspect.replay.driver import Driver
from asgi_inspect.replay.http import replay_over_http
from asgi_inspect.replay.request import ReplayError, ReplayRequest
from tests import replay_apps
from tests.servers import uvicorn_server


@pytest.fixture
def version() -> Iterator[dict[str, int]]:
    replay_apps.VERSION["value"] = 1
    yield replay_apps.VERSION
    replay_apps.VERSION["value"] = 1


async def _upload(body_parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in body_parts:
        yield part


async def _record_traffic() -> list[Exchange]:
    """Real traffic through uvicorn: a chunked POST, an SSE read of 3 events, a WebSocket."""
    sink = MemorySink()
    inspector = Inspector(replay_apps.app, sink)
    with uvicorn_server(inspector) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            await client.post("/items?x=1", content=_upload([b"ab", b"cd"]))
            async with client.stream("GET", "/sse") as response:
                lines = response.aiter_lines()
                events = [line async for line in _take_events(lines, 3)]
                assert events == ["data: 0", "data: 1", "data: 2"]
        async with connect(url.replace("http", "ws") + "/ws") as socket:
            await socket.send("one")
            assert await socket.recv() == "one"
            await socket.send(b"\x00\x01")
            assert await socket.recv() == b"\x00\x01"
            await socket.send("bye")
            await socket.wait_closed()
        await asyncio.sleep(0.1)
    inspector.flush()
    return [e for e in sink.exchanges if e.type != "lifespan"]


async def _take_events(lines: AsyncIterator[str], count: int) -> AsyncIterator[str]:
    async for line in lines:
        if line:
            yield line
            count -= 1
            if count == 0:
                return


async def test_in_process_replay_matches_the_recording(version: dict[str, int]) -> None:
    post, sse, socket = await _record_traffic()
    assert sse.outcome == "client_disconnected"
    async with Driver(replay_apps.app, timeout=5) as driver:
        replays = [await driver.replay(ReplayRequest.from_exchange(e), e.id)
                   for e in (post, sse, socket)]
    for original, replay in zip((post, sse, socket), replays, strict=True):
        assert replay.replay_of == original.id
        diff = diff_exchanges(original, replay)
        assert not diff.differs, diff.changes
    chunks = [json.loads(e.body("send"))["chunks"] for e in (post, replays[0])]
    assert chunks[0] == chunks[1]  # the recorded chunking was fed again
    assert b'"greeting": "hello"' in replays[0].body("send")  # lifespan state is real
    sse_bodies = [e for e in replays[1].events if e.type == "http.response.body"]
    assert len(sse_bodies) == len([e for e in sse.events if e.type == "http.response.body"])
    frames = [e.message for e in replays[2].events if e.type == "websocket.send"]
    assert frames[0]["text"] == "one" and frames[1]["bytes"] == b"\x00\x01"


async def test_replay_never_changes_the_original(version: dict[str, int]) -> None:
    post, *_ = await _record_traffic()
    before = codec.exchange_line(post)
    version["value"] = 2
    async with Driver(replay_apps.app) as driver:
        replay = await driver.replay(ReplayRequest.from_exchange(post), post.id)
    assert codec.exchange_line(post) == before
    diff = diff_exchanges(post, replay)
    assert diff.differs and diff.summary() == "differs: body"
    assert [c.text for c in diff.changes if c.section == "body"] == ["~ $.version: 1 → 2"]


async def test_edit_and_replay() -> None:
    post, *_ = await _record_traffic()
    request = ReplayRequest.from_exchange(post).edited(method="PUT", path="/other",
                                                       body=b"new body")
    async with Driver(replay_apps.app) as driver:
        replay = await driver.replay(request, post.id)
    assert replay.method == "PUT" and replay.scope["path"] == "/other"
    assert b'"body": "new body"' in replay.body("send")
    assert b'"chunks": 1' in replay.body("send")


async def test_replay_over_http_is_recorded_and_linked(version: dict[str, int]) -> None:
    post, *_ = await _record_traffic()
    sink = MemorySink()
    inspector = Inspector(replay_apps.app, sink)
    with uvicorn_server(inspector) as url:
        status = await replay_over_http(ReplayRequest.from_exchange(post), url, post.id)
        await asyncio.sleep(0.1)
    inspector.flush()
    assert status == 200
    (replay,) = [e for e in sink.exchanges if e.type == "http"]
    assert replay.replay_of == post.id
    framing = {b"transfer-encoding", b"content-length", b"connection", b"x-asgi-inspect-replay"}
    sent = sorted(h for h in replay.request_headers if h[0] not in framing)
    assert sent == sorted(h for h in post.request_headers if h[0] not in framing)
    before, after = (json.loads(e.body("send")) for e in (post, replay))
    before.pop("chunks"), after.pop("chunks")  # TCP may merge or split chunks
    assert before == after


async def test_websocket_replay_over_http() -> None:
    *_, socket = await _record_traffic()
    sink = MemorySink()
    inspector = Inspector(replay_apps.app, sink)
    with uvicorn_server(inspector) as url:
        await replay_over_http(ReplayRequest.from_exchange(socket), url, socket.id)
        await asyncio.sleep(0.1)
    inspector.flush()
    (replay,) = [e for e in sink.exchanges if e.type == "websocket"]
    assert replay.replay_of == socket.id
    received = [e.message for e in replay.events if e.type == "websocket.receive"]
    assert [m.get("text") or m.get("bytes") for m in received] == ["one", b"\x00\x01", "bye"]


def test_lifespan_is_not_replayable() -> None:
    lifespan = Exchange(id="1", type="lifespan", started_at=0.0, scope={"type": "lifespan"})
    with pytest.raises(ReplayError, match="only HTTP and WebSocket"):
        ReplayRequest.from_exchange(lifespan)


def test_base_url_from_scope() -> None:
    exchange = Exchange(id="1", type="http", started_at=0.0,
                        scope={"server": ["127.0.0.1", 8123], "scheme": "http", "root_path": "/a"})
    assert server_url_of(exchange) == "http://127.0.0.1:8123/a"


async def _saved_trace(tmp_path: Path) -> Path:
    exchanges = await _record_traffic()
    path = tmp_path / "session.jsonl"
    codec.write(codec.new_trace(exchanges[:1]), path)
    return path


async def test_replay_command_exit_codes(tmp_path: Path, version: dict[str, int],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = await _saved_trace(tmp_path)
    args = ["replay", str(path), "--app", "tests.replay_apps:app"]
    assert await asyncio.to_thread(main, args) == 0
    assert "1 replayed, 0 differ" in capsys.readouterr().out
    written = read(tmp_path / "session.replay.jsonl")
    assert written.exchanges[0].replay_of == read(path).exchanges[0].id
    version["value"] = 3
    assert await asyncio.to_thread(main, [*args, "-o", str(tmp_path / "out.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "differs: body" in out and "$.version: 1 → 3" in out


def test_replay_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json")
    assert main(["replay", str(bad), "--app", "tests.replay_apps:app"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asgi-inspect: error: ") and err.count("\n") == 1


def test_request_text_round_trip_keeps_a_binary_body() -> None:
    from asgi_inspect.replay.request import RequestTextError, edited_request, request_text

    request = ReplayRequest(type="http", method="PUT", path="/blob", query=b"v=1",
                            headers=[(b"content-type", b"application/octet-stream")],
                            body=b"\xff\x00", scope={"type": "http", "path": "/blob"})
    text = request_text(request)
    assert text.splitlines()[0] == "PUT /blob?v=1"
    assert "# binary body (2 bytes, kept as recorded)" in text
    same = edited_request(request, text.replace("PUT", "POST"))
    assert (same.method, same.body, same.query) == ("POST", b"\xff\x00", b"v=1")
    with pytest.raises(RequestTextError, match="line 2 is not a header"):
        edited_request(request, "GET /\nnot a header\n\n")
