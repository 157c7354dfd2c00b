"""The Socket.IO lens on a real python-socketio server under the recorder, driven by
``socketio.AsyncClient`` over long-polling only, then over a WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_inspect import Inspector, MemorySink, lenses
from asgi_inspect.filters import compile_filter
from asgi_inspect.lenses import Table
from asgi_inspect.lenses.socketio import Packet, SocketIOLens, packet, payload_texts
from asgi_inspect.model import Event, Exchange
from tests.servers import uvicorn_server
from tests.test_transparency import wait_until


def chat_server() -> socketio.AsyncServer:
    # a ping every second ends a long poll as soon: the polling client's disconnect waits for it
    server = socketio.AsyncServer(async_mode="asgi", ping_interval=1, ping_timeout=10)

    @server.on("chat", namespace="/room")  # type: ignore[untyped-decorator]
    async def chat(sid: str, text: str) -> str:
        await server.emit("said", {"text": text}, to=sid, namespace="/room")
        return f"got {text}"

    @server.on("typing", namespace="/room")  # type: ignore[untyped-decorator]
    async def typing(sid: str) -> None:
        return None

    return server


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, MemorySink]]:
    sink = MemorySink()
    inspector = Inspector(socketio.ASGIApp(chat_server()), sink)
    with uvicorn_server(inspector) as url:
        yield url, sink
    inspector.close()


async def converse(url: str, transport: str) -> list[Any]:
    """Connect, emit two events (one with an ack), wait for the server's event, leave."""
    client = socketio.AsyncClient()
    heard: asyncio.Queue[Any] = asyncio.Queue()
    client.on("said", heard.put, namespace="/room")
    await client.connect(url, transports=[transport], namespaces=["/room"])
    answer = await client.call("chat", "hi", namespace="/room", timeout=10)
    await client.emit("typing", namespace="/room")
    said = await asyncio.wait_for(heard.get(), 10)
    await client.disconnect()
    return [answer, said]


def recorded(sink: MemorySink, transport: str, count: int) -> list[Exchange]:
    found: list[Exchange] = []

    def ended() -> bool:
        found[:] = [x for x in sink.exchanges if f"transport={transport}" in x.path]
        return len(found) >= count and all(x.ended_ns is not None for x in found)

    wait_until(ended)
    return found


def test_polling(served: tuple[str, MemorySink]) -> None:
    url, sink = served
    assert asyncio.run(converse(url, "polling")) == ["got hi", {"text": "hi"}]
    exchanges = recorded(sink, "polling", 3)
    assert all(compile_filter("~sio")(x) for x in exchanges)
    operations = [lenses.operation(x) for x in exchanges]
    assert "chat" in operations or "chat, typing" in operations, operations
    assert any("typing" in op for op in operations)
    assert any("said" in op for op in operations)  # a GET's response carried it
    chat = next(x for x in exchanges if "chat" in lenses.operation(x))
    assert compile_filter("~op ^chat")(chat) and not compile_filter("~op said")(chat)
    ((lens, (table,)),) = lenses.sections(chat)
    assert isinstance(table, Table) and lens.title == "Socket.IO"
    row = next(r for r in table.rows if r[5].startswith("chat"))
    assert row[0] == "→" and row[2:6] == ("4 message", "2 event", "/room", "chat #1")
    assert row[6] == '[\n  "hi"\n]'
    handshake = exchanges[0]
    assert [r[2] for r in lenses.sections(handshake)[0][1][0].rows] == ["0 open"]  # type: ignore[union-attr]


def test_websocket(served: tuple[str, MemorySink]) -> None:
    url, sink = served
    assert asyncio.run(converse(url, "websocket")) == ["got hi", {"text": "hi"}]
    (session,) = [x for x in recorded(sink, "websocket", 1) if x.type == "websocket"]
    assert sorted(lenses.operation(session).split(", ")) == ["chat", "said", "typing"]
    assert compile_filter("~sio & ~op typing")(session)
    labels = [lenses.frame_label(session, e) for e in session.events]
    found = [label for label in labels if label]
    assert found[0].startswith('0 open {"sid": ')
    assert any(label.startswith("40 connect /room {") for label in found)
    assert '42 event /room #1 "chat" ["hi"]' in found
    assert '43 ack /room #1 ["got hi"]' in found
    assert '42 event /room "typing"' in found
    assert '42 event /room "said" [{"text": "hi"}]' in found
    assert labels[0] is None and labels[-1] is None  # connect and close are no packets


def test_packets_of_both_engine_versions() -> None:
    assert list(payload_texts('0{"sid":"a"}\x1e40\x1e42["x"]', "4")) == [
        '0{"sid":"a"}', "40", '42["x"]']
    assert list(payload_texts('12:0{"sid":"a"}2:407:42["x"]', "3")) == [
        '0{"sid":"a"}', "40", '42["x"]']
    assert list(payload_texts("7:42[bad", "3")) == ["42[bad"]
    assert list(payload_texts("garbage", "3")) == ["garbage"]
    assert packet('452-/up,7["file",{"_placeholder":true,"num":0}]') == Packet(
        "45", "message", "binary_event", "/up", "7", "file",
        [{"_placeholder": True, "num": 0}])
    assert packet("2probe") == Packet("2", "ping", data="probe")
    assert packet("bAQID") == Packet("b", "binary", size=3)
    assert packet("9x") is None and packet("") is None


def crafted(query: bytes, request: bytes, response: bytes, frames: list[str | bytes]) -> Exchange:
    events = [Event(direction="receive", type="http.request", t_call=1,
                    message={"type": "http.request", "body": request}),
              Event(direction="send", type="http.response.body", t_call=2,
                    message={"type": "http.response.body", "body": response})]
    events += [Event(direction="send", type="websocket.send", t_call=3,
                     message={"type": "websocket.send",
                              "text" if isinstance(f, str) else "bytes": f}) for f in frames]
    return Exchange(id="c", type="websocket" if frames else "http", started_at=0.0,
                    outcome="completed", events=events,
                    scope={"type": "http", "method": "POST", "path": "/socket.io/",
                           "query_string": query})


PACKETISH = st.text(alphabet='0123456789-/,[]{}"abx\x1e:', max_size=40) | st.text(max_size=30)


@settings(max_examples=100, deadline=None)
@given(query=st.sampled_from([b"EIO=4&transport=polling", b"EIO=3&transport=polling"]),
       request=PACKETISH.map(str.encode) | st.binary(max_size=40),
       response=PACKETISH.map(str.encode), frames=st.lists(PACKETISH | st.binary(max_size=8),
                                                          max_size=3))
def test_any_packets_are_read_without_raising(query: bytes, request: bytes, response: bytes,
                                              frames: list[str | bytes]) -> None:
    exchange = crafted(query, request, response, frames)
    lens = SocketIOLens()
    reading = lens.read(exchange)
    assert reading is not None
    (table,) = lens.sections(exchange)
    assert isinstance(table, Table) and all(len(row) == 7 for row in table.rows)
    for event in exchange.events:
        label = lens.frame(exchange, event)
        assert label is None or isinstance(label, str)
