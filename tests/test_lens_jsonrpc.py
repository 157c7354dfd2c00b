"""The JSON-RPC / MCP lens against a real MCP server (the ``mcp`` SDK's ``MCPServer`` over
streamable HTTP, answering with JSON bodies and with SSE streams) driven by the SDK's own
client, recorded by our Inspector under uvicorn; and on crafted bodies, whatever the bytes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from asgi_inspect import Inspector, MemorySink, lenses
from asgi_inspect.filters import compile_filter
from asgi_inspect.lenses.base import Block, Table
from asgi_inspect.lenses.jsonrpc import JsonRpcLens, operation_of
from asgi_inspect.model import Counters, Event, Exchange
from tests.servers import uvicorn_server

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROGRESS_STEPS = 3


def mcp_server() -> MCPServer:
    """A small MCP server: a plain tool, one that reports progress, one that fails."""
    server = MCPServer("lens-test")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    async def count(steps: int, ctx: Context) -> str:
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
        return "counted"

    @server.tool()
    def explode(reason: str) -> str:
        raise ToolError(reason)

    return server


@dataclass
class Session:
    """What one MCP client session left in the sink, and what the client saw."""

    exchanges: list[Exchange]
    progress: list[float]
    url: str

    def one(self, operation: str) -> Exchange:
        found = [x for x in self.exchanges if lenses.operation(x) == operation]
        assert len(found) == 1, [lenses.operation(x) for x in self.exchanges]
        return found[0]


async def drive(url: str) -> list[float]:
    """One client session: initialize, list, call each tool (progress reported over SSE)."""
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with Client(f"{url}/mcp", mode="legacy") as client:
        await client.list_tools()
        assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content \
            == {"result": 5}
        await client.call_tool("count", {"steps": PROGRESS_STEPS}, progress_callback=on_progress)
        assert (await client.call_tool("explode", {"reason": "no fuel"})).is_error
    return progress


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the bound only stops a hung test."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


@contextlib.contextmanager
def recorded_session(json_response: bool) -> Iterator[Session]:
    """A real MCP server under our recorder, and one client session against it."""
    sink = MemorySink()
    inspector = Inspector(mcp_server().streamable_http_app(json_response=json_response), sink)
    with uvicorn_server(inspector) as url:
        progress = asyncio.run(drive(url))

        def settled() -> bool:
            http = [x for x in sink.exchanges if x.type == "http"]
            return any(x.method == "DELETE" for x in http) \
                and all(x.outcome != "streaming" for x in http)

        wait_until(settled)
        yield Session([x for x in sink.exchanges if x.type == "http"], progress, url)
    inspector.close()


@pytest.fixture(scope="module")
def sessions() -> Iterator[dict[str, Session]]:
    """One session answered with SSE streams, one with JSON bodies (two real servers)."""
    with contextlib.ExitStack() as stack:
        yield {kind: stack.enter_context(recorded_session(kind == "json"))
               for kind in ("sse", "json")}


def tables(exchange: Exchange, lens_name: str) -> dict[str, Table]:
    return {part.title: part for lens, parts in lenses.sections(exchange)
            if lens.name == lens_name for part in parts if isinstance(part, Table)}


@pytest.mark.parametrize("kind", ["sse", "json"])
def test_operations_name_methods_and_tools(sessions: dict[str, Session], kind: str) -> None:
    operations = [lenses.operation(x) for x in sessions[kind].exchanges]
    assert operations == ["initialize", "notifications/initialized (notification)",
                          "MCP server stream", "tools/list", "tools/call add",
                          "tools/call count", "tools/call explode", "MCP end session"]


@pytest.mark.parametrize("kind", ["sse", "json"])
def test_failed_tool_is_flagged_and_only_it(sessions: dict[str, Session], kind: str) -> None:
    session = sessions[kind]
    failed = session.one("tools/call explode")
    assert failed.status == 200
    assert lenses.error(failed) == "MCP tool error: Error executing tool explode: no fuel"
    assert [x for x in session.exchanges if lenses.error(x)] == [failed]
    assert compile_filter("~e & ~rpc").select(session.exchanges) == [failed]
    messages = tables(failed, "jsonrpc")["Messages"].rows
    assert [row[1:] for row in messages] == [
        ("→", "5", "tools/call explode"),
        ("←", "5", "MCP tool error: Error executing tool explode: no fuel "
                   "(answer to tools/call explode)")]


def test_progress_is_paired_with_its_request_in_order(sessions: dict[str, Session]) -> None:
    session = sessions["sse"]
    assert session.progress == [1, 2, 3]
    call = session.one("tools/call count")
    rows = tables(call, "jsonrpc")["Messages"].rows
    assert [row[1:] for row in rows] == [
        ("→", "4", "tools/call count"),
        *[("←", "", f"notifications/progress {n}/3 step {n} (for #4)") for n in (1, 2, 3)],
        ("←", "4", "result of tools/call count")]
    assert all(row[0] for row in rows), "every message is timed"
    events = tables(call, "sse")
    assert list(events) == ["Events (4 events)"]
    assert events["Events (4 events)"].note == "ended cleanly"


def test_result_blocks_are_pretty_json(sessions: dict[str, Session]) -> None:
    call = sessions["json"].one("tools/call add")
    blocks = {part.title: part for _, parts in lenses.sections(call) for part in parts
              if isinstance(part, Block)}
    assert json.loads(blocks["→ #3 tools/call add"].text) == {"name": "add",
                                                              "arguments": {"a": 2, "b": 3}}
    result = blocks["← #3 result"]
    assert result.syntax == "json" and "\n  " in result.text
    assert json.loads(result.text)["structuredContent"] == {"result": 5}


@pytest.mark.parametrize("kind", ["sse", "json"])
def test_mcp_session_facts(sessions: dict[str, Session], kind: str) -> None:
    session = sessions[kind]
    start = dict(tables(session.one("initialize"), "jsonrpc")["MCP"].rows)
    session_id = start["session id"]
    assert len(session_id) >= 16
    assert start["client"] == "mcp 0.1.0" and start["server"] == "lens-test"
    later = dict(tables(session.one("tools/list"), "jsonrpc")["MCP"].rows)
    assert later == {"session id": session_id, "protocol version": start["protocol version"]}


def test_filters_by_tag_and_operation(sessions: dict[str, Session]) -> None:
    streamed, plain = sessions["sse"].exchanges, sessions["json"].exchanges
    assert [lenses.operation(x) for x in compile_filter("~op add").select(streamed)] \
        == ["tools/call add"]
    assert [lenses.operation(x) for x in compile_filter("~sse & ~rpc").select(streamed)] == [
        "initialize", "MCP server stream", "tools/list", "tools/call add", "tools/call count",
        "tools/call explode"]
    assert compile_filter("~sse & ~rpc").select(plain) == [plain[2]]  # only the GET stream
    assert len(compile_filter("~rpc").select(plain)) == len(plain)


def test_protocol_error_object_is_flagged(sessions: dict[str, Session]) -> None:
    """A JSON-RPC ``error`` from the real server: a call in a session it does not know."""
    sink = MemorySink()
    inspector = Inspector(mcp_server().streamable_http_app(json_response=True), sink)
    with uvicorn_server(inspector) as url:
        answer = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 9,
                                                "method": "tools/list"},
                            headers={"accept": "application/json, text/event-stream",
                                     "mcp-session-id": "unknown"})
        wait_until(lambda: any(x.outcome != "streaming" and x.type == "http"
                               for x in sink.exchanges))
    inspector.close()
    error = answer.json()["error"]
    exchange = next(x for x in sink.exchanges if x.type == "http")
    assert lenses.operation(exchange) == "tools/list"
    assert lenses.error(exchange).startswith(
        f"JSON-RPC error {error['code']}: {error['message']}")


# crafted bodies ---------------------------------------------------------------------------------

def posted(request: bytes, response: bytes = b"", *, request_type: bytes = b"application/json",
           response_type: bytes = b"application/json") -> Exchange:
    """A POST as the collector assembles it, with these bodies."""
    return Exchange(
        id="1", type="http", started_at=0.0, outcome="complete", ended_ns=3_000_000,
        scope={"type": "http", "method": "POST", "path": "/rpc",
               "headers": [[b"content-type", request_type]]},
        events=[Event(direction="receive", type="http.request", t_call=1, t_return=2,
                      message={"type": "http.request", "body": request}),
                Event(direction="send", type="http.response.start", t_call=3, t_return=4,
                      message={"type": "http.response.start", "status": 200,
                               "headers": [[b"content-type", response_type]]}),
                Event(direction="send", type="http.response.body", t_call=5, t_return=6,
                      message={"type": "http.response.body", "body": response})],
        request=Counters(bytes=len(request), kept_bytes=len(request), chunks=1),
        response=Counters(bytes=len(response), kept_bytes=len(response), chunks=1))


def test_batch_and_notifications_are_named() -> None:
    batch = [{"jsonrpc": "2.0", "id": n, "method": m} for n, m in
             enumerate(["a", "b", "c", "d"])]
    assert operation_of(batch[:3]) == "batch (3): a, b, c"
    assert operation_of(batch) == "batch (4): a, b, c, +1"
    assert operation_of([{"jsonrpc": "2.0", "method": "resources/read",
                          "params": {"uri": "file:///notes.txt"}}]) \
        == "resources/read file:///notes.txt (notification)"
    assert operation_of([{"jsonrpc": "2.0", "id": 1, "method": "prompts/get",
                          "params": {"name": "greet"}}]) == "prompts/get greet"


def test_batch_answers_pair_by_id_and_errors_count() -> None:
    request = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "sum", "params": [1, 2]},
                          {"jsonrpc": "2.0", "id": "1", "method": "echo"}]).encode()
    response = json.dumps([
        {"jsonrpc": "2.0", "id": "1", "error": {"code": -32602, "message": "Invalid params"}},
        {"jsonrpc": "2.0", "id": 1, "result": 3}]).encode()
    exchange = posted(request, response)
    assert lenses.operation(exchange) == "batch (2): sum, echo"
    assert lenses.error(exchange) == "JSON-RPC error -32602: Invalid params"
    rows = tables(exchange, "jsonrpc")["Messages"].rows
    assert [row[2:] for row in rows] == [
        ("1", "sum"), ("1", "echo"),
        ("1", "JSON-RPC error -32602: Invalid params (answer to echo)"),
        ("1", "result of sum")]


@pytest.mark.parametrize("request_body, request_type", [
    (b'{"jsonrpc": "2.0", "id": 1, "method": "x"}', b"text/plain"),  # not JSON by its type
    (b'{"jsonrpc": "1.0", "id": 1, "method": "x"}', b"application/json"),
    (b'{"query": "{ jsonrpc }"}', b"application/json"),
    (b'[]', b"application/json"),
    (b'{"jsonrpc": "2.0"', b"application/json"),
])
def test_not_json_rpc(request_body: bytes, request_type: bytes) -> None:
    exchange = posted(request_body, request_type=request_type)
    assert JsonRpcLens().read(exchange) is None
    assert not compile_filter("~rpc")(exchange)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error", "code",
                         "message", "name", "uri", "_meta", "progressToken", "isError",
                         "content", "text"]), inner, max_size=5),
    max_leaves=12)


@FUZZ
@given(request=json_values, response=json_values,
       response_type=st.sampled_from([b"application/json", b"text/event-stream"]))
def test_any_json_reads_without_raising(request: Any, response: Any,
                                        response_type: bytes) -> None:
    if isinstance(request, dict):
        request["jsonrpc"] = "2.0"
    data = json.dumps(response).encode()
    body = data if response_type == b"application/json" else b"data: " + data + b"\n\n"
    exchange = posted(json.dumps(request).encode(), body, response_type=response_type)
    lens = JsonRpcLens()
    reading = lens.read(exchange)
    if reading is not None:
        assert isinstance(reading.operation, str) and isinstance(reading.error, str)
        assert all(isinstance(part, (Table, Block)) for part in lens.sections(exchange))


@FUZZ
@given(request=st.binary(max_size=200), response=st.binary(max_size=200))
def test_any_bytes_read_without_raising(request: bytes, response: bytes) -> None:
    for response_type in (b"application/json", b"text/event-stream"):
        exchange = posted(b'{"jsonrpc":"2.0",' + request, response, response_type=response_type)
        lens = JsonRpcLens()
        if lens.read(exchange) is not None:
            lens.sections(exchange)
