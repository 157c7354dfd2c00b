"""``asgi-inspect export``: every format, redaction, filters, and bad input as one line + exit 2."""

from __future__ import annotations

import copy
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_inspect.cli.main import main
from asgi_inspect.formats.codec import dumps, dumps_jsonl, loads, new_trace
from asgi_inspect.formats.har import to_har
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.model import Exchange
from asgi_inspect.ops.export import FORMATS
from asgi_inspect.units import format_size
from tests.export_samples import record_samples

SECRETS = ("hunter2", "tok-123", "abc.def", "s3cret")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _warnings_then_wrote(err: str) -> list[str]:
    """A successful export's stderr: warnings (if any), then the one line saying what it
    wrote; the warnings are returned."""
    *warnings, wrote = err.splitlines()
    assert wrote.startswith("asgi-inspect: wrote ") and err.endswith("\n"), err
    assert all(line.startswith("asgi-inspect: warning: ") for line in warnings), err
    return warnings


@pytest.fixture(scope="module")
def samples() -> list[Exchange]:
    return record_samples()


@pytest.fixture(scope="module")
def files(samples: list[Exchange], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("traces")
    trace = new_trace(samples)
    paths = {"json": folder / "t.json", "jsonl": folder / "t.jsonl", "har": folder / "t.har"}
    paths["json"].write_bytes(dumps(trace))
    paths["jsonl"].write_bytes(dumps_jsonl(trace))
    paths["har"].write_text(json.dumps(to_har(samples)))
    return paths


@pytest.mark.parametrize("source", ["json", "jsonl", "har"])
def test_json_and_jsonl_round_trip_redacted(capsys: pytest.CaptureFixture[str],
                                            files: dict[str, Path], source: str,
                                            samples: list[Exchange]) -> None:
    for fmt in ("json", "jsonl"):
        code, out, err = _run(capsys, str(files[source]), "--format", fmt)
        assert code == 0 and _warnings_then_wrote(err) == []
        trace = loads(out)
        assert [e.id for e in trace.exchanges] == [e.id for e in samples]
        for secret in SECRETS:
            assert secret not in out


def test_har_output_and_no_redact(capsys: pytest.CaptureFixture[str],
                                  files: dict[str, Path]) -> None:
    code, out, _ = _run(capsys, str(files["jsonl"]), "-f", "har")
    assert code == 0 and all(s not in out for s in SECRETS)
    assert len(json.loads(out)["log"]["entries"]) == 8
    code, out, _ = _run(capsys, str(files["jsonl"]), "-f", "har", "--no-redact")
    assert code == 0 and all(s in out for s in SECRETS)
    assert len(from_har(out).exchanges) == 8


def test_commands_one_per_http_exchange(capsys: pytest.CaptureFixture[str],
                                        files: dict[str, Path]) -> None:
    code, out, _ = _run(capsys, str(files["json"]), "-f", "curl", "--base-url",
                        "http://127.0.0.1:9")
    assert code == 0
    assert out.count("\ncurl ") + out.count("| curl ") == 7
    assert "# 9: WEBSOCKET /chat?room=1 (WebSocket: not exported)" in out
    assert "'http://127.0.0.1:9/search?q=caf%C3%A9&token=%3Credacted" in out
    code, out, _ = _run(capsys, str(files["json"]), "-f", "httpie")
    assert code == 0 and out.count("http --ignore-stdin") == 6 and "| http POST" not in out


def test_format_follows_the_output_suffix(capsys: pytest.CaptureFixture[str],
                                          files: dict[str, Path], tmp_path: Path) -> None:
    for name, check in (("out.har", lambda t: "log" in json.loads(t)),
                        ("out.jsonl", lambda t: len(loads(t).exchanges) == 8),
                        ("out.sh", lambda t: t.startswith("# 2: GET /search")),
                        ("out.txt", lambda t: json.loads(t)["format"] == "asgi-inspect")):
        code, out, _ = _run(capsys, str(files["json"]), "-o", str(tmp_path / name))
        assert (code, out) == (0, "")
        assert check((tmp_path / name).read_text()), name


def test_filter_selects_exchanges(capsys: pytest.CaptureFixture[str],
                                  files: dict[str, Path]) -> None:
    pytest.importorskip("asgi_inspect.filters")
    code, out, _ = _run(capsys, str(files["har"]), "-f", "jsonl", "--filter", "~m PUT")
    assert code == 0
    assert [e.scope["path"] for e in loads(out).exchanges] == ["/binary"]
    code, out, err = _run(capsys, str(files["har"]), "--filter", "~nonsense (")
    assert code == 2 and out == ""
    assert err.startswith("asgi-inspect: error: bad --filter: ") and err.count("\n") == 1


@pytest.mark.parametrize(("content", "reason"), [
    (None, "cannot read"),
    (b"", "the file is empty"),
    (b"{\"format\": \"asgi-inspect\", \"vers", "not valid JSON"),
    (b"\x00\x01binary", "not valid JSON"),
    (b'{"format": "asgi-inspect", "version": 99, "exchanges": []}', "unsupported trace version"),
    (b'{"log": {"version": "1.2", "entries": [{"request": {}}]}}', "HAR entry 1"),
])
def test_bad_input_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            content: bytes | None, reason: str) -> None:
    path = tmp_path / "in.json"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _run(capsys, str(path), "-f", "har")
    assert (code, out) == (2, "")
    assert err.startswith(f"asgi-inspect: error: {path}: ") and reason in err
    assert err.count("\n") == 1


