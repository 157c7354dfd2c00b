"""``asgi-inspect mcp`` and what the app did inside its exchanges, through the MCP SDK's own
client over stdio: the list's counts and N+1, get_exchange's calls and queries (bounded and
redacted), the filter language's ~sql ~call ~nq ~nc ~n1 ~ie, HAR export with the calls."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from asgi_inspect.formats import codec
from asgi_inspect.mcp.server import INSIDE_BODY_LIMIT, MAX_INSIDE
from asgi_inspect.model import Exchange, OutboundCall, Query
from tests.recorded_inside import record_inside
from tests.test_mcp_server import call, failure, stdio

SECRET = "s3cret-token"
MS = 1_000_000


def query(statement: str, at_ms: int, **fields: Any) -> Query:
    return Query(library="sqlite3", statement=statement, t_start=at_ms * MS,
                 t_end=at_ms * MS + MS, location="shop/views.py:20", **fields)


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``users``: a list query, then one per user (6: an N+1), and a call to an API with a
    bearer token in its header and a token in its URL, answered with a 3000-byte body;
    ``health``: nothing inside; ``pay``: a call answered with a gzip body holding a token,
    one refused call, and more items than a result lists."""
    async def traffic() -> list[Exchange]:
        users = await record_inside("/users", [
            query("SELECT id FROM users", 1),
            *(query("SELECT * FROM teams WHERE user_id = ?", 2 + n, parameters=[n])
              for n in range(6)),
            OutboundCall(library="httpx", method="GET",
                         url=f"https://api.example/avatars?token={SECRET}", t_start=10 * MS,
                         t_end=12 * MS, status=200,
                         request_headers=[[b"authorization", f"Bearer {SECRET}".encode()]],
                         response_body=b"a" * 3000),
        ])
        health = await record_inside("/health", [])
        pay = await record_inside("/pay", [
            OutboundCall(library="httpx", method="POST", url="http://auth.internal/token",
                         t_start=0, t_end=MS, status=200,
                         response_headers=[[b"content-encoding", b"gzip"]],
                         response_body=gzip.compress(b'{"token": "%s"}' % SECRET.encode())),
            OutboundCall(library="httpx", method="POST", url="http://pay.internal/charge",
                         t_start=MS, t_end=2 * MS, error="ConnectError: refused"),
            *(query(f"select * from t{n}", 3 + n) for n in range(MAX_INSIDE + 5)),
        ])
        return [users, health, pay]

    path = tmp_path_factory.mktemp("mcp-inside") / "trace.jsonl"
    codec.write(codec.new_trace(asyncio.run(traffic())), path, jsonl=True)
    return path


def test_the_tools_see_what_happened_inside(trace: Path) -> None:
    async def session() -> None:
        async with stdio(str(trace)) as client:
            rows = (await call(client, "list_exchanges")).splitlines()
            users = next(row for row in rows if row.startswith("#users "))
            assert "7q 1c" in users and "N+1" in users
            assert "N+1" not in next(row for row in rows if row.startswith("#pay "))

            for text, ids in [("~n1", ["users"]), ("~nq >5", ["users", "pay"]),
                              ("~nq 0", ["health"]), ("~nc 0", ["health"]),
                              ("~sql 'from teams'", ["users"]), ("~call ^POST", ["pay"]),
                              ("~ie", ["pay"]), ("~ie | ~n1", ["users", "pay"])]:
                listed = (await call(client, "list_exchanges", filter=text)).splitlines()
                assert [row.split()[0][1:] for row in listed[1:]] == ids, text
            error = await failure(client, "list_exchanges", filter="~sql (")
            assert "bad regex" in error and "\n" not in error

            shown = json.loads(await call(client, "get_exchange", id="users"))
            facts = shown["inside"]
            assert facts["totals"]["queries"] == 7 and facts["totals"]["calls"] == 1
            (repeat,) = facts["n_plus_one"]
            assert repeat["count"] == 6 and repeat["location"] == "shop/views.py:20"
            assert repeat["statement"] == "select * from teams where user_id = ?"
            first, second, *_, avatar = facts["items"]
            assert first == {"kind": "Query", "at": first["at"], "duration": "1.0ms",
                             "statement": "SELECT id FROM users", "library": "sqlite3",
                             "location": "shop/views.py:20"}
            assert second["parameters"] == "['int']"  # redacted: the types only
            assert avatar["kind"] == "OutboundCall" and avatar["status"] == 200
            body = avatar["response_body"]
            assert len(body["text"]) == INSIDE_BODY_LIMIT
            assert body["more_bytes"] == 3000 - INSIDE_BODY_LIMIT
            assert avatar["request_headers"][0].startswith("authorization: ")
            assert SECRET not in json.dumps(shown)

            pay = json.loads(await call(client, "get_exchange", id="pay"))["inside"]
            assert pay["totals"]["errors"] == 1 and "n_plus_one" not in pay
            token, refused = pay["items"][:2]
            assert token["response_body"]["content_encoding"] == "gzip"  # decoded, redacted
            assert json.loads(token["response_body"]["text"])["token"].startswith("<redacted")
            assert refused["error"] == "ConnectError: refused"
            assert len(pay["items"]) == MAX_INSIDE + 1
            assert pay["items"][-1] == "… 7 more"  # 57 items: two calls and 55 queries
            assert "inside" not in json.loads(await call(client, "get_exchange", id="health"))

            har = json.loads(await call(client, "export_exchanges", filter="~u /users",
                                        with_calls=True))
            made = [e["_asgiInspect"]["madeBy"] for e in har["log"]["entries"]
                    if "_asgiInspect" in e]
            assert made == ["users"] and SECRET not in json.dumps(har)

    asyncio.run(session())
