"""Database queries inside an exchange (issue 13): sqlite3, SQLAlchemy (sync, and async on
aiosqlite and asyncpg), Django's ORM, asyncpg and psycopg (sync and async) against a real
PostgreSQL (tests/postgres.py), each app under ``Inspector(capture_calls=True)`` served by
uvicorn on 127.0.0.1 and asked with httpx."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest
import sqlalchemy
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asgi_inspect import Inspector, MemorySink, read
from asgi_inspect.inside import queries
from asgi_inspect.model import Exchange, Opaque
from asgi_inspect.record.inside.queries import start
from tests import apps
from tests.postgres import postgres_dsn  # noqa: F401  # the fixture
from tests.servers import uvicorn_server

HERE = Path(__file__)
ROOT = HERE.parents[1]


def line(marker: str, path: Path = HERE) -> str:
    """``file:line`` of the line of ``path`` that ends with the comment ``# <- marker``,
    as the recorder names it (relative to the working directory, the repository here)."""
    lines = path.read_text().splitlines()
    (number,) = [n for n, text in enumerate(lines, 1) if text.endswith(f"# <- {marker}")]
    return f"{path.relative_to(ROOT)}:{number}"


@contextlib.contextmanager
def served(app: Any, **options: Any) -> Iterator[tuple[str, dict[str, Exchange]]]:
    """Serve ``app`` recorded with calls on; yields its URL and a dict that holds, once the
    block ended (server stopped), the HTTP exchanges by path."""
    sink = MemorySink()
    inspector = Inspector(app, sink, capture_calls=True, **options)
    by_path: dict[str, Exchange] = {}
    with uvicorn_server(inspector) as url:
        yield url, by_path
    inspector.close()
    by_path.update({x.scope["path"]: x for x in sink.exchanges if x.scope["type"] == "http"})


def get(url: str, *paths: str) -> None:
    for target in paths:
        httpx.get(url + target, timeout=30).raise_for_status()


def summary(exchange: Exchange) -> list[tuple[str, str, Any, int | None, int | None]]:
    """library, statement, parameters, many, rows of each query, in order."""
    return [(q.library, q.statement, q.parameters, q.many, q.rows) for q in queries(exchange)]


def well_timed(exchange: Exchange) -> bool:
    return all(0 < q.t_start <= q.t_end <= exchange.ended_ns  # type: ignore[operator]
               for q in queries(exchange))


# sqlite3 ----------------------------------------------------------------------------------------

def test_sqlite3_in_a_sync_endpoint(tmp_path: Path) -> None:
    import sqlite3

    app = FastAPI()
    database = tmp_path / "shop.db"

    @app.get("/items")
    def items() -> list[Any]:  # a sync endpoint: FastAPI runs it in a thread
        db = sqlite3.connect(database)
        db.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO item (name) VALUES (?)", ((n,) for n in "abc"))  # <- many
        cursor = db.cursor()
        cursor.execute("UPDATE item SET name = upper(name) WHERE id >= ?", (2,))  # <- update
        found = db.execute("SELECT * FROM item WHERE name = :name", {"name": "B"}).fetchall()
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("SELECT missing FROM item")  # <- error
        db.close()
        return found

    with served(app) as (url, by_path):
        assert httpx.get(url + "/items", timeout=30).json() == [[2, "B"]]
    exchange = by_path["/items"]
    assert summary(exchange) == [
        ("sqlite3", "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)", None, None, None),
        ("sqlite3", "INSERT INTO item (name) VALUES (?)", [["a"], ["b"], ["c"]], 3, 3),
        ("sqlite3", "UPDATE item SET name = upper(name) WHERE id >= ?", [2], None, 2),
        ("sqlite3", "SELECT * FROM item WHERE name = :name", {"name": "B"}, None, None),
        ("sqlite3", "SELECT missing FROM item", None, None, None)]
    many, update, _, error = queries(exchange)[1:]
    assert (many.location, update.location, error.location) == (
        line("many"), line("update"), line("error"))
    assert error.error == "OperationalError: no such column: missing"
    assert {q.database for q in queries(exchange)} == {"sqlite"}
    assert well_timed(exchange)


def test_redacted_parameters_are_their_types(tmp_path: Path) -> None:
    import sqlite3

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            db = sqlite3.connect(tmp_path / "users.db")
            db.execute("CREATE TABLE user (id INTEGER, email TEXT, born REAL)")
            db.execute("INSERT INTO user VALUES (?, ?, ?)", (7, "ann@example.com", 1.5))
            db.executemany("UPDATE user SET born = 2 WHERE id = :id", [{"id": 7}, {"id": 8}])
            db.close()
            await PlainTextResponse("ok")(scope, receive, send)

    with served(app, redact=True) as (url, by_path):
        get(url, "/")
    assert [q.parameters for q in queries(by_path["/"])] == [
        None, ["int", "str", "float"], [{"id": "int"}, {"id": "int"}]]
    assert "ann@example.com" not in str(by_path["/"].inside)


async def test_sqlite3_factories_of_the_apps_own_still_run_first(tmp_path: Path) -> None:
    import sqlite3

    ran: list[str] = []

    class Audited(sqlite3.Connection):
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            ran.append(f"connection: {sql}")
            return super().execute(sql, parameters)

    class Counting(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            ran.append(f"cursor: {sql}")
            return super().execute(sql, parameters)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        db = sqlite3.connect(tmp_path / "own.db", factory=Audited)
        db.execute("SELECT 1")
        db.cursor(Counting).execute("SELECT 2")
        assert isinstance(db, Audited)
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True)
    assert ran == ["connection: SELECT 1", "cursor: SELECT 2"]
    assert [q.statement for q in queries(exchange)] == ["SELECT 1", "SELECT 2"]


async def test_executemany_sets_are_copied_as_the_driver_reads_them() -> None:
    import sqlite3

    def reused() -> Iterator[list[int]]:  # one list, refilled for each set
        row = [0]
        for n in (1, 2, 3):
            row[0] = n
            yield row

    async def app(scope: Any, receive: Any, send: Any) -> None:
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (n INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", reused())
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True)
    insert = queries(exchange)[1]
    assert (insert.parameters, insert.many, insert.rows) == ([[1], [2], [3]], 3, 3)


async def test_queries_past_the_cap_are_counted_in_a_note() -> None:
    import sqlite3

    async def app(scope: Any, receive: Any, send: Any) -> None:
        db = sqlite3.connect(":memory:")
        for n in range(5):
            db.execute("SELECT ?", (n,))
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True, max_events=3)
    assert [q.parameters for q in queries(exchange)] == [[0], [1], [2]]
    assert any(note.startswith("2 more calls or queries not kept") for note in exchange.notes)


async def test_statements_past_the_cap_under_sqlalchemy_are_counted_once() -> None:
    from asgi_inspect.record import inside

    inside.install()  # as under run: hooked before the app connects (sqlite3's hook under it)
    engine = sqlalchemy.create_engine("sqlite://")
    engine.connect().close()  # the dialect's first-connect statements, outside the exchange

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with engine.connect() as connection:
            for n in range(5):
                connection.execute(sqlalchemy.text("SELECT :n"), {"n": n})
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True, max_events=3)
    assert [q.parameters for q in queries(exchange)] == [[0], [1], [2]]
    assert [note for note in exchange.notes if "not kept" in note] == [
        "2 more calls or queries not kept: the recorder keeps at most max_events of them "
        "per exchange"]  # not counted again by the sqlite3 hook under SQLAlchemy


_SCALAR = (st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80)
           | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20))
_PARAMETERS = (st.lists(_SCALAR | st.lists(_SCALAR, max_size=3), max_size=4)
               | st.dictionaries(st.text(max_size=5), _SCALAR, max_size=4))


def _kept(value: Any) -> Any:
    """What the recording should hold of a parameter value: itself, or an integer too large
    for MessagePack described by its repr."""
    if isinstance(value, list):
        return [_kept(item) for item in value]
    if isinstance(value, dict):
        return {key: _kept(item) for key, item in value.items()}
    if type(value) is int and not -2**63 <= value < 2**64:
        return Opaque(type="int", repr=repr(value))
    return value


@settings(max_examples=60, deadline=None)
@given(parameters=_PARAMETERS)
def test_any_parameters_are_recorded_as_sent(parameters: Any) -> None:
    """Whatever values a statement is sent with, the recording keeps them (the statement
    here is not run: the point is what the recorder makes of its parameters)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        running = start("sqlite3", "sqlite", "SELECT ?", parameters)
        assert running is not None
        running.done(rows=0)
        await apps.respond(send, b"ok")

    _, exchange = asyncio.run(apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                          capture_calls=True))
    (query,) = queries(exchange)
    assert query.parameters == (_kept(parameters) or None)


