"""Replay that says what it cannot do: capped request bodies, the client's WebSocket close,
volatile fields left out of diffs, and the app's own output kept out of the report."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange
from asgi_inspect.ops.replay import replay_warnings
from asgi_inspect.replay.diff import diff_exchanges
from asgi_inspect.replay.driver import Driver
from asgi_inspect.replay.http import replay_over_http
from asgi_inspect.replay.ignore import BodyIgnore, IgnoreError, JsonPath
from asgi_inspect.replay.request import ReplayRequest
from tests import replay_limits_apps
from tests.servers import uvicorn_server

UPLOAD = os.urandom(200_000)
APP = "tests.replay_limits_apps:app"


async def _record_http() -> dict[str, Exchange]:
    """Real traffic to the FastAPI app through uvicorn, by path."""
    sink = MemorySink()
    inspector = Inspector(replay_limits_apps.app, sink)
    with uvicorn_server(inspector, lifespan="off") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.post("/upload", files={"file": ("blob.bin", UPLOAD)},
                                       data={"note": "hi"})
            assert answer.json() == {"size": len(UPLOAD), "note": "hi"}
            await client.post("/blob", content=UPLOAD)
            await client.get("/rows")
            await client.get("/page")
            assert (await client.get("/noisy")).status_code == 500
    inspector.flush()
    return {e.path: e for e in sink.exchanges if e.type == "http"}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Exchange]:
    return asyncio.run(_record_http())


def _trace(tmp_path: Path, exchanges: list[Exchange]) -> Path:
    path = tmp_path / "session.jsonl"
    codec.write(codec.new_trace(exchanges), path, jsonl=True)
    return path


# capped request bodies ----------------------------------------------------------------------

def test_a_capped_upload_is_warned_about_with_its_sizes(recorded: dict[str, Exchange]) -> None:
    upload = recorded["/upload"]
    ((original, warnings),) = replay_warnings([upload, recorded["/rows"]])
    assert original is upload
    assert warnings == [f"the request body was capped at capture: 64.0KiB of "
                        f"{upload.request.bytes / 1024:.0f}KiB kept, the replay sends only "
                        f"those"]
    edited = ReplayRequest.from_exchange(upload).edited(body=b"whole")
    assert replay_warnings([(upload, edited)]) == []  # an edited body is sent whole


def test_replay_command_warns_and_fails_unless_allowed(
        tmp_path: Path, recorded: dict[str, Exchange], capsys: pytest.CaptureFixture[str],
) -> None:
    path = _trace(tmp_path, [recorded["/upload"], recorded["/blob"]])
    assert main(["replay", str(path), "--app", APP]) == 1
    out, err = capsys.readouterr()
    upload_id, blob_id = recorded["/upload"].id, recorded["/blob"].id
    assert f"warning: #{upload_id}: the request body was capped at capture: 64.0KiB" in err
    assert f"warning: #{blob_id}: the request body was capped" in err
    assert "200 → 422" in out and "(sent less than recorded)" in out
    assert "2 replayed, 1 differ or failed, 2 sent less than recorded" in out
    only_blob = _trace(tmp_path, [recorded["/blob"]])
    assert main(["replay", str(only_blob), "--app", APP]) == 1  # the same answer, but truncated
    assert main(["replay", str(only_blob), "--app", APP, "--allow-truncated"]) == 0
    assert "the request body was capped" in capsys.readouterr().err  # still said


# WebSocket replay ends with the client's recorded close ------------------------------------

async def _record_subscription() -> Exchange:
    """A Strawberry subscription over graphql-transport-ws; the client closes with 4000."""
    sink = MemorySink()
    inspector = Inspector(replay_limits_apps.graphql, sink)
    with uvicorn_server(inspector, lifespan="off") as url:
        async with connect(url.replace("http", "ws") + "/graphql",
                           subprotocols=["graphql-transport-ws"]) as socket:
            await socket.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                          "payload": {"query": "subscription { count }"}}))
            while json.loads(await socket.recv())["type"] != "complete":
                pass
            await socket.close(4000, "done")
        await asyncio.sleep(0.1)
    inspector.flush()
    (exchange,) = [e for e in sink.exchanges if e.type == "websocket"]
    return exchange


def _client_close(exchange: Exchange) -> tuple[object, object]:
    (event,) = [e for e in exchange.events if e.type == "websocket.disconnect"]
    assert isinstance(event.message, dict)
    return event.message.get("code"), event.message.get("reason")


async def test_websocket_replay_sends_the_recorded_close() -> None:
    original = await _record_subscription()
    assert _client_close(original) == (4000, "done")
    sink = MemorySink()
    inspector = Inspector(replay_limits_apps.graphql, sink)
    with uvicorn_server(inspector, lifespan="off") as url:
        # Before, the client waited for the server to close: until this timeout.
        await replay_over_http(ReplayRequest.from_exchange(original), url, original.id,
                               timeout=60)
        await asyncio.sleep(0.1)
    inspector.flush()
    (over_http,) = [e for e in sink.exchanges if e.type == "websocket"]
    async with Driver(replay_limits_apps.graphql, timeout=60) as driver:
        in_process = await driver.replay(ReplayRequest.from_exchange(original), original.id)
    for replayed in (over_http, in_process):
        assert _client_close(replayed) == (4000, "done")
        diff = diff_exchanges(original, replayed)
        assert diff.summary() == "same", diff.changes
        assert not any("capped" in c.text for c in diff.changes)  # nothing was


# volatile fields --------------------------------------------------------------------------

def test_json_paths_parse_the_subset_and_remove_what_they_select() -> None:
    value = {"a": {"b": 1, "c": [{"id": 1, "x": 2}, {"id": 2}]}, "k.y": 3, "rows": [[1, 2]]}
    removed = {text: JsonPath.parse(text).remove_from(value) for text in (
        "$.a.b", "$.a.c[*].id", "$..id", "$['k.y']", "$.rows[-1][0]", "$.a.*")}
    assert removed["$.a.b"]["a"] == {"c": [{"id": 1, "x": 2}, {"id": 2}]}
    assert removed["$.a.c[*].id"]["a"]["c"] == removed["$..id"]["a"]["c"] == [{"x": 2}, {}]
    assert "k.y" not in removed["$['k.y']"] and removed["$.rows[-1][0]"]["rows"] == [[2]]
    assert removed["$.a.*"]["a"] == {} and value["a"]["b"] == 1  # the original is untouched
    for bad, why in (("a.b", "must start with \\$"), ("$.a[", "column 4"), ("$", "alone"),
                     ("$..", "name must follow")):
        with pytest.raises(IgnoreError, match=why):
            JsonPath.parse(bad)
    with pytest.raises(IgnoreError, match="matches empty text"):
        BodyIgnore.parse(texts=["x*"])


def test_ignore_field_and_text_make_volatile_replays_the_same(
        tmp_path: Path, recorded: dict[str, Exchange], capsys: pytest.CaptureFixture[str],
) -> None:
    path = _trace(tmp_path, [recorded["/rows"], recorded["/page"]])
    assert main(["replay", str(path), "--app", APP]) == 1
    out = capsys.readouterr().out
    assert "~ $.query_ms" in out and "Queries took" in out
    assert main(["replay", str(path), "--app", APP, "--ignore-field", "$.query_ms",
                 "--ignore-text", r"took [0-9.]+ms"]) == 0
    assert "2 replayed, 0 differ or failed" in capsys.readouterr().out


@pytest.mark.parametrize(("option", "value", "error"), [
    ("--ignore-field", "$.a[", "bad JSONPath '$.a[': expected .name, ['name'], [n] or [*] at "
                               "column 4"),
    ("--ignore-text", "(", "bad regular expression '('"),
])
def test_bad_ignore_rules_are_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str,
        error: str) -> None:
    for command in ("replay", "view"):
        args = [command, str(tmp_path / "missing.jsonl"), "--app", APP, option, value]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"asgi-inspect: error: {error}") and err.count("\n") == 1


# the app's own output ---------------------------------------------------------------------

def test_the_apps_output_goes_to_a_private_log_not_the_report(
        tmp_path: Path, recorded: dict[str, Exchange]) -> None:
    """In a process of its own, as a user runs it: the app's logging has no handler but
    Python's last resort, which writes to the stderr the report shares."""
    noisy = recorded["/noisy"]
    path = _trace(tmp_path, [noisy, recorded["/rows"]])
    done = subprocess.run([sys.executable, "-m", "asgi_inspect", "replay", str(path), "--app", APP,
                           "--ignore-field", "$.query_ms"], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "session.replay.log"
    report = done.stdout + done.stderr
    assert "noisy line" not in report and "Traceback" not in report, report
    assert (f"app printed {replay_limits_apps.NOISY_LINES} lines, raised ValueError; "
            f"see {log}") in done.stdout
    assert done.stdout.count("app printed") == 1  # /rows printed nothing
    assert f"the app's output to {log}" in done.stdout
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert f"== #{noisy.id} GET /noisy ==" in text and "noisy line 148" in text
    assert "noisy log line" in text and "ValueError: noisy failure" in text
