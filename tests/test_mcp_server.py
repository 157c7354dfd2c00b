"""``asgi-inspect mcp`` driven by the MCP SDK's own client: over stdio (the command spawned as
an agent's client spawns it) and over streamable HTTP (``--http 0``), serving a trace recorded
from a real app under uvicorn, and attached to a live ``run --headless`` session."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.formats import codec
from asgi_inspect.formats.codec import new_trace
from tests.mcp_app import app as mcp_app
from tests.servers import free_port, uvicorn_server, wait_for_port

REPO = Path(__file__).parent.parent
CLI = [sys.executable, "-m", "asgi_inspect"]
SECRET = "s3cret-token"
APP = ["--app", "tests.mcp_app:app", "--app-dir", str(REPO)]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSONL trace of the app under our recorder: #1 GET /items (gzip, 40 KiB decoded),
    #2 and #3 GET /me with a bearer token (their "served" counters differ), #4 a 404."""
    sink = MemorySink()
    inspector = Inspector(mcp_app, sink)
    with uvicorn_server(inspector, lifespan="off") as url, httpx.Client(base_url=url) as client:
        assert client.get("/items").status_code == 200
        for _ in range(2):
            assert client.get("/me", headers={"authorization": f"Bearer {SECRET}"}) \
                .status_code == 200
        assert client.get("/missing").status_code == 404
    inspector.close()
    exchanges = [e for e in sink.exchanges if e.type == "http"]
    assert [e.path for e in exchanges] == ["/items", "/me", "/me", "/missing"]
    path = tmp_path_factory.mktemp("mcp") / "trace.jsonl"
    codec.write(new_trace(exchanges), path, jsonl=True)
    return path


def ids_of(trace_path: Path) -> dict[str, list[str]]:
    """The trace's exchange ids by path."""
    found: dict[str, list[str]] = {}
    for exchange in codec.loads(trace_path.read_bytes()).exchanges:
        found.setdefault(exchange.path, []).append(exchange.id)
    return found