async def test_values_longer_than_max_body_are_described_by_their_size(tmp_path: Path
                                                                       ) -> None:
    import sqlite3

    async def app(scope: Any, receive: Any, send: Any) -> None:
        db = sqlite3.connect(tmp_path / "blobs.db")
        db.execute("CREATE TABLE blob (data BLOB, note TEXT)")
        db.execute("INSERT INTO blob VALUES (?, ?)", (b"x" * 100, "short"))
        await apps.respond(send, b"ok")

    _, exchange = await apps.record(app, apps.http_scope(), [{"type": "http.request"}],
                                    capture_calls=True, max_body=16)
    assert queries(exchange)[1].parameters == [
        Opaque(type="bytes", repr="100 bytes, more than max_body"), "short"]


def test_nothing_is_recorded_outside_an_exchange_or_without_capture_calls(
        tmp_path: Path) -> None:
    import sqlite3

    Inspector(PlainTextResponse("hooks on"), MemorySink(), capture_calls=True).close()
    outside = sqlite3.connect(tmp_path / "quiet.db", check_same_thread=False)
    outside.execute("CREATE TABLE t (x)")  # no exchange: nothing to record, nothing fails

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            outside.execute("INSERT INTO t VALUES (1)")
            await PlainTextResponse("ok")(scope, receive, send)

    sink = MemorySink()
    inspector = Inspector(app, sink)  # records exchanges, not what they do inside
    with uvicorn_server(inspector) as url:
        get(url, "/")
    inspector.close()
    (exchange,) = [x for x in sink.exchanges if x.scope["type"] == "http"]
    assert exchange.inside == []
    assert outside.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_failing_hook_never_fails_the_query(tmp_path: Path) -> None:
    import sqlite3

    class Parameters(dict[str, Any]):
        def items(self) -> Any:  # what sqlite3 never calls and the recorder does
            raise RuntimeError("not today")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            db = sqlite3.connect(tmp_path / "odd.db")
            (value,) = db.execute("SELECT :x", Parameters(x=41)).fetchone()
            db.execute("SELECT 1")
            await PlainTextResponse(str(value + 1))(scope, receive, send)

    with served(app) as (url, by_path):
        assert httpx.get(url + "/", timeout=30).text == "42"
    assert summary(by_path["/"]) == [("sqlite3", "SELECT 1", None, None, None)]