def test_an_unwritable_output_is_one_line(capsys: pytest.CaptureFixture[str],
                                          files: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = _run(capsys, str(files["json"]), "-o", str(tmp_path / "no" / "such.har"))
    assert code == 2 and err.startswith("asgi-inspect: error: cannot write ")
    assert err.count("\n") == 1


# fuzz: damaged files never give a traceback ----------------------------------------------

def _damage(data: bytes, seed: int, kind: str) -> bytes:
    rnd = random.Random(seed)
    if kind == "truncate":
        return data[:rnd.randrange(len(data))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            out[rnd.randrange(len(out))] = rnd.randrange(256)
        return bytes(out)
    return _damage_json(json.loads(data), rnd)


_VALUES: list[Any] = [None, True, -1, 2**70, 1.5, "", "x", [], {}, [1, "a"], {"$b": 1},
                      {"$b64": "!!"}, {"$map": 5}, {"type": "http"}, "http.response.start",
                      {"name": 1, "value": None}, ["a", "b", "c"]]


def _damage_json(document: Any, rnd: random.Random) -> bytes:
    """Replace a few values deep inside the document: gets past the parser, into the code."""
    for _ in range(rnd.randint(1, 4)):
        node, key = _pick(document, rnd)
        if node is not None:
            node[key] = copy.deepcopy(rnd.choice(_VALUES))
    return json.dumps(document).encode()


def _pick(document: Any, rnd: random.Random) -> tuple[Any, Any]:
    node, key = None, None
    current = document
    while isinstance(current, (dict, list)) and current and rnd.random() < 0.85:
        keys = list(current) if isinstance(current, dict) else range(len(current))
        node, key = current, rnd.choice(list(keys))
        current = current[key]
    return node, key


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=st.sampled_from(["json", "har"]), kind=st.sampled_from(["truncate", "flip", "json"]),
       seed=st.integers(0, 2**32), fmt=st.sampled_from(FORMATS))
def test_damaged_files_never_raise(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                                   tmp_path: Path, source: str, kind: str, seed: int,
                                   fmt: str) -> None:
    data = _damage(files[source].read_bytes(), seed, kind)
    path = tmp_path / f"fuzzed-{os.getpid()}.{source}"
    path.write_bytes(data)
    code, _, err = _run(capsys, str(path), "-f", fmt)
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("asgi-inspect: error: ") and err.count("\n") == 1
    else:  # a damaged exchange is skipped, named in a warning line
        _warnings_then_wrote(err)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), fmt=st.sampled_from(FORMATS))
