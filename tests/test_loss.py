"""Surviving what we record: nothing lost silently, nothing lost wholesale.

A full disk under a recording (``JsonlSink``, headless ``--record``) loses only the exchanges
it cannot take, counted and said in one line, the file left whole. A trace with a damaged line
still loads, the line named. Exchanges whose end was lost (a dropped batch, a dead server) are
settled as lost and counted, never left "streaming". Recordings are owner-only files.

Full disks are real: ``RLIMIT_FSIZE`` in a child process (writes past it fail with EFBIG, the
same path as ENOSPC; portable), and a small tmpfs where the test may mount one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

import asgi_inspect
from asgi_inspect import TraceError
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.model import Event, Exchange
from asgi_inspect.record.wire import Closed, Header, Open, Record, Sent
from asgi_inspect.runtime.headless import DROPS_EVERY, HeadlessRecorder
from asgi_inspect.store import collector as collector_module
from asgi_inspect.store.collector import Collector
from tests.servers import free_port, wait_for_port

pytestmark = pytest.mark.usefixtures("hotpath")  # each test on the Python and the compiled path

ROOT = Path(__file__).parent.parent
CLI = [sys.executable, "-m", "asgi_inspect"]
SECOND = 10**9


def limited(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: files this process (and its children) write stop at ``limit`` bytes,
    and a write past it fails with EFBIG instead of killing the process (SIGXFSZ ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unwritten_count(stderr: str) -> int:
    """The count a writer gives at exit (0 when it gives none)."""
    match = re.search(r"([\d,]+) exchanges? could not be written", stderr)
    return int(match.group(1).replace(",", "")) if match else 0


# a full disk: whole lines or nothing -------------------------------------------------------------

LINE_FILE_SCRIPT = """
import errno, resource, signal, sys
from asgi_inspect.record.files import LineFile

def disk_holds(size):  # the soft limit: raised again as if the disk freed up
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
disk_holds(0)
file = LineFile(sys.argv[1], b"HEADER\\n")
assert not file.write(b"one\\n") and file.error.errno == errno.EFBIG
disk_holds(20)
assert file.write(b"two\\n")  # the header first, then the line
assert not file.write(b"x" * 20 + b"\\n")  # cut short at 20 bytes: taken back
assert file.write(b"three\\n")
assert not file.close(b"no room for this\\n")
"""


def test_a_line_file_keeps_whole_lines_and_resumes_when_the_disk_frees(tmp_path: Path) -> None:
    path = tmp_path / "lines"
    result = subprocess.run([sys.executable, "-c", LINE_FILE_SCRIPT, str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == b"HEADER\ntwo\nthree\n"
    assert mode(path) == 0o600


# a full disk: the app-process file sink ----------------------------------------------------------

SINK_SCRIPT = """
import asyncio, sys
from asgi_inspect import Inspector, JsonlSink
from tests import apps
from tests.loss_app import app

async def record(path, count):
    inspector = Inspector(app, JsonlSink(path))
    for _ in range(count):
        await apps.drive(inspector, apps.http_scope())
    inspector.close()

