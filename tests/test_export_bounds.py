"""Exports are correct and bounded: shell commands re-send every body whole in bash and dash,
nothing captured reaches the printed command raw, and every format is written a piece at a
time with the same bytes as the one-document renderers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from asgi_inspect.cli.main import build_parser
from asgi_inspect.formats import codec
from asgi_inspect.formats.curl import CHUNK, curl_command, httpie_command, to_curl, to_httpie
from asgi_inspect.formats.har import to_har
from asgi_inspect.formats.reader import read
from asgi_inspect.model import Event, Exchange
from asgi_inspect.ops.export import export, export_pieces
from asgi_inspect.runtime.session import Session
from asgi_inspect.text import printable
from tests.export_samples import record_samples
from tests.servers import uvicorn_server
from tests.test_curl import Received

BIN = Path(sys.executable).parent
HTTP = shutil.which("http", path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
SHELLS = [pytest.param(shell, marks=pytest.mark.skipif(
    shutil.which(shell) is None, reason=f"{shell} is not installed (apt-get install {shell})"))
    for shell in ("bash", "dash")]
TOOLS = ["curl", pytest.param("httpie", marks=pytest.mark.skipif(
    HTTP is None, reason="HTTPie (the httpie package) is not installed"))]

MULTIPART = (b"--------------------------d74496d66958873e\r\n"
             b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) +
             b"\r\n--------------------------d74496d66958873e--\r\n")
BODIES = {
    "dash-text": b"-n starts like an option",
    "dashes-binary": b"--\x00-\xff",
    "multipart": MULTIPART,
    "nul": b"\x00",
    "every-byte": bytes(range(256)),
    "percent-and-quotes": b"%s %d %% ' \" \\ \\n $HOME `x`",
    "chunks-of-binary": os.urandom(3 * CHUNK + 17),
    "text-too-big-for-an-argument": ("é" * CHUNK + "x").encode(),
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Received]]:
    app = Received()
    with uvicorn_server(app, lifespan="off") as url:
        yield url, app


def request(body: bytes, headers: list[tuple[bytes, bytes]] | None = None,
            method: str = "POST") -> Exchange:
    headers = headers if headers is not None else [(b"content-type", b"application/x-stuff")]
    scope = {"type": "http", "method": method, "scheme": "http", "http_version": "1.1",
             "path": "/upload", "raw_path": b"/upload", "query_string": b"", "root_path": "",
             "server": ["127.0.0.1", 8000], "headers": [list(h) for h in headers]}
    events = [Event(direction="receive", type="http.request", t_call=i, t_return=i,
                    message={"type": "http.request", "body": body[i:i + 50_000],
                             "more_body": i + 50_000 < len(body)})
              for i in range(0, max(len(body), 1), 50_000)]
    return Exchange(id="1", type="http", started_at=0.0, scope=scope, events=events)


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", list(BODIES))
def test_every_body_is_sent_whole(server: tuple[str, Received], tmp_path: Path, shell: str,
                                  tool: str, name: str) -> None:
    url, app = server
    app.requests.clear()
    script = tmp_path / "replay.sh"
    script.write_text(export([request(BODIES[name])], tool, base_url=url))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([shell, str(script)], capture_output=True, timeout=60, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert [r["body"] for r in app.requests] == [BODIES[name]]


CONTROLS = "\x00\x1b]52;c;aGk=\x07\x1b[2J\x85\x9b\u202e\u2028\ufeff\t\n\r"


@pytest.mark.parametrize("render", [to_curl, to_httpie])
def test_no_control_character_reaches_the_command_raw(render: Any) -> None:
    controls = CONTROLS.encode("utf-8")
    exchange = request(b"x" + controls, [(b"host", b"evil" + controls + b".example"),
                                         (b"x-" + controls, controls), (b"x-latin", b"\x9b")],
                       method="P\x1bOST")
    exchange.scope["path"] = "/p" + CONTROLS
    exchange.scope["raw_path"] = b"/p" + controls
    command = render(exchange)
    assert all(printable(line) == line for line in command.split("\n"))
    exported = export([exchange], "curl")
    assert all(printable(line) == line for line in exported.split("\n"))


def test_commands_are_blocks_of_http_and_websocket_exchanges_only() -> None:
    lifespan = Exchange(id="1", type="lifespan", started_at=0.0, scope={"type": "lifespan"})
    websocket = Exchange(id="3", type="websocket", started_at=0.0, scope={"path": "/ws"})
    http = request(b"x")
    http.id = "2"
    text = export([lifespan, http, websocket], "curl", redact=False)
    assert text.startswith("# 2: POST /upload → none\ncurl ")  # recorded without an answer
    assert text.endswith("--data-raw x\n\n# 3: WEBSOCKET /ws (WebSocket: not exported)\n")


def test_a_big_body_is_escaped_a_chunk_at_a_time() -> None:
    body = os.urandom(8 * CHUNK)
    for command in (curl_command, httpie_command):
        pieces = list(command(request(body)))
        assert max(len(piece) for piece in pieces) <= 4 * CHUNK
        assert len(pieces) > 8
    text = ("é" * (3 * CHUNK)).encode()  # text, but too big to pass as one argument
    assert max(len(piece) for piece in curl_command(request(text))) <= 4 * CHUNK


@pytest.fixture(scope="module")
def samples() -> list[Exchange]:
    return record_samples()


def test_json_and_jsonl_pieces_are_the_one_document_bytes(samples: list[Exchange]) -> None:
    trace = codec.new_trace(samples)
    for chosen in (samples, samples[:1], []):
        expected = codec.dumps(msgspec.structs.replace(trace, exchanges=chosen))
        assert export(chosen, "json", redact=False, header=trace) == expected.decode() + "\n"
    assert export(samples, "jsonl", redact=False, header=trace) == \
        codec.dumps_jsonl(trace).decode()


def test_har_pieces_are_the_one_document_bytes_an_entry_at_a_time(
        samples: list[Exchange]) -> None:
    for chosen in (samples, samples[:1], []):
        expected = json.dumps(to_har(chosen), indent=2, ensure_ascii=False) + "\n"
        assert export(chosen, "har", redact=False) == expected
    entries = len(to_har(samples)["log"]["entries"])
    pieces = list(export_pieces(samples, "har", redact=False))
    assert len(pieces) > entries and max(len(piece) for piece in pieces) <= 128 * 1024


# view's bounds -----------------------------------------------------------------------------

def test_view_keeps_the_newest_exchanges_within_max_exchanges_and_max_memory(
        tmp_path: Path) -> None:
    exchanges = [request(bytes(300 * 1024)) for _ in range(10)]
    for number, exchange in enumerate(exchanges, 1):
        exchange.id = str(number)
        exchange.request.kept_bytes = 300 * 1024
    path = tmp_path / "big.jsonl"
    codec.write(codec.new_trace(exchanges), path)
    for argv, kept in ((["--max-exchanges", "3"], ["8", "9", "10"]),
                       (["--max-memory", "1MiB"], ["8", "9", "10"]),
                       (["--max-memory", "700KiB", "--max-exchanges", "5"], ["9", "10"])):
        args = build_parser().parse_args(["view", str(path), *argv])
        session = Session.offline(read(args.file), title="view",
                                  max_exchanges=args.max_exchanges, max_memory=args.max_memory)
        assert [e.id for e in session.store] == kept, argv
        assert session.store.evicted == 10 - len(kept)
