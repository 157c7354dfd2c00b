"""``asgi-inspect diff A B``: two real recordings of one app, same and changed, JSONL and HAR."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from asgi_inspect import read
from asgi_inspect.cli.main import main
from asgi_inspect.model import Exchange
from asgi_inspect.ops.session_diff import diff_sessions, pair_exchanges
from asgi_inspect.replay.ignore import BodyIgnore
from tests.recorded_traffic import record

VOLATILE = ["--ignore-field", "$.request_id"]  # a fresh uuid in every login answer


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two recordings of the same app, and one after its prices changed."""
    folder = tmp_path_factory.mktemp("sessions")
    return {"a": record(folder / "a.jsonl"), "again": record(folder / "again.jsonl"),
            "changed": record(folder / "changed.jsonl", changed=True)}


def test_the_same_session_twice_is_the_same(traces: dict[str, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["a"]), str(traces["again"]), *VOLATILE]) == 0
    out = capsys.readouterr().out
    assert out.strip() == ("A: 6 exchanges, B: 6; 6 same, 0 changed, 0 missing (only in A), "
                           "0 added (only in B)")


def test_a_volatile_field_not_ignored_is_a_change(traces: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["a"]), str(traces["again"])]) == 1
    out = capsys.readouterr().out
    assert "~ changed  POST /login (#4 → #4)  200 → 200  differs: body" in out
    assert "body: ~ $.request_id:" in out


def test_a_changed_answer_is_reported_with_the_replay_diff(
        traces: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["a"]), str(traces["changed"]), *VOLATILE]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "~ changed  GET /api/items (#3 → #3)  200 → 200  differs: body",
        "        body: ~ $[0].price: 3 → 30",
        "~ changed  POST /api/items (#5 → #5)  201 → 201  differs: body",
        "        body: ~ $.price: 5 → 50",
        "~ changed  GET /api/items/2 (#6 → #6)  200 → 200  differs: body",
        "        body: ~ $.price: 5 → 50",
        "A: 6 exchanges, B: 6; 3 same, 3 changed, 0 missing (only in A), 0 added (only in B)",
    ]
    assert main(["diff", str(traces["a"]), str(traces["changed"]), *VOLATILE,
                 "--ignore-field", "$..price"]) == 0


def test_har_against_jsonl(traces: dict[str, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    har = tmp_path / "a.har"
    assert main(["export", str(traces["a"]), "--format", "har", "--no-redact", "-o",
                 str(har)]) == 0
    assert main(["diff", str(har), str(traces["again"]), *VOLATILE]) == 0
    assert main(["diff", str(har), str(traces["changed"]), *VOLATILE]) == 1
    assert "3 same, 3 changed" in capsys.readouterr().out


def test_missing_and_added_exchanges(traces: dict[str, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["a"]), str(traces["again"]), *VOLATILE, "--filter",
                 "~m GET"]) == 0
    a = read(traces["a"]).exchanges
    b = [e for e in read(traces["again"]).exchanges if e.path != "/health"]
    b.append(msgspec.structs.replace(b[-1], id="99"))  # a second GET /api/items/99
    result = diff_sessions(a, b, ignore_body=BodyIgnore.parse(["$.request_id"]))
    kinds = [(pair.kind, pair.exchange.path) for pair in result.pairs]
    assert kinds == [("missing", "/health"), ("same", "/api/items"), ("same", "/login"),
                     ("same", "/api/items"), ("same", "/api/items/2"),
                     ("same", "/api/items/99"), ("added", "/api/items/99")]
    assert result.differs


def test_pairings(traces: dict[str, Path]) -> None:
    """method-path pairs the nth same request, path leaves the query out, order pairs by
    position whatever the requests are."""
    a = [e for e in read(traces["a"]).exchanges if e.type == "http"]
    queried = [_with_query(e, b"page=2") if e.path == "/health" else e for e in a]
    by_method_path = pair_exchanges(a, queried, "method-path")
    assert (a[0], None) in by_method_path and (None, queried[0]) in by_method_path
    assert (a[0], queried[0]) in pair_exchanges(a, queried, "path")
    reversed_b = list(reversed(a))
    assert pair_exchanges(a, reversed_b, "order") == list(zip(a, reversed_b, strict=True))
    assert pair_exchanges(a, reversed_b, "method-path") == [(e, e) for e in a]


def _with_query(exchange: Exchange, query: bytes) -> Exchange:
    return msgspec.structs.replace(exchange, scope={**exchange.scope, "query_string": query})


def test_bad_input_is_one_line(traces: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(traces["a"]), str(tmp_path / "nope.jsonl")]) == 2
    assert main(["diff", str(traces["a"]), str(traces["a"]), "--ignore-field", "id"]) == 2
    assert main(["diff", str(traces["a"]), str(traces["a"]), "--filter", "~q ("]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(e.startswith("asgi-inspect: error: ") for e in errors)
    with pytest.raises(SystemExit) as exited:
        main(["diff", str(traces["a"]), str(traces["a"]), "--pair", "size"])
    assert exited.value.code == 2