async def call(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    text = result.content[0].text  # type: ignore[union-attr]
    assert isinstance(text, str)
    return text


async def failure(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr, no-any-return]


def stdio(*args: str, env: dict[str, str] | None = None) -> Client:
    return Client(StdioServerParameters(command=sys.executable,
                                        args=["-m", "asgi_inspect", "mcp", *args],
                                        cwd=str(REPO), env=env))


def test_stdio_lists_gets_diffs_replays_and_exports(trace: Path, tmp_path: Path) -> None:
    ids = ids_of(trace)
    items, (me, me_again), missing = ids["/items"][0], ids["/me"], ids["/missing"][0]

    async def session() -> None:
        async with stdio(str(trace), *APP) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names == {"list_exchanges", "get_exchange", "replay_exchange",
                             "diff_exchanges", "export_exchanges"}
            # list with the filter language; pages with an offset to go on
            rows = await call(client, "list_exchanges", filter="~c 404")
            assert rows.splitlines()[0] == "1 exchange match '~c 404'; rows 1-1"
            assert rows.splitlines()[1].startswith(f"#{missing} ") and "/missing 404" in rows
            page = await call(client, "list_exchanges", limit=2)
            assert len(page.splitlines()) == 4 and "call again with offset=2" in page
            # get: the gzip body decoded, cut at the bound with how many more bytes
            shown = json.loads(await call(client, "get_exchange", id=items))
            body = shown["response"]["body"]
            assert body["content_encoding"] == "gzip" and len(body["text"]) == 16 * 1024
            assert body["text"].startswith('{"items": [{"id": 0')
            assert body["more_bytes"] == body["size"] - 16 * 1024 > 0
            assert "content-encoding: gzip" in shown["response"]["headers"]
            assert shown["messages"][0].split()[1:3] == ["receive", "http.request"]
            # redaction on by default: the bearer token is nowhere
            me_text = await call(client, "get_exchange", id=me)
            assert SECRET not in me_text
            assert any(h.startswith("authorization: ") for h in
                       json.loads(me_text)["request"]["headers"])
            # diff of two recorded exchanges, and the same with the field ignored
            diff = await call(client, "diff_exchanges", a=me, b=me_again)
            assert "200 → 200: differs: body" in diff and "served" in diff
            assert "200 → 200: same" in await call(client, "diff_exchanges", a=me, b=me_again,
                                                   ignore_fields=["$.served"])
            # replay against the app in the server's process, edited, diffed, redacted
            replayed = await call(client, "replay_exchange", id=me)
            assert "replayed against tests.mcp_app:app" in replayed
            assert "200 → 200" in replayed and SECRET not in replayed
            edited = await call(client, "replay_exchange", id=me,
                                request="GET /me\nauthorization: Bearer wrong\n\n")
            assert "200 → 401: differs: status 200 → 401, body" in edited
            # export: HAR text, redacted; or a file
            har = json.loads(await call(client, "export_exchanges", filter="~u /me"))
            assert len(har["log"]["entries"]) == 2 and SECRET not in json.dumps(har)
            written = await call(client, "export_exchanges", format="curl",
                                 path=str(tmp_path / "me.sh"), filter="~u /me")
            assert written.startswith("wrote 2 exchanges (curl)")
            assert SECRET not in (tmp_path / "me.sh").read_text()
            # bad input is a tool error of one line, never a traceback
            assert "no exchange #999" in await failure(client, "get_exchange", id="999")
            assert "\n" not in await failure(client, "list_exchanges", filter="~nope")
            assert "one of" in await failure(client, "export_exchanges", format="pdf")

    asyncio.run(session())


@pytest.fixture
def http_server(trace: Path) -> Iterator[str]:
    """``asgi-inspect mcp TRACE --http 0 --no-redact``; the URL it printed."""
    process = subprocess.Popen([*CLI, "mcp", str(trace), "--http", "0", "--no-redact"],
                               stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"MCP server at (http://127\.0\.0\.1:\d+/mcp)", line)
        assert match, line
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_streamable_http_on_loopback(trace: Path, http_server: str) -> None:
    me = ids_of(trace)["/me"][0]

    async def session() -> None:
        async with Client(http_server) as client:
            rows = await call(client, "list_exchanges", filter="~u /me")
            assert rows.splitlines()[0] == "2 exchanges match '~u /me'; rows 1-2"
            assert SECRET in await call(client, "get_exchange", id=me)  # --no-redact
            assert "replay needs a target" in await failure(client, "replay_exchange", id=me)

    asyncio.run(session())


def test_attach_to_a_live_headless_session(tmp_path: Path) -> None:
    """``run --headless`` writes a session file; ``mcp --attach`` finds it, reads the live
    exchanges and replays to the running app; the file is gone when the session ends."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    port = free_port()
    run = subprocess.Popen([*CLI, "run", "tests.mcp_app:app", "--app-dir", str(REPO),
                            "--port", str(port), "--headless"], env=env, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(2):
                assert client.get("/me", headers={"authorization": f"Bearer {SECRET}"}) \
                    .status_code == 200
        session_files = list((tmp_path / "asgi-inspect" / "sessions").glob("*.json"))
        assert [f.name for f in session_files] == [f"{run.pid}.json"]
        assert oct(session_files[0].stat().st_mode & 0o777) == "0o600"

        async def session() -> None:
            async with stdio("--attach", env={"XDG_RUNTIME_DIR": str(tmp_path)}) as client:
                rows = ""
                deadline = time.monotonic() + 30  # the exchanges reach the session first
                while rows.count("/me 200") < 2 and time.monotonic() < deadline:
                    rows = await call(client, "list_exchanges", filter="~u /me")
                assert rows.startswith("2 exchanges match"), rows
                page = await call(client, "list_exchanges", filter="~u /me", limit=1)
                assert page.splitlines()[0] == "2 exchanges match '~u /me'; rows 1-1"
                assert page.splitlines()[-1] == "… 1 more: call again with offset=1"
                me = page.splitlines()[1].split()[0].lstrip("#")
                assert SECRET not in await call(client, "get_exchange", id=me)
                replayed = await call(client, "replay_exchange", id=me,
                                      ignore_fields=["$.served"])
                assert f"replayed against http://127.0.0.1:{port}" in replayed
                assert "200 → 200: same" in replayed

        asyncio.run(session())
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    assert not list((tmp_path / "asgi-inspect" / "sessions").glob("*.json"))


@pytest.mark.parametrize(("args", "message"), [
    ([], "give a TRACE file or --attach"),
    (["no-such.jsonl"], "cannot read no-such.jsonl"),
    (["--attach"], "no running asgi-inspect session found"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run([*CLI, "mcp", *args], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
