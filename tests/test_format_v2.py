"""Trace format version 2 on disk: what the app did inside an exchange survives JSON and JSONL,
a damaged call, query or span costs only itself when read leniently (named, and noted on its
exchange), strict reading refuses it in one line, and version 1 files still read."""

from __future__ import annotations

import json
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange, Inside, OutboundCall, Query, Span
from asgi_inspect.record import inside
from tests import apps


async def recorded() -> Exchange:
    """One exchange recorded through the hooks' API: a call, two queries and a span."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        tag = inside.current()
        assert tag is not None
        t = perf_counter_ns()
        items: list[Inside] = [
            OutboundCall(library="httpx", method="GET", url="http://up/x", t_start=t,
                         t_end=t + 9, status=200, response_body=b"\xff\x00"),
            Query(library="sqlite3", statement="select 1", t_start=t + 1, t_end=t + 2,
                  parameters=[b"raw", 1.5]),
            Query(library="sqlite3", statement="select 2", t_start=t + 3, t_end=t + 4),
            Span(name="redis GET", t_start=t + 5, t_end=t + 6, attributes={"db": "redis"}),
        ]
        for item in items:
            inside.emit(tag, item)
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope("/items"),
                                    [{"type": "http.request", "body": b""}],
                                    capture_calls=True)
    return exchange


@pytest.fixture
async def exchange() -> Exchange:
    return await recorded()


def jsonl_lines(exchange: Exchange) -> tuple[bytes, dict[str, Any]]:
    """The JSONL header line and the exchange's line as a dict, to damage."""
    header, line = codec.dumps_jsonl(codec.new_trace([exchange])).splitlines(keepends=True)
    return header, json.loads(line)


# Damage a file may hold in one inside item, and the words its reason gives.
DAMAGE = [
    ({"kind": "redis", "name": "GET"}, "Invalid value 'redis'"),
    ({"kind": "sql", "library": "x", "statement": 3, "t_start": 1}, "Expected `str`"),
    ({"kind": "sql", "statement": "select 1", "t_start": 1}, "missing required field"),
    ({"kind": "call", "library": "x", "method": "GET", "url": "u", "t_start": 1,
      "response_body": {"$nope": "x"}}, "unknown tag '$nope'"),
]


@pytest.mark.parametrize(("bad", "reason"), DAMAGE)
def test_a_damaged_item_costs_only_itself_in_jsonl(exchange: Exchange, bad: dict[str, Any],
                                                   reason: str) -> None:
    header, document = jsonl_lines(exchange)
    document["inside"][1] = bad  # the first query
    data = header + json.dumps(document).encode() + b"\n"
    damage: list[str] = []
    (back,) = codec.loads(data, on_damage=damage.append).exchanges
    assert [type(i).__name__ for i in back.inside] == ["OutboundCall", "Query", "Span"]
    assert back.inside[0] == exchange.inside[0] and back.inside[1] == exchange.inside[2]
    assert back.path == "/items" and back.status == 200
    assert back.notes[-1] == "1 damaged call, query or span item skipped when the file was read"
    (said,) = damage
    assert said.startswith(f"line 2: exchange {exchange.id}: inside[1] skipped: ")
    assert reason in said and "\n" not in said

    with pytest.raises(codec.TraceError) as refused:  # strict: the file is refused
        codec.loads(data)
    assert str(refused.value).startswith("line 2: ") and reason in str(refused.value)


@pytest.mark.parametrize(("bad", "reason"), DAMAGE)
def test_a_damaged_item_costs_only_itself_in_a_json_document(
        exchange: Exchange, bad: dict[str, Any], reason: str) -> None:
    document = json.loads(codec.dumps(codec.new_trace([exchange, exchange])))
    document["exchanges"][1]["inside"][3] = bad  # the span of the second one
    damage: list[str] = []
    first, second = codec.loads(json.dumps(document), on_damage=damage.append).exchanges
    assert first.inside == exchange.inside and not first.notes
    assert second.inside == exchange.inside[:3] and second.notes
    (said,) = damage
    assert "exchanges[1]" in said and "inside[3] skipped" in said and reason in said


def test_damage_outside_the_items_still_skips_the_exchange(exchange: Exchange) -> None:
    """Only the items are salvaged: an exchange whose scope is damaged is skipped, named."""
    header, document = jsonl_lines(exchange)
    good = json.dumps(document).encode()
    document["scope"]["path"] = 7
    document["inside"][0] = {"kind": "nope"}
    data = header + json.dumps(document).encode() + b"\n" + good + b"\n"
    damage: list[str] = []
    (kept,) = codec.loads(data, on_damage=damage.append).exchanges
    assert kept.inside == exchange.inside
    (said,) = damage
    assert said.startswith("line 2: ")


def test_version_1_still_reads_and_other_versions_are_refused(exchange: Exchange) -> None:
    header, document = jsonl_lines(exchange)
    old_header = json.loads(header)
    assert old_header["version"] == 2
    old_header["version"] = 1
    del document["inside"]  # what version 1 wrote
    data = f"{json.dumps(old_header)}\n{json.dumps(document)}\n".encode()
    (old,) = codec.loads(data).exchanges
    assert old.inside == [] and old.path == "/items"
    whole = json.loads(codec.dumps(codec.new_trace([old])))
    whole["version"] = 1
    Draft202012Validator(codec.json_schema()).validate(whole)  # v1 is a valid v2 trace

    old_header["version"] = 3
    with pytest.raises(codec.TraceError, match=r"unsupported trace version 3 \(this build "
                                               r"reads 1, 2\)"):
        codec.loads(f"{json.dumps(old_header)}\n{json.dumps(document)}\n".encode())


def test_the_cli_warns_keeps_the_exchange_and_strict_refuses(
        exchange: Exchange, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header, document = jsonl_lines(exchange)
    document["inside"][2] = {"kind": "sql", "library": "x", "statement": None, "t_start": 1}
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(header + json.dumps(document).encode() + b"\n")

    assert main(["export", str(path), "-f", "jsonl"]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()[1:]
    exported = json.loads(line)
    assert [i["kind"] for i in exported["inside"]] == ["call", "sql", "span"]
    assert "inside[2] skipped" in err.splitlines()[0] and "Traceback" not in err

    assert main(["export", str(path), "--strict"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "line 2" in err
