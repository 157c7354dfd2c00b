"""``asgi-inspect gen-test``: pytest tests written from real traffic pass against the app they
were recorded from and fail, naming the exchange and the difference, when its answers change."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_inspect import Inspector, MemorySink, read
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.ops.gen_test import _IGNORED, _marked, generate
from asgi_inspect.replay.ignore import BodyIgnore
from tests import recorded_bodies
from tests.recorded_traffic import CHANGE, record
from tests.servers import uvicorn_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen")
    trace = record(folder / "traffic.jsonl")
    output = folder / "test_recorded.py"
    assert main(["gen-test", str(trace), "--app", "tests.recorded_api:app", "-o", str(output),
                 "--ignore-field", "$.request_id"]) == 0
    return output


def _pytest(module: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the generated module as a user would, in its own folder with no config of ours,
    and with no pytest plugin but anyio's (httpx brings anyio): all the module needs."""
    (module.parent / "pytest.ini").write_text("[pytest]\n")
    environment = {key: value for key, value in os.environ.items() if key != CHANGE}
    environment.update(PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "anyio", "-p",
                           "no:cacheprovider", "-q", str(module)], cwd=module.parent,
                          env=environment, text=True, capture_output=True, timeout=120,
                          check=False)


def test_the_generated_module_passes_against_its_app(generated: Path) -> None:
    run = _pytest(generated)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_it_fails_naming_the_exchange_and_the_difference(generated: Path) -> None:
    run = _pytest(generated, **{CHANGE: "1"})
    assert run.returncode == 1
    assert "FAILED test_recorded.py::test_get_api_items" in run.stdout
    assert "AssertionError: #3 GET /api/items: the JSON body changed" in run.stdout
    assert "FAILED test_recorded.py::test_post_login_and_3_more" in run.stdout
    assert "AssertionError: #5 POST /api/items: the JSON body changed" in run.stdout
    assert "{'price': 50} != {'price': 5}" in run.stdout
    assert "1 passed" in run.stdout


def test_the_module_reads_as_tests(generated: Path) -> None:
    """One test per exchange, one per sequence (the login cookie, the created item's id), named
    from method and path; volatile parts left out; no import of asgi-inspect."""
    source = generated.read_text()
    compile(source, str(generated), "exec")
    assert "asgi_inspect" not in source
    tests = [line.split("(")[0][len("async def "):] for line in source.splitlines()
             if line.startswith("async def test_")]
    assert tests == ["test_get_health", "test_get_api_items", "test_post_login_and_3_more"]
    assert "json={'user': 'ann', 'request_id': IGNORED})" in source
    assert "('set-cookie', 'session=…')" in source
    assert "response = await client.request('GET', f\"/api/items/{body_5['id']}\"," in source
    assert "'cookie'" not in source.lower() and "'date'," in source
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length",
                           "100", "--select", "E,F,W,I", str(generated)], capture_output=True,
                          text=True, check=False)
    assert lint.returncode == 0, lint.stdout


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = record(tmp_path / "t.jsonl")
    assert main(["gen-test", str(trace), "--app", "nocolon", "-o", str(tmp_path / "x.py")]) == 2
    assert main(["gen-test", str(trace), "--app", "os;import x:app", "-o",
                 str(tmp_path / "x.py")]) == 2
    assert main(["gen-test", str(trace), "--app", "m:app", "-o",
                 str(tmp_path / "no" / "x.py")]) == 2
    assert main(["gen-test", str(trace), "--app", "m:app", "--filter", "~c 999", "-o",
                 str(tmp_path / "x.py")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 4 and all(e.startswith("asgi-inspect: error: ") for e in errors)
    assert "no test to write" in errors[3]


# Containers are not empty: a rule that drops one of two equal empty items from a list leaves
# nothing that tells which one went (the first ones are taken as kept).
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, min_size=1, max_size=4)
                    | st.dictionaries(st.sampled_from(["id", "a", "b"]), inner, min_size=1,
                                      max_size=3),
                    max_leaves=12)
RULES = ["$..id", "$.a", "$[*].b", "$[0]", "$[-1]", "$.a.*", "$..b[0]", "$[*]"]