def test_concurrent_requests_never_mix_their_queries(tmp_path: Path) -> None:
    import sqlite3

    app = FastAPI()
    both_inside = threading.Barrier(2, timeout=30)

    @app.get("/user/{user}")
    def user(user: int) -> str:  # two threads at once, each half done when the other is
        db = sqlite3.connect(":memory:")
        db.execute("SELECT ?", (user,))
        both_inside.wait()
        db.execute("SELECT ? + 1000", (user,))
        return "ok"

    with served(app) as (url, by_path):
        threads = [threading.Thread(target=get, args=(url, f"/user/{n}")) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for n in (1, 2):
        assert [q.parameters for q in queries(by_path[f"/user/{n}"])] == [[n], [n]]


# SQLAlchemy -------------------------------------------------------------------------------------

def test_sqlalchemy_sync_records_each_statement_once(tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    with engine.begin() as connection:  # outside any exchange: the dialect's first queries too
        connection.execute(sqlalchemy.text("CREATE TABLE orders (id INTEGER PRIMARY KEY, "
                                           "total INTEGER)"))
    seen_by_the_app: list[str] = []  # the app's own listener on the event we listen to
    sqlalchemy.event.listen(engine, "do_execute",
                            lambda cursor, statement, *_: seen_by_the_app.append(statement))
    app = FastAPI()

    @app.get("/orders")
    def orders() -> int:
        with engine.begin() as connection:
            insert = sqlalchemy.text("INSERT INTO orders (total) VALUES (:total)")
            connection.execute(insert, [{"total": 5}, {"total": 7}])  # <- sa many
            select = sqlalchemy.text("SELECT * FROM orders WHERE total > :least")
            rows = connection.execute(select, {"least": 6}).all()  # <- sa select
            deleted = connection.execute(sqlalchemy.text("DELETE FROM orders"))
            with contextlib.suppress(sqlalchemy.exc.OperationalError):
                connection.execute(sqlalchemy.text("SELECT missing FROM orders"))
            return len(rows) + deleted.rowcount

    with served(app) as (url, by_path):
        assert httpx.get(url + "/orders", timeout=30).json() == 3
    exchange = by_path["/orders"]
    assert summary(exchange) == [
        ("sqlalchemy", "INSERT INTO orders (total) VALUES (?)", [[5], [7]], 2, 2),
        ("sqlalchemy", "SELECT * FROM orders WHERE total > ?", [6], None, None),
        ("sqlalchemy", "DELETE FROM orders", None, None, 2),
        ("sqlalchemy", "SELECT missing FROM orders", None, None, None)]
    assert [q.location for q in queries(exchange)[:2]] == [line("sa many"), line("sa select")]
    assert queries(exchange)[-1].error == "OperationalError: no such column: missing"
    assert seen_by_the_app == ["SELECT * FROM orders WHERE total > ?", "DELETE FROM orders",
                               "SELECT missing FROM orders"]
    assert {q.database for q in queries(exchange)} == {"sqlite"}
    assert well_timed(exchange)


async def test_sqlalchemy_async_on_aiosqlite(tmp_path: Path) -> None:
    pytest.importorskip("greenlet", reason="SQLAlchemy's asyncio extension needs greenlet")
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    async with engine.begin() as connection:
        await connection.execute(sqlalchemy.text("CREATE TABLE note (body TEXT)"))
    await engine.dispose()  # its connections belong to this loop: the server's makes its own

    async def notes(request: Request) -> PlainTextResponse:
        async with engine.begin() as connection:
            insert = sqlalchemy.text("INSERT INTO note VALUES (:body)")
            await connection.execute(insert, dict(request.query_params))  # <- async insert
            result = await connection.execute(sqlalchemy.text("SELECT body FROM note"))
            bodies = result.scalars().all()
        return PlainTextResponse(",".join(bodies))

    app = Starlette(routes=[Route("/notes", notes)])
    with served(app) as (url, by_path):
        assert httpx.get(url + "/notes?body=hi", timeout=30).text == "hi"
    exchange = by_path["/notes"]
    assert summary(exchange) == [
        ("sqlalchemy", "INSERT INTO note VALUES (?)", ["hi"], None, 1),
        ("sqlalchemy", "SELECT body FROM note", None, None, None)]
    assert queries(exchange)[0].location == line("async insert")
    assert well_timed(exchange)


# Django -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("redact", [False, True], ids=["plain", "redacted"])
def test_django_orm_on_sqlite(tmp_path: Path, redact: bool) -> None:
    trace = tmp_path / "django.jsonl"
    done = subprocess.run([sys.executable, "-m", "tests.sql_django", str(trace),
                           *(["--redact"] if redact else [])], cwd=ROOT, capture_output=True,
                          text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    by_path = {x.scope["path"]: x for x in read(trace).exchanges}
    app = ROOT / "tests" / "sql_django.py"
    ours = {path: [q for q in queries(x) if q.library == "django"]
            for path, x in by_path.items()}
    # Django connects per request (CONN_MAX_AGE 0): its connection's set-up statements are
    # sqlite3's own, run outside Django's wrappers; every other statement is Django's, once.
    for exchange in by_path.values():
        driver = [q.statement for q in queries(exchange) if q.library == "sqlite3"]
        assert all("PRAGMA" in s or "compileoption" in s for s in driver), driver
    insert, one, listed = ours["/books"][-3:]
    assert insert.statement.startswith('INSERT INTO "shelf_book" ("title") VALUES (%s), (%s)')
    assert insert.parameters == (["str", "str"] if redact else ["Dune", "Emma"])
    assert one.parameters == (["str"] if redact else ["Ulysses"])
    assert listed.statement.startswith('SELECT "shelf_book"."id", "shelf_book"."title" FROM')
    (get_one,) = ours["/title/2"]
    assert get_one.parameters == (["int"] if redact else [2])
    assert get_one.location == line("get", app)  # a sync view, run in Django's thread
    (broken,) = ours["/broken"]
    assert broken.error is not None and broken.error.startswith("OperationalError: ")
    assert broken.location == line("broken", app)
    assert {q.database for x in by_path.values() for q in queries(x)} == {"sqlite"}


# PostgreSQL: asyncpg, psycopg, and SQLAlchemy over both ---------------------------------------

def test_asyncpg_connection_pool_and_prepared_statements(postgres_dsn: str) -> None:  # noqa: F811
    pools: list[asyncpg.Pool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pools.append(await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2))
        async with pools[0].acquire() as connection:
            await connection.execute("DROP TABLE IF EXISTS city; "
                                     "CREATE TABLE city (name text, people int)")
        yield
        await pools[0].close()

    async def cities(request: Request) -> PlainTextResponse:
        pool = pools[0]
        cities = [("Oslo", 700), ("Lima", 10_000)]
        await pool.executemany("INSERT INTO city VALUES ($1, $2)", cities)  # <- pg many
        status = await pool.execute("UPDATE city SET people = people + $1", 1)
        async with pool.acquire() as connection:
            rows = await connection.fetch("SELECT * FROM city WHERE people > $1", 800)  # <- pg
            statement = await connection.prepare("SELECT name FROM city WHERE name = $1")
            name = await statement.fetchval("Oslo")
            with contextlib.suppress(asyncpg.UndefinedColumnError):
                await connection.fetchrow("SELECT nothing FROM city")  # <- pg error
        return PlainTextResponse(f"{status} {len(rows)} {name}")

    app = Starlette(routes=[Route("/cities", cities)], lifespan=lifespan)
    with served(app) as (url, by_path):
        assert httpx.get(url + "/cities", timeout=30).text == "UPDATE 2 1 Oslo"
    exchange = by_path["/cities"]
    recorded = [q for q in summary(exchange) if not q[1].startswith(("SELECT pg_advisory",
                                                                     "RESET", "CLOSE", "UNLISTEN"))]
    assert recorded == [
        ("asyncpg", "INSERT INTO city VALUES ($1, $2)", [["Oslo", 700], ["Lima", 10_000]], 2,
         None),
        ("asyncpg", "UPDATE city SET people = people + $1", [1], None, 2),
        ("asyncpg", "SELECT * FROM city WHERE people > $1", [800], None, 1),
        ("asyncpg", "SELECT name FROM city WHERE name = $1", ["Oslo"], None, None),
        ("asyncpg", "SELECT nothing FROM city", None, None, None)]
    by_statement = {q.statement: q for q in queries(exchange)}
    assert by_statement["INSERT INTO city VALUES ($1, $2)"].location == line("pg many")
    assert by_statement["SELECT * FROM city WHERE people > $1"].location == line("pg")
    failed = by_statement["SELECT nothing FROM city"]
    assert failed.location == line("pg error")
    assert failed.error == 'UndefinedColumnError: column "nothing" does not exist'
    assert {q.database for q in queries(exchange)} == {"postgresql"}
    assert well_timed(exchange)


def test_psycopg_sync_and_async(postgres_dsn: str) -> None:  # noqa: F811
    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("DROP TABLE IF EXISTS fruit; CREATE TABLE fruit (name text)")
    app = FastAPI()

    @app.get("/sync")
    def sync() -> int:
        with psycopg.connect(postgres_dsn) as connection, connection.cursor() as cursor:
            cursor.executemany("INSERT INTO fruit VALUES (%s)", [("fig",), ("kiwi",)])
            cursor.execute("SELECT * FROM fruit WHERE name <> %(not)s", {"not": "x"})  # <- sync
            return len(cursor.fetchall())

    @app.get("/async")
    async def in_async() -> int:
        async with await psycopg.AsyncConnection.connect(postgres_dsn) as connection:
            delete = "DELETE FROM fruit WHERE name = %s"
            cursor = await connection.execute(delete, ["fig"])  # <- async
            with contextlib.suppress(psycopg.errors.DivisionByZero):
                await connection.execute("SELECT 1 / 0")
            return cursor.rowcount

    with served(app) as (url, by_path):
        get(url, "/sync")
        assert httpx.get(url + "/async", timeout=30).json() == 1
    assert summary(by_path["/sync"]) == [
        ("psycopg", "INSERT INTO fruit VALUES (%s)", [["fig"], ["kiwi"]], 2, 2),
        ("psycopg", "SELECT * FROM fruit WHERE name <> %(not)s", {"not": "x"}, None, 2)]
    assert summary(by_path["/async"]) == [
        ("psycopg", "DELETE FROM fruit WHERE name = %s", ["fig"], None, 1),
        ("psycopg", "SELECT 1 / 0", None, None, None)]
    assert queries(by_path["/sync"])[1].location == line("sync")
    delete, failed = queries(by_path["/async"])
    assert delete.location == line("async")
    assert failed.error == "DivisionByZero: division by zero"


def test_sqlalchemy_over_asyncpg_and_psycopg_records_once(postgres_dsn: str  # noqa: F811
                                                          ) -> None:
    pytest.importorskip("greenlet", reason="SQLAlchemy's asyncio extension needs greenlet")
    dsn = postgres_dsn.removeprefix("postgresql://")
    sync_engine = sqlalchemy.create_engine(f"postgresql+psycopg://{dsn}")
    async_engine = create_async_engine(f"postgresql+asyncpg://{dsn}")
    select = sqlalchemy.text("SELECT :n + 1")
    app = FastAPI()

    @app.get("/sync")
    def in_sync() -> int:
        with sync_engine.connect() as connection:
            return int(connection.execute(select, {"n": 1}).scalar_one())

    @app.get("/async")
    async def in_async() -> int:
        async with async_engine.connect() as connection:
            return int((await connection.execute(select, {"n": 2})).scalar_one())

    with sync_engine.connect():  # the dialects' first statements, outside any exchange
        pass
    with served(app) as (url, by_path):
        get(url, "/async", "/async", "/sync")  # async: its first connection, then a second
    sync_engine.dispose()
    for path, statement, parameters in (("/sync", "SELECT %(n)s + 1", {"n": 1}),
                                        ("/async", "SELECT $1 + 1", [2])):
        recorded = summary(by_path[path])
        # The select is SQLAlchemy's, once: the driver under it stays quiet
        assert [q for q in recorded if "+ 1" in q[1]] == [
            ("sqlalchemy", statement, parameters, None, 1)], recorded
        assert {q.database for q in queries(by_path[path])} == {"postgresql"}

