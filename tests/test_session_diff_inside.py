"""``asgi-inspect diff A B`` and what the apps did inside: a pair whose query or call count
changed, or that gained an N+1 or a failed call, is a change CI sees (exit 1, JUnit failure);
times alone are not; a session recorded without them compares as before."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange, Inside, OutboundCall, Query
from asgi_inspect.ops.session_diff import diff_sessions, inside_changes
from tests.recorded_inside import record_inside

MS = 1_000_000
TEAMS = "SELECT * FROM teams WHERE user_id = ?"


def queries(count: int, statement: str = TEAMS, ms: int = 1) -> list[Inside]:
    return [Query(library="sqlite3", statement=statement, t_start=n * ms * MS,
                  t_end=(n + 1) * ms * MS, location="shop/views.py:20") for n in range(count)]


def profile_call(**fields: object) -> OutboundCall:
    return OutboundCall(library="httpx", method="GET", url="http://profiles/1", t_start=0,
                        t_end=MS, **fields)  # type: ignore[arg-type]


def session(users: list[Inside], health: list[Inside] | None = None) -> list[Exchange]:
    """One session: ``GET /users`` doing ``users``, ``GET /health`` doing ``health``."""
    async def traffic() -> list[Exchange]:
        return [await record_inside("/users", users),
                await record_inside("/health", health or [])]
    return asyncio.run(traffic())


def write(path: Path, exchanges: list[Exchange]) -> str:
    codec.write(codec.new_trace(exchanges), path)
    return str(path)


BEFORE = [*queries(2), profile_call(status=200)]


def test_more_queries_a_new_n_plus_one_and_a_failed_call_are_changes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.jsonl", session(BEFORE))
    b = write(tmp_path / "b.jsonl", session([*queries(7), profile_call(error="ConnectError"),
                                             profile_call(status=200)]))
    junit = tmp_path / "diff.xml"
    assert main(["diff", a, b, "--junit", str(junit)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "~ changed  GET /users (#users → #users)  200 → 200  differs: queries, calls, "
        "inside errors, N+1",
        "        queries: queries 2 → 7",
        "        calls: calls 1 → 2",
        "        inside errors: inside errors 0 → 1",
        "        N+1: new N+1: 7× select * from teams where user_id = ? (at shop/views.py:20)",
        "A: 2 exchanges, B: 2; 1 same, 1 changed, 0 missing (only in A), 0 added (only in B)",
    ]
    failure = ET.parse(junit).find(".//testcase/failure")
    assert failure is not None and "new N+1" in (failure.text or "")


def test_the_same_counts_slower_is_the_same_with_the_times_said(tmp_path: Path) -> None:
    a, b = session(BEFORE), session([*queries(2, ms=40), profile_call(status=200)])
    (users, _health) = diff_sessions(a, b).pairs
    assert users.kind == "same"
    assert users.diff is not None
    assert [(c.text, c.significant) for c in users.diff.changes if c.section == "queries"] == [
        ("queries time 2.0ms → 80.0ms", False)]


def test_an_n_plus_one_gone_is_said_but_fewer_queries_are_the_change() -> None:
    (users, _) = diff_sessions(session(queries(6)), session(queries(1))).pairs
    assert users.diff is not None
    assert [(c.text, c.significant) for c in users.diff.changes if c.section == "N+1"] == [
        (f"N+1 gone: 6× {TEAMS.lower()}", False)]
    assert users.diff.summary() == "differs: queries"


def test_the_threshold_is_the_callers(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    a, b = session(queries(2)), session(queries(3))
    changes = inside_changes(a[0], b[0], n_plus_one=3)
    assert [c.text for c in changes if c.section == "N+1"] == [
        f"new N+1: 3× {TEAMS.lower()} (at shop/views.py:20)"]
    files = [write(tmp_path / "a.jsonl", a), write(tmp_path / "b.jsonl", b)]
    assert main(["diff", *files, "--n-plus-one", "3"]) == 1
    assert "new N+1: 3×" in capsys.readouterr().out
    assert main(["diff", *files]) == 1  # 2 → 3 queries, no N+1 at the default 5
    assert "N+1" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:  # argparse's own one-line error
        main(["diff", *files, "--n-plus-one", "1"])
    assert refused.value.code == 2 and "1 is too few" in capsys.readouterr().err


def test_a_session_recorded_without_them_compares_as_before(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "old.jsonl", session([]))  # no calls recorded anywhere
    b = write(tmp_path / "new.jsonl", session(BEFORE, queries(1)))
    assert main(["diff", a, b]) == 0
    assert "2 same, 0 changed" in capsys.readouterr().out