@settings(max_examples=60, deadline=None)
@given(JSON, st.sampled_from(RULES))
def test_ignored_parts_are_what_the_replay_rules_remove(value: Any, rule: str) -> None:
    """IGNORED stands where the replay's JSONPath rule removes something: filled with any
    value, the expected body still reads as the original once the rule is applied."""
    ignore = BodyIgnore.parse([rule])
    marked = _marked(value, ignore)
    assert ignore.json(_filled(marked)) == ignore.json(value)


def _filled(value: Any) -> Any:
    if value is _IGNORED:
        return "anything"
    if isinstance(value, dict):
        return {key: _filled(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_filled(child) for child in value]
    return value


def test_each_kind_of_body(tmp_path: Path) -> None:
    """Text with --ignore-text masked, binary by hash, gzip JSON decoded, a body past the
    capture cap by its first bytes: passes as recorded, and each fails once changed."""
    trace = tmp_path / "bodies.jsonl"
    sink = MemorySink()
    inspector = Inspector(recorded_bodies.app, sink)
    with uvicorn_server(inspector) as url:
        for path in ("/text", "/binary", "/gzip", "/big"):
            httpx.get(url + path).raise_for_status()
    inspector.flush()
    codec.write(codec.new_trace(sink.exchanges), trace, jsonl=True)
    module = tmp_path / "test_bodies.py"
    assert main(["gen-test", str(trace), "--app", "tests.recorded_bodies:app", "-o",
                 str(module), "--ignore-text", r"took \d+ms"]) == 0
    source = module.read_text()
    assert "text='done, <ignored>'" in source
    assert "json={'ok': True, 'v': 0}" in source
    assert "size=65536," in source and "first_bytes_of=102400" in source
    passed = _pytest(module)
    assert "4 passed" in passed.stdout, passed.stdout
    failed = _pytest(module, **{CHANGE: "1"})
    assert "4 failed" in failed.stdout, failed.stdout
    for title in ("#2 GET /text: the body changed", "#3 GET /binary: the body changed",
                  "#4 GET /gzip: the JSON body changed",  # #1: the lifespan
                  "#5 GET /big: the body's size changed"):  # a byte more, past the cap
        assert title in failed.stdout


def test_captured_text_stays_data_in_the_module(tmp_path: Path) -> None:
    """A path, header and body with quotes, backslashes and control characters: the module
    still compiles, holds no raw control character, and names the exchange escaped."""
    (exchange,) = [e for e in read(record(tmp_path / "t.jsonl")).exchanges
                   if e.path == "/health"]
    hostile = '/x"""\\\x1b[2J\u202e'
    scope = {**exchange.scope, "path": hostile, "raw_path": hostile.encode(),
             "headers": [*exchange.scope["headers"], [b"x-evil", b'"""\\\x07']]}
    generated = generate([msgspec.structs.replace(exchange, scope=scope)],
                         app="tests.recorded_api:app", source='t"""\x1b.jsonl')
    compile(generated.source, "test_x.py", "exec")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", generated.source)
    assert '"""#2 GET /x\\"\\"\\"\\\\%1B[2J%E2%80%AE"""' in generated.source  # the target
    assert "('x-evil', '\"\"\"\\\\\\x07')" in generated.source
    assert '"""Tests generated by asgi-inspect from t\\"\\"\\"\\\\x1b.jsonl' in generated.source


def test_secrets_and_left_out_exchanges_are_named(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The recorded credentials the module sends are named on stderr, and so is each exchange
    it leaves out; the module is owner-only."""
    exchanges = read(record(tmp_path / "t.jsonl")).exchanges
    health = next(e for e in exchanges if e.path == "/health")
    scope = {**health.scope, "headers": [*health.scope["headers"], [b"authorization", b"x"]]}
    unanswered = msgspec.structs.replace(health, id="50", events=[])
    trace = tmp_path / "secret.jsonl"
    codec.write(codec.new_trace([msgspec.structs.replace(health, scope=scope), unanswered]),
                trace, jsonl=True)
    module = tmp_path / "test_secret.py"
    assert main(["gen-test", str(trace), "--app", "tests.recorded_api:app", "-o",
                 str(module)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "asgi-inspect: warning: #50 GET /health left out: no response was recorded",
        f"asgi-inspect: warning: {module} holds recorded authorization headers: review it "
        "before committing it"]
    assert (module.stat().st_mode & 0o777) == 0o600