def test_damaged_jsonl_lines_never_raise(capsys: pytest.CaptureFixture[str],
                                         files: dict[str, Path], tmp_path: Path, seed: int,
                                         fmt: str) -> None:
    lines = files["jsonl"].read_bytes().splitlines()
    rnd = random.Random(seed)
    index = rnd.randrange(len(lines))
    lines[index] = _damage_json(json.loads(lines[index]), rnd)
    path = tmp_path / "fuzzed.jsonl"
    path.write_bytes(b"\n".join(lines))
    code, _, err = _run(capsys, str(path), "-f", fmt)
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("asgi-inspect: error: ") and err.count("\n") == 1
    elif warnings := _warnings_then_wrote(err):  # the damaged line is skipped, named once
        assert len(warnings) == 1 and f"line {index + 1}: " in warnings[0]


def test_marked_exports_only_the_marked_exchanges(
        tmp_path: Path, samples: list[Exchange], capsys: pytest.CaptureFixture[str]) -> None:
    marked = [copy.deepcopy(e) for e in samples]
    marked[1].marked = True
    path = tmp_path / "marked.json"
    path.write_bytes(dumps(new_trace(marked)))
    code, out, _ = _run(capsys, str(path), "--marked", "-f", "jsonl")
    assert code == 0
    assert [e.id for e in loads(out.encode()).exchanges] == [marked[1].id]


# what it says: the damaged lines it skipped (or refused), and what it wrote ------------------

def test_a_damaged_line_is_named_and_skipped_or_refused_with_strict(
        capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path) -> None:
    lines = files["jsonl"].read_bytes().splitlines(keepends=True)
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"".join([*lines[:3], b'{"id": "cut', b"\n", *lines[3:]]))
    code, out, err = _run(capsys, str(path), "-f", "jsonl")
    assert code == 0
    assert len(loads(out).exchanges) == 8  # every complete exchange
    [warning] = _warnings_then_wrote(err)
    assert "line 4: " in warning and "--strict" in warning
    assert err.splitlines()[-1].startswith("asgi-inspect: wrote 8 exchanges (JSONL, ")
    code, out, err = _run(capsys, str(path), "-f", "jsonl", "--strict")
    assert (code, out) == (2, "")
    assert err.startswith(f"asgi-inspect: error: {path}: ") and "line 4: " in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(("fmt", "name", "count"), [
    ("har", "HAR", "8 exchanges"), ("json", "JSON", "8 exchanges"),
    ("jsonl", "JSONL", "8 exchanges"), ("curl", "curl", "7 exchanges"),
    ("httpie", "HTTPie", "7 exchanges")])
def test_success_says_what_was_written_in_one_line(
        capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path, fmt: str,
        name: str, count: str) -> None:
    output = tmp_path / f"out.{fmt}"
    code, out, err = _run(capsys, str(files["json"]), "-f", fmt, "-o", str(output))
    size = format_size(output.stat().st_size)
    assert (code, out) == (0, "")
    assert err == f"asgi-inspect: wrote {count} ({name}, {size}) to {output}\n"
    code, out, err = _run(capsys, str(files["json"]), "-f", fmt)  # the same bytes on stdout
    assert out.encode() == output.read_bytes()
    assert err == f"asgi-inspect: wrote {count} ({name}, {size}) to standard output\n"


def test_one_exchange_is_singular(capsys: pytest.CaptureFixture[str], files: dict[str, Path],
                                  tmp_path: Path) -> None:
    code, out, err = _run(capsys, str(files["json"]), "-f", "har", "--filter", "~m PUT")
    assert code == 0 and len(json.loads(out)["log"]["entries"]) == 1
    assert err.startswith("asgi-inspect: wrote 1 exchange (HAR, ")
