"""The GraphQL lens on a real Strawberry app under the recorder, driven by the gql client
over HTTP (POST, batched) and WebSocket (graphql-transport-ws and graphql-ws), and by httpx
for GET and ``application/graphql`` bodies."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import strawberry
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.asgi import GraphQL
from strawberry.schema.config import StrawberryConfig

from asgi_inspect import Inspector, MemorySink, lenses
from asgi_inspect.filters import compile_filter
from asgi_inspect.lenses import Block, Table
from asgi_inspect.lenses.graphql import GraphQLLens, operation_of, operations, pretty
from asgi_inspect.model import Event, Exchange
from tests.servers import uvicorn_server
from tests.test_transparency import wait_until

ITEMS = {"1": "apple", "2": "pear"}


@strawberry.type
class Item:
    id: strawberry.ID
    name: str


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(id=strawberry.ID(k), name=v) for k, v in ITEMS.items()]

    @strawberry.field
    def item(self, id: strawberry.ID) -> Item | None:
        if id not in ITEMS:
            raise ValueError("Item not found")
        return Item(id=id, name=ITEMS[id])


@strawberry.type
class Mutation:
    @strawberry.mutation
    def add_item(self, name: str) -> Item:
        if not name:
            raise ValueError("A name is required")
        return Item(id=strawberry.ID("3"), name=name)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def on_message(self, count: int) -> AsyncGenerator[str, None]:
        for number in range(count):
            yield f"message {number}"


SCHEMA = strawberry.Schema(Query, Mutation, Subscription,
                           config=StrawberryConfig(batching_config={"max_operations": 5}))


@dataclass
class Server:
    url: str
    sink: MemorySink

    def exchange(self, path: str, count: int = 1) -> list[Exchange]:
        """The ``count`` ended exchanges whose path starts with ``path``, once recorded."""
        found: list[Exchange] = []

        def ended() -> bool:
            found[:] = [x for x in self.sink.exchanges if x.path.startswith(path)]
            return len(found) >= count and all(x.ended_ns is not None for x in found)

        wait_until(ended)
        return found


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    sink = MemorySink()
    inspector = Inspector(GraphQL(SCHEMA), sink)
    with uvicorn_server(inspector) as url:
        yield Server(url, sink)
    inspector.close()


async def over_http(url: str, *requests: GraphQLRequest) -> None:
    async with Client(transport=HTTPXAsyncTransport(url)) as session:
        for request in requests:
            with contextlib.suppress(TransportQueryError):  # the lens must see the errors
                await session.execute(request)


def test_http_operations_and_errors(server: Server) -> None:
    url = f"{server.url}/graphql/http"
    get_items = gql("query GetItems { items { id name } }")
    add_item = gql("mutation AddItem($name: String!) { addItem(name: $name) { id } }")
    add_item.variable_values = {"name": ""}
    missing = gql("""
        # two operations in one document: operationName picks
        query First { items { id } }
        query Missing { a: item(id: "9") { name } b: item(id: "8") { name } }""")
    missing.operation_name = "Missing"
    asyncio.run(over_http(url, get_items, add_item, missing))
    first, added, failed = server.exchange("/graphql/http", 3)
    assert lenses.operation(first) == "query GetItems"
    assert lenses.error(first) == ""
    assert lenses.operation(added) == "mutation AddItem"
    assert lenses.error(added) == "1 GraphQL error: A name is required"
    assert lenses.operation(failed) == "query Missing"
    assert lenses.error(failed) == "2 GraphQL errors: Item not found; Item not found"
    assert compile_filter("~op AddItem")(added) and not compile_filter("~op AddItem")(first)
    assert compile_filter("~gql & ~e")(failed) and not compile_filter("~e")(first)

    (query, variables, errors, data) = lenses.sections(added)[0][1]  # errors before data
    assert query == Block("mutation AddItem", "mutation AddItem($name: String!) {\n"
                          "  addItem(name: $name) {\n    id\n  }\n}", "graphql")
    assert variables == Block("variables", '{\n  "name": ""\n}', "json")
    assert data.title == "response data" and errors.title == "response errors"
    assert "A name is required" in errors.text


def test_get_graphql_body_and_batch(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        one = "query One($id: ID!) { item(id: $id) { name } }"
        client.get("/graphql/get", params={"query": one, "variables": '{"id": "1"}'})
        client.post("/graphql/doc", content=b"{ items { name } }",
                    headers={"content-type": "application/graphql"})
        client.post("/graphql/batch", json=[
            {"query": "query A { items { id } }"},
            {"query": "mutation B { addItem(name: \"x\") { id } }"}])
        client.post("/graphql/other", json={"not": "graphql"})
    (get,) = server.exchange("/graphql/get")
    assert lenses.operation(get) == "query One"
    assert [s.title for s in lenses.sections(get)[0][1]] == ["query One", "variables",
                                                             "response data"]
    (doc,) = server.exchange("/graphql/doc")  # Strawberry refuses it unread: no body kept
    assert compile_filter("~gql")(doc) and lenses.operation(doc) == ""
    as_read = crafted("POST", "application/graphql", b"{ items { name } }", b"", b"", False)
    assert lenses.operation(as_read) == "query"
    (batch,) = server.exchange("/graphql/batch")
    assert lenses.operation(batch) == "query A, mutation B"
    (other,) = server.exchange("/graphql/other")
    assert not compile_filter("~gql")(other) and lenses.operation(other) == ""


async def subscribe(url: str, subprotocol: str) -> list[str]:
    transport = WebsocketsTransport(url=url, subprotocols=[subprotocol])
    async with Client(transport=transport) as session:
        request = gql("subscription OnMessage($n: Int!) { onMessage(count: $n) }")
        request.variable_values = {"n": 2}
        return [result["onMessage"] async for result in session.subscribe(request)]


def labels(exchange: Exchange) -> list[str]:
    return [label for event in exchange.events
            if (label := lenses.frame_label(exchange, event)) is not None]


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws"])
def test_websocket_subscription(server: Server, subprotocol: str) -> None:
    got = asyncio.run(subscribe(server.url.replace("http", "ws") + f"/graphql/{subprotocol}",
                                subprotocol))
    assert got == ["message 0", "message 1"]
    (session,) = server.exchange(f"/graphql/{subprotocol}")
    assert lenses.operation(session) == "subscription OnMessage"
    assert compile_filter("~gql & ~op OnMessage")(session)
    found = labels(session)
    subscribe_type, next_type, complete = (
        ("subscribe", "next", "complete") if subprotocol == "graphql-transport-ws"
        else ("start", "data", "complete"))
    assert found[0] == "connection_init" and found[1] == "connection_ack"
    assert f"{subscribe_type} #1 OnMessage" in found
    assert found.count(f"{next_type} #1") == 2
    assert f"{complete} #1" in found
    table, query, variables = lenses.sections(session)[0][1]
    assert isinstance(table, Table) and len(table.rows) == len(found)
    assert query == Block("subscription OnMessage #1",
                          "subscription OnMessage($n: Int!) {\n  onMessage(count: $n)\n}",
                          "graphql")
    assert json.loads(variables.text) == {"n": 2}


# the tokenizer and pretty-printer on their own -----------------------------------------------

def test_operations_skip_fragments_comments_and_strings() -> None:
    document = '''
        # query Commented { a }
        fragment F on Item { id }
        """a description with query Fake { b }"""
        mutation Save($input: In = {name: "query X {"}) @dir { save(input: $input) { ...F } }
        subscription { s }'''
    assert operations(document) == [("mutation", "Save"), ("subscription", "")]
    assert operation_of(document, "nope") == "mutation Save"
    assert operation_of("{ a }") == "query"
    assert operation_of("not graphql at all") == ""


def test_pretty_lays_out_and_falls_back() -> None:
    assert pretty('query Q($a: [ID!]! = ["x"]) { a(b: {c: 1}, d: $a) { ...on T { e }, ...F } }') \
        == ('query Q($a: [ID!]! = ["x"]) {\n  a(b: { c: 1 }, d: $a) {\n    ... on T {\n'
            '      e\n    }\n    ...F\n  }\n}')
    for broken in ("{ a { b }", "{ a } }", "query Q(a: 1 { b }"):
        assert pretty(broken) == broken


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet='{}()[]"#\n ,.:$@!=queryfragmnt on\\', max_size=80) | st.text(max_size=80))
def test_any_text_is_tokenized_and_printed(document: str) -> None:
    assert isinstance(operations(document), list)
    assert isinstance(pretty(document), str)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(["query", "errors", "type", "id",
                                                          "payload", "operationName",
                                                          "variables", "message"]),
                                         inner, max_size=4), max_leaves=12)


def crafted(method: str, kind: str, request: bytes, response: bytes, query: bytes,
            websocket: bool) -> Exchange:
    """An exchange as a crafted trace file could hold it."""
    headers = [[b"content-type", kind.encode()]]
    if websocket:
        return Exchange(id="w", type="websocket", started_at=0.0, outcome="completed",
                        scope={"type": "websocket", "path": "/", "headers": headers,
                               "subprotocols": ["graphql-transport-ws"]},
                        events=[Event(direction="receive", type="websocket.receive", t_call=1,
                                      message={"type": "websocket.receive",
                                               "text": request.decode("latin-1")}),
                                Event(direction="send", type="websocket.send", t_call=2,
                                      message={"type": "websocket.send", "bytes": response})])
    return Exchange(id="h", type="http", started_at=0.0, outcome="completed",
                    scope={"type": "http", "method": method, "path": "/graphql",
                           "query_string": query, "headers": headers},
                    events=[Event(direction="receive", type="http.request", t_call=1,
                                  message={"type": "http.request", "body": request}),
                            Event(direction="send", type="http.response.body", t_call=2,
                                  message={"type": "http.response.body", "body": response})])


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(["GET", "POST"]),
       kind=st.sampled_from(["application/json", "application/graphql", "text/plain"]),
       request=JSONISH.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=60),
       response=JSONISH.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=60),
       query=st.binary(max_size=40).map(lambda b: b"query=" + b), websocket=st.booleans())
def test_any_exchange_is_read_without_raising(method: str, kind: str, request: bytes,
                                              response: bytes, query: bytes,
                                              websocket: bool) -> None:
    exchange = crafted(method, kind, request, response, query, websocket)
    lens = GraphQLLens()
    reading = lens.read(exchange)
    if reading is not None:
        assert isinstance(lens.sections(exchange), list)
    for event in exchange.events:
        label = lens.frame(exchange, event)
        assert label is None or isinstance(label, str)
