"""``asgi-inspect gen-test`` and outbound calls: a test whose recorded request made calls names
them in comments (captured URLs made safe for Python source, secrets redacted, bounded), the
CLI says how many tests make calls, and the module still passes against the app."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange, OutboundCall
from asgi_inspect.ops.gen_test import CALLS_NAMED, generate
from tests.recorded_inside import record_inside
from tests.test_gen_test import _pytest

SECRET = "s3cr3t-value"
HOSTILE = 'http://evil/"""\nimport os; os.system("x")\x1b[2J'


def outbound(url: str, **fields: object) -> OutboundCall:
    return OutboundCall(library="httpx", method="GET", url=url, t_start=0, t_end=1,
                        **fields)  # type: ignore[arg-type]


def recorded() -> list[Exchange]:
    """``/users`` made two calls (one refused, one with a token in its query); ``/many``
    made more than a comment names; ``/quiet`` none."""
    async def traffic() -> list[Exchange]:
        return [
            await record_inside("/users", [
                outbound(f"https://api.example/avatars?id=1&token={SECRET}", status=200),
                outbound("http://stock.internal/levels", error="ConnectError: refused"),
            ]),
            await record_inside("/many", [outbound(f"{HOSTILE}/{n}", status=204)
                                          for n in range(CALLS_NAMED + 2)]),
            await record_inside("/quiet", []),
        ]
    return asyncio.run(traffic())


def test_calls_are_named_in_comments_that_stay_comments() -> None:
    source = generate(recorded(), app="tests.recorded_inside:answer").source
    functions = {node.name: node for node in ast.parse(source).body
                 if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("test_")}
    assert set(functions) == {"test_get_users", "test_get_many", "test_get_quiet"}
    # the hostile URL added no statement: each test is its docstring, a request and a check
    assert all(len(f.body) == 3 for f in functions.values()), source
    users = source[source.index("async def test_get_users"):]
    users = users[:users.index("check(")]
    assert "# Recorded, the app made 2 outbound calls here; this test lets it make them" in users
    assert "--mock-outbound" in users
    assert "#   GET https://api.example/avatars?id=1&token=%3Credacted" in users
    assert "#   GET http://stock.internal/levels → ConnectError: refused" in users
    assert SECRET not in source
    many = source[source.index("async def test_get_many"):]
    many = many[:many.index("check(")]
    assert many.count("#   GET http://evil/") == CALLS_NAMED and "#   … 2 more" in many
    assert "\\x1b" in many and "\x1b" not in source
    quiet = source[source.index("async def test_get_quiet"):]
    assert "# Recorded" not in quiet[:quiet.index("check(")]


def test_the_cli_says_so_and_the_module_passes(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "calls.jsonl"
    codec.write(codec.new_trace(recorded()), trace)
    output = tmp_path / "test_recorded.py"
    assert main(["gen-test", str(trace), "--app", "tests.recorded_inside:answer",
                 "-o", str(output)]) == 0
    captured = capsys.readouterr()
    assert ("2 of the tests let the app make the outbound HTTP calls it made when recorded"
            in captured.err)
    assert "3 tests written" in captured.out
    run = _pytest(output)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