asyncio.run(record(sys.argv[1], int(sys.argv[2])))
"""


def test_a_full_disk_under_jsonl_sink_loses_only_what_it_cannot_write(tmp_path: Path) -> None:
    path, requests = tmp_path / "trace.jsonl", 60
    result = subprocess.run([sys.executable, "-c", SINK_SCRIPT, str(path), str(requests)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            preexec_fn=limited(8192))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cannot write to" in line]
    assert len(warnings) == 1 and "File too large" in warnings[0], result.stderr  # once
    trace = asgi_inspect.read(path)  # strict: not one torn line
    unwritten = unwritten_count(result.stderr)
    assert 0 < len(trace.exchanges) < requests
    assert len(trace.exchanges) + unwritten == requests  # every exchange written or counted
    assert path.stat().st_size <= 8192 and path.read_bytes().endswith(b"\n")
    assert mode(path) == 0o600


def test_jsonl_sink_makes_an_existing_recording_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_bytes(codec.header_line())
    path.chmod(0o644)
    result = subprocess.run([sys.executable, "-c", SINK_SCRIPT, str(path), "2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert mode(path) == 0o600
    assert len(asgi_inspect.read(path).exchanges) == 2  # appended after the old header


# a full disk: headless --record ------------------------------------------------------------------

@contextlib.contextmanager
def full_directory(kind: str, tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None] | None]]:
    """A directory on a disk that fills after a few KiB, and the preexec_fn that makes it so."""
    if kind == "rlimit":
        yield tmp_path, limited(8192)
        return
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root and CAP_SYS_ADMIN needed): "
                    f"{result.stderr.strip() or result.returncode}")
    try:
        yield mount, None
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("disk", ["rlimit", "tmpfs"])
def test_headless_record_on_a_full_disk_counts_what_it_loses(tmp_path: Path, disk: str) -> None:
    port, requests = free_port(), 40
    with full_directory(disk, tmp_path) as (directory, preexec):
        record = directory / "trace.jsonl"
        args = [*CLI, "run", "tests.loss_app:app", "--app-dir", str(ROOT), "--port", str(port),
                "--headless", "--record", str(record)]
        process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
        try:
            wait_for_port(port, timeout=20)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(requests):
                    assert client.get("/").status_code == 200
            time.sleep(0.3)
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        assert len([line for line in err.splitlines() if "cannot write to" in line]) == 1, err
        assert out.count(" GET / 200 ") == requests  # every exchange still shown
        trace = asgi_inspect.read(record)  # strict: the file has no torn line
        unwritten = unwritten_count(err)
        assert unwritten > 0
        assert len(trace.exchanges) + unwritten == requests + 1  # and the lifespan
        assert mode(record) == 0o600


def test_headless_record_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([*CLI, "run", "tests.loss_app:app", "--app-dir", str(ROOT),
                             "--port", str(free_port()), "--headless", "--record",
                             str(tmp_path / "missing" / "trace.jsonl")],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("asgi-inspect: error: cannot write")
    assert "Traceback" not in result.stderr


# a killed server ---------------------------------------------------------------------------------

def test_a_killed_server_leaves_its_open_exchange_lost_and_counted(tmp_path: Path) -> None:
    port, record = free_port(), tmp_path / "trace.jsonl"
    args = [*CLI, "run", "tests.loss_app:app", "--app-dir", str(ROOT), "--port", str(port),
            "--headless", "--record", str(record)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        wait_for_port(port, timeout=20)
        base = f"http://127.0.0.1:{port}"
        pid = int(httpx.get(base + "/pid").text)
        started = threading.Event()

        def slow_request() -> None:
            with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", base + "/slow") as r:
                chunks = r.iter_bytes()
                next(chunks)
                started.set()
                for _ in chunks:  # until the server dies
                    pass

        thread = threading.Thread(target=slow_request, daemon=True)
        thread.start()
        assert started.wait(10)
        time.sleep(0.3)  # its first records reached the inspector
        os.kill(pid, signal.SIGKILL)
        out, err = process.communicate(timeout=20)  # headless ends with its server
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    trace = asgi_inspect.read(record)
    slow = next(e for e in trace.exchanges if e.path == "/slow")
    assert slow.outcome == "incomplete" and slow.lost_records
    assert any("killed by signal 9" in note for note in slow.notes), slow.notes
    assert trace.dropped >= 1  # the stats line counts it
    assert re.search(r"[1-9][\d,]* records? dropped", err), err
    assert "[records lost]" in out


# the collector: exchanges whose end was lost -----------------------------------------------------

ENCODER = msgspec.msgpack.Encoder()
START = {"type": "http.response.start", "status": 200, "headers": []}


def frame(batch: int, *records: Record, dropped: int = 0, source: str = "worker") -> bytes:
    """A batch as a recorder sends it: its header, then its records."""
    return ENCODER.encode([Header(source, batch, dropped, 0, 65536, 1000, 0), *records])


def opened(xid: int, t: int = 0) -> Open:
    return Open(xid, t, {"type": "http", "method": "GET", "path": f"/{xid}", "headers": []})


def body(xid: int, seq: int, t: int, more: bool = False) -> Sent:
    return Sent(xid, seq, t, t, {"type": "http.response.body", "body": b"hi", "more_body": more})


class Closes(list[Exchange]):
    """The exchanges a collector hands on as they end, in order."""


def collector_with_closes() -> tuple[Collector, Closes]:
    closes = Closes()
    return Collector(on_close=closes.append), closes


def test_an_exchange_whose_end_was_dropped_is_settled_as_lost() -> None:
    collector, closes = collector_with_closes()
    collector.feed(frame(0, opened(1), Sent(1, 0, 1000, 1000, START)))
    collector.feed(frame(2, opened(2, SECOND), dropped=3))  # batch 1 was refused: 3 records
    collector.feed(frame(3, body(2, 0, 5 * SECOND), dropped=3))  # a running total
    first = collector.store.get("1")
    assert first is not None and first.outcome == "streaming"  # maybe just slow: not yet
    collector.feed(frame(4, body(2, 1, 11 * SECOND), dropped=3))  # silent for 10 s
    assert first.outcome == "incomplete" and first.lost_records
    assert collector_module.LOST_IN_TRANSIT in first.notes
    assert closes == [first]
    assert ("worker", 1) not in collector._running
    assert collector.dropped == 3


def test_a_lost_exchange_heard_from_again_is_open_again() -> None:
    collector, closes = collector_with_closes()
    collector.feed(frame(0, opened(1), Sent(1, 0, 1000, 1000, START)))
    collector.feed(frame(2, opened(2), dropped=1))
    collector.feed(frame(3, body(2, 0, 20 * SECOND), dropped=1))
    exchange = collector.store.get("1")
    assert exchange is not None and exchange.outcome == "incomplete"
    collector.feed(frame(4, body(1, 1, 21 * SECOND), Closed(1, 21 * SECOND, 0), dropped=1))
    assert exchange.outcome == "complete"
    assert collector_module.LOST_IN_TRANSIT not in exchange.notes
    assert not exchange.lost_records  # its own events were all there after all
    assert closes == [exchange, exchange]  # handed on when taken as lost, and when it ended
    assert exchange.events[-1].late is False


def test_batches_that_never_arrived_are_counted_even_unreported() -> None:
    collector, _ = collector_with_closes()
    collector.feed(frame(0, opened(1)))
    collector.feed(frame(3, body(1, 0, 1000)))  # 1 and 2 lost after the recorder let go
    assert collector.dropped == 2


def test_a_recorder_that_closes_settles_what_it_left_open() -> None:
    collector, closes = collector_with_closes()
    collector.feed(frame(0, opened(1), Sent(1, 0, 1000, 1000, START), body(1, 1, 2000, True)))
    collector.feed(frame(1))  # the recorder's last batch holds no records
    exchange = closes[0]
    assert exchange.outcome == "incomplete"
    assert collector_module.RECORDER_CLOSED in exchange.notes
    assert collector.dropped == 0 and collector.live_sources() == []


def test_a_dead_source_loses_its_open_exchanges_and_counts_them() -> None:
    collector, closes = collector_with_closes()
    collector.feed(frame(0, opened(1), opened(2), Closed(2, 10, 0)))
    collector.feed(frame(0, opened(1), source="other"))
    assert collector.end_sources(["worker"], "the server was killed by signal 9") == 1
    assert [e.id for e in closes] == ["2", "1"]
    assert closes[-1].notes == ["the server was killed by signal 9"]
    assert closes[-1].outcome == "incomplete" and closes[-1].lost_records
    assert collector.dropped == 1
    assert collector.live_sources() == ["other"]
    assert collector.end_sources(["worker"], "again") == 0  # ended once


def test_a_lost_websocket_that_was_closed_is_complete() -> None:
    collector, closes = collector_with_closes()
    scope = {"type": "websocket", "path": "/ws", "headers": []}
    collector.feed(frame(0, Open(1, 0, scope), Sent(1, 0, 1, 1, {"type": "websocket.accept"}),
                         Sent(1, 1, 2, 2, {"type": "websocket.close", "code": 1000})))
    collector.end_sources(["worker"], "gone")
    assert closes[0].outcome == "complete" and closes[0].lost_records


# headless: drops shown as they grow, the change log drained --------------------------------------

def test_headless_poll_shows_drops_as_they_grow_and_drains_changes() -> None:
    said: list[str] = []
    recorder = HeadlessRecorder(None, warn=said.append)
    collector = Collector()
    collector.feed(frame(0, opened(1)))
    recorder.poll(collector)
    assert said == [] and not collector.store.changed
    collector.feed(frame(2, body(1, 0, 10), dropped=7))
    recorder.poll(collector)
    assert len(said) == 1 and "dropping records: 7 lost" in said[0]
    collector.feed(frame(4, body(1, 1, 20), dropped=9))
    recorder.poll(collector)
    assert len(said) == 1  # at most one line a second
    recorder._drops_at -= DROPS_EVERY  # a second later
    recorder.poll(collector)
    assert len(said) == 2 and "still dropping records: 9 lost" in said[1]
    assert not collector.store.changed


# reading damaged and crafted traces --------------------------------------------------------------

def exchange(n: int, **scope: Any) -> Exchange:
    return Exchange(id=str(n), type="http", started_at=1.7e9 + n, source="s",
                    scope={"type": "http", "method": "GET", "path": f"/{n}", **scope},
                    events=[Event(direction="send", type="http.response.start", t_call=0,
                                  message=START)], outcome="complete")


def jsonl(*exchanges: Exchange) -> bytes:
    return codec.dumps_jsonl(codec.new_trace(exchanges))


def test_a_truncated_last_line_loses_only_that_exchange(tmp_path: Path) -> None:
    data = jsonl(*(exchange(n) for n in range(1, 6)))
    path = tmp_path / "cut.jsonl"
    path.write_bytes(data[:-40])  # head -c: the last line is partial
    with pytest.raises(TraceError, match=r"^line 6: "):
        asgi_inspect.read(path)  # the API is strict unless asked
    damage: list[str] = []
    trace = asgi_inspect.read(path, on_damage=damage.append)
    assert [e.id for e in trace.exchanges] == ["1", "2", "3", "4"]
    assert len(damage) == 1 and damage[0].startswith("line 6: ")


def test_a_damaged_line_in_the_middle_is_named_and_skipped(tmp_path: Path) -> None:
    lines = jsonl(*(exchange(n) for n in range(1, 4))).split(b"\n")
    lines[2] = lines[2][:30] + b"\x00\x00" + lines[2][30:]
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"\n".join(lines))
    damage: list[str] = []
    trace = asgi_inspect.read(path, on_damage=damage.append)
    assert [e.id for e in trace.exchanges] == ["1", "3"]
    assert [reason.split(":")[0] for reason in damage] == ["line 3"]


@pytest.mark.parametrize(("scope", "started_at", "reason"), [
    ({}, 1e20, "started_at 1e+20 is not a time"),
    ({"query_string": "a=1"}, 1.7e9, "scope query_string must be bytes, not str"),
    ({"query_string": {"a": 1}}, 1.7e9, "scope query_string must be bytes, not dict"),
    ({"path": 7}, 1.7e9, "scope path must be a string, not int"),
    ({"headers": [["a", "b"]]}, 1.7e9, "scope headers must be a list of [name, value] byte"),
    ({"client": "127.0.0.1"}, 1.7e9, "scope client must be [host, port] or null, not str"),
    ({"method": None}, 1.7e9, "scope method must be a string, not null"),
])
def test_crafted_exchanges_are_refused_naming_the_field(
        scope: dict[str, Any], started_at: float, reason: str) -> None:
    bad = exchange(2, **scope)
    bad.started_at = started_at
    for data in (jsonl(bad), codec.dumps(codec.new_trace([bad]))):
        with pytest.raises(TraceError, match=re.escape(f"exchange 2: {reason}")):
            codec.loads(data)
    for data in (jsonl(exchange(1), bad), codec.dumps(codec.new_trace([exchange(1), bad]))):
        damage: list[str] = []
        assert [e.id for e in codec.loads(data, damage.append).exchanges] == ["1"]
        assert len(damage) == 1 and reason in damage[0]


def test_a_document_with_a_badly_typed_exchange_keeps_the_others() -> None:
    document = json.loads(codec.dumps(codec.new_trace([exchange(1), exchange(2)])))
    document["exchanges"][1]["started_at"] = "yesterday"
    data = json.dumps(document).encode()
    with pytest.raises(TraceError, match=r"exchanges\[1\]\.started_at"):
        codec.loads(data)
    damage: list[str] = []
    assert [e.id for e in codec.loads(data, damage.append).exchanges] == ["1"]
    assert damage[0].startswith("exchanges[1]: ") and "started_at" in damage[0]


def test_a_later_line_for_the_same_exchange_replaces_the_earlier() -> None:
    settled, finished = exchange(1), exchange(1)
    settled.outcome, settled.notes = "incomplete", ["the recorder's records were lost"]
    trace = codec.loads(jsonl(settled, exchange(2), finished))
    assert [(e.id, e.outcome) for e in trace.exchanges] == [("1", "complete"), ("2", "complete")]


def test_unwritten_exchanges_count_as_dropped_when_read() -> None:
    trace = codec.loads(jsonl(exchange(1)) + codec.stats_line(2, 1, unwritten=5))
    assert (trace.dropped, trace.recorder_errors) == (7, 1)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_skips_a_damaged_line_with_one_warning_unless_strict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_bytes(jsonl(exchange(1), exchange(2))[:-25])
    code, out, err = run_cli(["export", str(path), "-f", "jsonl"], capsys)
    assert code == 0
    assert [json.loads(line).get("id") for line in out.splitlines()[1:]] == ["1"]
    warning, wrote = err.splitlines()  # the damaged line, then what was written
    assert "warning" in warning and "line 3: " in warning and "--strict" in warning
    assert wrote.startswith("asgi-inspect: wrote 1 exchange ")
    for command in (["view", str(path), "--strict"], ["export", str(path), "--strict"],
                    ["replay", str(path), "--url", "http://127.0.0.1:9", "--strict"]):
        code, _, err = run_cli(command, capsys)
        assert code == 2, command
        assert err.startswith("asgi-inspect: error: ") and "line 3: " in err
        assert err.count("\n") == 1


def test_cli_refuses_a_wholly_bad_trace_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = exchange(1, query_string={"a": 1})
    path = tmp_path / "crafted.json"
    path.write_bytes(codec.dumps(codec.new_trace([bad])))
    code, _, err = run_cli(["view", str(path)], capsys)  # never reaches the screen
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("asgi-inspect: error: ") and "no exchange could be read" in err
    assert "exchange 1: scope query_string must be bytes" in err
