"""The filter language: every operator against a small named corpus, precedence checked against
a reference evaluator on random expressions, error positions, and recorded traffic."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_inspect import Inspector, MemorySink, lenses
from asgi_inspect.filters import OPERATORS, Filter, FilterError, compile_filter
from asgi_inspect.model import (
    Counters,
    Event,
    ExceptionInfo,
    Exchange,
    Opaque,
    OutboundCall,
    OutputLine,
    Query,
    Span,
)

MS = 1_000_000

# corpus ------------------------------------------------------------------------------------


def http(name: str, method: str, path: str, status: int | None, *, query: bytes = b"",
         request_headers: tuple[tuple[bytes, bytes], ...] = (),
         response_headers: tuple[tuple[bytes, bytes], ...] = (), request_body: bytes = b"",
         response_body: bytes = b"", duration_ms: float | None = 1, sent: int | None = None,
         **fields: Any) -> Exchange:
    """An HTTP exchange as the collector builds it; ``sent`` overrides the response bytes."""
    events = [Event(direction="receive", type="http.request", t_call=0, t_return=10,
                    message={"type": "http.request", "body": request_body})]
    ended = None if duration_ms is None else int(duration_ms * MS)
    if status is not None:  # the response finishes when the app returns, if it has
        more = {"more_body": True} if ended is None else {}
        events += [
            Event(direction="send", type="http.response.start", t_call=20, t_return=30,
                  message={"type": "http.response.start", "status": status,
                           "headers": [list(h) for h in response_headers]}),
            Event(direction="send", type="http.response.body", t_call=40,
                  t_return=max(ended or 0, 50),
                  message={"type": "http.response.body", "body": response_body, **more}),
        ]
    scope = {"type": "http", "method": method, "path": path, "query_string": query,
             "headers": [[b"host", b"shop.example.com"], *(list(h) for h in request_headers)],
             "server": ["127.0.0.1", 8000]}
    body_bytes = len(response_body) if sent is None else sent
    fields.setdefault("outcome", "complete" if ended is not None else "streaming")
    return Exchange(id=name, type="http", started_at=0.0, scope=scope, events=events,
                    ended_ns=ended, request=Counters(bytes=len(request_body)),
                    response=Counters(bytes=body_bytes), **fields)


def websocket(name: str) -> Exchange:
    frames = [("receive", "websocket.connect", {}), ("send", "websocket.accept", {}),
              ("receive", "websocket.receive", {"text": "hello from the client"}),
              ("send", "websocket.send", {"bytes": b"\x89PNG\r\n binary frame"}),
              ("send", "websocket.send", {"text": "€ price update"})]
    events = [Event(direction=d, type=t, t_call=i, t_return=i, message={"type": t, **m})
              for i, (d, t, m) in enumerate(frames)]
    scope = {"type": "websocket", "path": "/ws/feed", "query_string": b"",
             "headers": [[b"host", b"shop.example.com"]], "server": ["127.0.0.1", 8000]}
    return Exchange(id=name, type="websocket", started_at=0.0, scope=scope, events=events,
                    outcome="complete", ended_ns=3000 * MS, request=Counters(bytes=21),
                    response=Counters(bytes=40))


JSON = (b"content-type", b"application/json")
# What two exchanges did inside: "list" one query and a refused call; "signup" an N+1 (a list,
# then five lookups of one shape) and a call that got its answer.
LIST_INSIDE = [
    Query(library="sqlite3", statement="SELECT id, name\nFROM items LIMIT 20", t_start=1,
          t_end=2),
    OutboundCall(library="httpx", method="GET", url="http://stock.internal/levels?ids=1,2",
                 t_start=3, t_end=4, error="ConnectError: [Errno 111] Connection refused"),
]
SIGNUP_INSIDE = [
    OutboundCall(library="httpx", method="POST", url="https://mail.example/v1/send",
                 t_start=1, t_end=9, status=202),
    Query(library="sqlalchemy", statement="select * from teams", t_start=10, t_end=11),
    *(Query(library="sqlalchemy", statement=f"SELECT * FROM users WHERE team_id = {n}",
            t_start=12 + n, t_end=13 + n) for n in range(5)),
    Span(name="redis GET", t_start=20, t_end=21),
]
CORPUS = [
    http("list", "GET", "/api/items", 200, query=b"page=2&sort=name", response_headers=(JSON,),
         response_body='{"name": "café"}'.encode(), duration_ms=5, sent=1500,
         inside=LIST_INSIDE),
    http("signup", "POST", "/api/users", 201, request_headers=(JSON,),
         request_body=b'{"user": "ann"}', response_headers=(JSON, (b"X-Trace", b"Abc-123")),
         duration_ms=250, marked=True, comment="slow signup, ticket #12", inside=SIGNUP_INSIDE,
         scope_added={"endpoint": Opaque(type="function", repr="shop.users.sign_up"),
                      "route": Opaque(type="APIRoute", repr="APIRoute(path='/api/users')")},
         output=[OutputLine(t=5, stream="stdout", text="creating ann"),
                 OutputLine(t=9, stream="log", text="WARNING shop: slow mail server")]),
    http("missing", "GET", "/missing", 404, response_headers=((b"content-type", b"text/plain"),),
         response_body=b"not found"),
    http("boom", "GET", "/boom", None, outcome="exception",
         exception=ExceptionInfo(type="ValueError", message="bad")),
    http("upload", "PUT", "/api/files/7", 503, request_body=b"x" * 10, sent=2_000_000,
         duration_ms=2000),
    http("events", "GET", "/sse", 200, duration_ms=None,
         response_headers=((b"content-type", b"text/event-stream"),)),
    http("silent", "DELETE", "/api/items/3", None, outcome="no_response"),
    http("again", "GET", "/api/items", 200, replay_of="list", duration_ms=0.2),
    websocket("ws"),
    Exchange(id="life", type="lifespan", started_at=0.0, scope={"type": "lifespan"},
             outcome="complete", ended_ns=1 * MS),
]
CORPUS[2].events[2].status = "raised"  # a send that raised although the app went on
ALL = {e.id for e in CORPUS}
HTTP = ALL - {"ws", "life"}


def matching(text: str, corpus: list[Exchange] = CORPUS) -> set[str]:
    return {e.id for e in compile_filter(text).select(corpus)}


# every operator ----------------------------------------------------------------------------

OPERATOR_CASES = [
    ("~m post", {"signup"}),
    ("~m ^(GET|PUT)$", {"list", "missing", "boom", "upload", "events", "again"}),
    ("~m WS", {"ws"}),
    ("~u /api/", {"list", "signup", "upload", "silent", "again"}),
    ("~u page=2&sort", {"list"}),
    ("~u items\\?page", {"list"}),
    ("~u ^/api/items$", {"again"}),
    ("~d shop\\.example", ALL - {"life"}),
    ("~c 200", {"list", "events", "again"}),
    ("~c 101", {"ws"}),
    ("~c 5xx", {"upload", "boom"}),  # boom raised: the server answered 500
    ("~c 2XX", {"list", "signup", "events", "again"}),
    ("~c >=400", {"missing", "upload", "boom"}),
    ("~c >404", {"upload", "boom"}),
    ("~c <201", {"list", "events", "again", "ws"}),
    ("~c <=201", {"list", "signup", "events", "again", "ws"}),
    ("~c =404", {"missing"}),
    ("~c 200-299", {"list", "signup", "events", "again"}),
    ("~h x-trace:\\s*abc", {"signup"}),
    ("~h '^host: shop'", ALL - {"life"}),
    ("~hq content-type", {"signup"}),
    ("~hs 'content-type: application/json$'", {"list", "signup"}),
    ("~b café", {"list"}),
    ("~b CAFÉ", {"list"}),
    ("~b ann", {"signup"}),
    ("~b 'hello from'", {"ws"}),
    ("~b '\\x89PNG'", {"ws"}),
    ("~bq ann", {"signup"}),
    ("~bq café", set()),
    ("~bs café", {"list"}),
    ("~bq hello", {"ws"}),
    ("~bs hello", set()),
    ("~bs '€ price'", {"ws"}),
    ("~t json", {"list", "signup"}),
    ("~t ^text/", {"missing", "events"}),
    ("~tq json", {"signup"}),
    ("~ts plain", {"missing"}),
    ("~e", {"boom", "silent", "missing"}),
    ("~q", {"silent", "life"}),
    ("~s", ALL - {"silent", "life"}),
    ("~http", HTTP),
    ("~websocket", {"ws"}),
    ("~ws", {"ws"}),
    ("~lifespan", {"life"}),
    ("~replay", {"again"}),
    ("~marked", {"signup"}),
    ("~all", ALL),
    ("~dur >200ms", {"signup", "upload", "ws"}),
    ("~dur >=250ms", {"signup", "upload", "ws"}),
    ("~dur >250ms", {"upload", "ws"}),
    ("~dur <1ms", {"again"}),  # "events" is open: no duration yet
    ("~dur <=1ms", {"again", "missing", "boom", "silent", "life"}),
    ("~dur 1.5s-2s", {"upload"}),
    ("~dur >1999999us", {"upload", "ws"}),
    ("~dur >1999999µs", {"upload", "ws"}),
    ("~dur <200000ns", set()),
    ("~dur <=200000ns", {"again"}),
    ("~size >1MB", {"upload"}),
    ("~size >1.9MiB", {"upload"}),
    ("~size >1KB", {"list", "upload"}),
    ("~size >1KiB", {"list", "upload"}),
    ("~size 0", {"signup", "boom", "events", "silent", "again", "life"}),
    ("~size 1000-1500B", {"list"}),
    ("~size >1GB", set()),
    ("~sizeq >=10", {"signup", "upload", "ws"}),
    ("~sizeq <1kb", ALL),
    ("~o exception", {"boom"}),
    ("~o streaming", {"events"}),
    ("~o complete", ALL - {"boom", "events", "silent"}),
    ("~o 'no_response|exception'", {"boom", "silent"}),
    ("~comment ticket", {"signup"}),
    ("~comment '#12$'", {"signup"}),
    ("~ep sign_up", {"signup"}),
    ("~ep '^shop\\.users\\.'", {"signup"}),
    ("~ep /api/users", {"signup"}),
    ("~ep create", set()),
    ("~out 'creating ann'", {"signup"}),
    ("~out '^WARNING shop'", {"signup"}),
    ("~out nothing-printed", set()),
    ("~op .", set()),  # no protocol a lens reads here: tests/test_lens_*.py cover ~op and flags
    ("~sql 'from users'", {"signup"}),
    ("~sql 'select id.*from items'", {"list"}),  # . spans the statement's lines
    ("~sql '^select'", {"list", "signup"}),
    ("~sql redis", set()),  # a span is not a query
    ("~call stock\\.internal", {"list"}),
    ("~call ^https://", {"signup"}),
    ("~call '^POST '", {"signup"}),
    ("~call '^GET http://stock'", {"list"}),
    ("~nq >5", {"signup"}),
    ("~nq 6", {"signup"}),
    ("~nq 1-2", {"list"}),
    ("~nq 0", ALL - {"list", "signup"}),
    ("~nc >0", {"list", "signup"}),
    ("~nc 0", ALL - {"list", "signup"}),
    ("~nc >=2", set()),
    ("~n1", {"signup"}),
    ("~ie", {"list"}),  # the refused call; the exchange itself answered 200
]


@pytest.mark.parametrize(("text", "expected"), OPERATOR_CASES)
def test_operator(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


def test_every_operator_is_covered() -> None:
    used = {m.group(1) for text, _ in OPERATOR_CASES for m in re.finditer(r"~(\w+)", text)}
    assert used == set(OPERATORS) - {lens.tag for lens in lenses.LENSES}
    assert all(op.help for op in OPERATORS.values())


def test_duration_is_the_response_time() -> None:
    """``~dur`` reads when the response finished: an open one has no duration yet, and work
    the app does after its response (a background task) does not count."""
    events = next(e for e in CORPUS if e.id == "events")
    assert matching("~dur >=0ns", [events]) == set()
    background = http("background", "GET", "/report", 200, duration_ms=300)
    background.events[-1].t_return = 2 * MS  # the client had its answer at 2 ms
    assert matching("~dur 1ms-3ms", [background]) == {"background"}
    assert matching("~dur >100ms", [background]) == set()


# syntax ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "same_as"), [
    ("items", "~u items"),
    ("~m GET ~c 200", "~m GET & ~c 200"),
    ("~m GET|~m PUT", "~m GET | ~m PUT"),
    ("~m GET&~c 404", "~m GET & ~c 404"),
    ("~c200", "~c 200"),
    ("~M get", "~m GET"),
    ("!~m GET", "~m ^(POST|PUT|DELETE|WS)$ | ~lifespan"),
    ("!!~m GET", "~m GET"),
    ("~u 'items|users'", "~u items | ~u users"),
    ("~u items|users", "~u items | ~u users"),
    ("~u (items|users)", "~u items | ~u users"),
    ("(items|users)", "~u items | ~u users"),
    ("~u api/(items|users)$", "~u items$ | ~u users$"),
    ("~u /api/items|(~m post)", "~u /api/items | ~m POST"),
    ("(~m GET)~c 404", "~m GET & ~c 404"),
    ("~all ~m GET", "~m GET"),
    ("~m GET | ~all", "~all"),
    ("\t~m\nGET  ", "~m GET"),
])
def test_equivalent(text: str, same_as: str) -> None:
    assert matching(text) == matching(same_as)


@pytest.mark.parametrize(("text", "expected"), [
    ("~m POST | ~m GET & ~c 404", {"signup", "missing"}),
    ("~m GET ~c 404 | ~m POST", {"signup", "missing"}),
    ("(~m POST | ~m GET) & ~c 404", {"missing"}),
    ("!~c 404 & ~m GET", {"list", "boom", "events", "again"}),
    ("!(~c 404 & ~m GET)", ALL - {"missing"}),
    ("!~m GET | ~c 404", ALL - {"list", "boom", "events", "again"}),
    ("~m PUT | ~m DELETE ~q | ~ws", {"upload", "silent", "ws"}),
])
def test_precedence(text: str, expected: set[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(("text", "pattern"), [
    ('~comment "ticket #12"', "ticket #12"),
    ("~comment 'it\\'s'", "it's"),
    ('~comment "say \\"hi\\""', 'say "hi"'),
    ("~comment '\\d+\\.'", "\\d+\\."),
    ("~comment 'back\\\\slash'", "back\\slash"),
    ("~comment ''", ""),
    ("~b !important", "!important"),
    ("~u /~user/", "/~user/"),
])
def test_arguments_reach_the_regex_as_written(text: str, pattern: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = re.compile
    monkeypatch.setattr(re, "compile", lambda p, f=0: seen.append(p) or original(p, f))
    compile_filter(text)
    assert seen == [pattern]


def test_unicode_words_and_case() -> None:
    item = http("ü", "GET", "/straße/日本", 200, response_body="ÜBER".encode())
    assert matching("/STRASSE", [item]) == set()  # case folding is per character, not ß→ss
    assert matching("/straße/日本 ~b über", [item]) == {"ü"}
    assert matching("~u 'ße/日'", [item]) == {"ü"}


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_expression_matches_everything(text: str) -> None:
    flt = compile_filter(text)
    assert flt.select(CORPUS) == CORPUS
    assert flt(CORPUS[0]) is True


def test_filter_object() -> None:
    flt = compile_filter("~m GET")
    assert isinstance(flt, Filter)
    assert flt.text == "~m GET"
    assert repr(flt) == "Filter('~m GET')"
    assert flt(CORPUS[0]) is True
    assert flt(CORPUS[1]) is False
    assert flt.select(iter(CORPUS)) == [e for e in CORPUS if e.method == "GET"]


def test_unreadable_data_fails_only_the_test_that_reads_it() -> None:
    odd = Exchange(id="odd", type="http", started_at=0.0, scope=["not", "a", "dict"])
    assert matching("~m GET", [odd]) == set()
    assert matching("!~m GET", [odd]) == {"odd"}
    assert matching("~u x | ~h x | ~b x | ~d x | ~c 200 | ~t x | ~dur >0ns", [odd]) == set()


# errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message", "column"), [
    ("~c >=4x", "expected a status code, a class like 5xx or a comparison", 4),
    ("~c 0xx", "expected a status code", 4),
    ("~c 300-200", "the range is empty", 4),
    ("~m", "expected a regex after ~m", 3),
    ("~m   & ~c 200", "expected a regex after ~m", 6),
    ("~m ~c 200", "expected a regex after ~m", 4),
    ("(~m)", "expected a regex after ~m", 4),
    ("~o", "expected an outcome after ~o", 3),
    ("~dur | ~c 200", "expected a duration after ~dur", 6),
    ("~zz", "unknown filter ~zz", 1),
    ("~m GET ~siz 0", "unknown filter ~siz (did you mean ~size?)", 8),
    ("~", "expected a filter name after '~'", 1),
    ("~ GET", "expected a filter name after '~'", 1),
    ("(~m GET", "'(' is never closed", 1),
    ("((~m GET)", "'(' is never closed", 1),
    ("~m GET)", "unmatched ')'", 7),
    ("()", "expected a filter, found ')'", 2),
    ("& ~m GET", "expected a filter, found '&'", 1),
    ("~m GET & | ~c 200", "expected a filter, found '|'", 10),
    ("~m GET &", "expected a filter after '&'", 9),
    ("~m GET |  ", "expected a filter after '|'", 11),
    ("!", "expected a filter after '!'", 2),
    ("(", "expected a filter after '('", 2),
    ('~u "abc', "this string is never closed", 4),
    ("~u 'abc\\'", "this string is never closed", 4),
    ("~u a(b", "bad regex: missing ), unterminated subpattern", 5),
    ("~u [", "bad regex: unterminated character set", 4),
    ("~u ab*?+", "bad regex: multiple repeat", 8),
    ('~u "a\\"b[c"', "bad regex: unterminated character set", 9),
    ("~dur 200ms", "expected a duration comparison like >200ms or a range", 6),
    ("~dur >200", "a duration needs a unit: ns, us, µs, μs, ms, s", 6),
    ("~dur >2h", "a duration needs a unit", 6),
    ("~dur 2s-1s", "the range is empty", 6),
    ("~size >1XB", "a size takes a unit among B, KB, MB, GB, KiB, MiB, GiB", 7),
    ("~size big", "expected a size comparison like >1MB or a range", 7),
    ("~o compl", "no outcome is called that (one of streaming, complete,", 4),
    ("~sql (", "bad regex: missing ), unterminated subpattern", 6),
    ("~call '[z-a]'", "bad regex: bad character range z-a", 9),
    ("~nq", "expected a count after ~nq", 4),
    ("~nq 5ms", "a count takes no unit", 5),
    ("~nc many", "expected a count comparison like >5 or a range", 5),
    ("~nq 9-2", "the range is empty", 5),
    ("~n12", "unknown filter ~n", 1),
    ("日本 ~c x", "expected a status code", 7),
])
def test_error(text: str, message: str, column: int) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    err = caught.value
    assert message in err.message
    assert err.position == column - 1
    assert err.text == text
    assert str(err) == f"{text}: {err.message} at column {column}"


def test_long_chains_and_deep_nesting() -> None:
    assert matching(" ".join(["~m GET"] * 2000)) == matching("~m GET")
    assert matching(" | ".join(["~m POST"] * 2000)) == {"signup"}
    assert matching("(" * 64 + "~m POST" + ")" * 64) == {"signup"}
    assert matching("!" * 64 + "~m POST") == {"signup"}
    with pytest.raises(FilterError, match="more than 64 nested"):
        compile_filter("(" * 65 + "~m POST" + ")" * 65)
    with pytest.raises(FilterError, match="more than 64 nested"):
        compile_filter("!(" * 40 + "~m POST" + ")" * 40)


def test_error_caret() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("~c >=4x")
    assert caught.value.caret() == "~c >=4x\n   ^"


def test_error_display_is_one_line_and_aligned_for_wide_characters() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("日本\n~c x")
    err = caught.value
    assert "\n" not in str(err)
    assert str(err).startswith("日本\\x0a~c x: ")  # the one escape policy (asgi_inspect.text)
    assert err.caret() == "日本\\x0a~c x\n           ^"  # two cells per ideograph, four for \x0a


def test_error_without_text() -> None:
    err = FilterError("bad", 0)
    assert str(err) == "bad at column 1"
    assert isinstance(err, ValueError)


# precedence against a reference evaluator ------------------------------------------------

ATOMS = ["~m GET", "~c 404", "~q", "~u api", "~ws", "~dur >200ms", "~marked", "~c 2xx"]
Tree = Any  # str | ("!", Tree) | ("&" | "|", Tree, Tree)


def trees() -> st.SearchStrategy[Tree]:
    return st.recursive(
        st.sampled_from(ATOMS),
        lambda sub: st.one_of(st.tuples(st.just("!"), sub),
                              st.tuples(st.sampled_from("&|"), sub, sub)),
        max_leaves=8)


def render(tree: Tree, draw: Callable[[st.SearchStrategy[Any]], Any], bound: int = 0) -> str:
    """Text with the parentheses precedence requires, some spare ones, and juxtaposition for
    some ANDs; ``bound`` is the binding strength the context needs (0 |, 1 &, 2 !)."""
    if isinstance(tree, str):
        return tree
    if tree[0] == "!":
        text, strength = "!" + render(tree[1], draw, 2), 2
    else:
        strength = 0 if tree[0] == "|" else 1
        joint = " | " if tree[0] == "|" else draw(st.sampled_from([" & ", " ", "&"]))
        text = render(tree[1], draw, strength) + joint + render(tree[2], draw, strength + 1)
    return f"({text})" if strength < bound or draw(st.booleans()) else text


def reference(tree: Tree, exchange: Exchange) -> bool:
    if isinstance(tree, str):
        return compile_filter(tree)(exchange)
    if tree[0] == "!":
        return not reference(tree[1], exchange)
    left, right = reference(tree[1], exchange), reference(tree[2], exchange)
    return left and right if tree[0] == "&" else left or right


@settings(max_examples=150, deadline=None)
@given(tree=trees(), data=st.data())
def test_precedence_matches_reference(tree: Tree, data: st.DataObject) -> None:
    text = render(tree, data.draw)
    assert matching(text) == {e.id for e in CORPUS if reference(tree, e)}, text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("~!&|()\"'\\ mcuqb5x>=-.sé日")), max_size=20))
def test_any_text_compiles_or_raises_filter_error(text: str) -> None:
    try:
        flt = compile_filter(text)
    except FilterError as err:
        assert 0 <= err.position <= len(text)
        assert "\n" not in str(err)
    else:
        flt.select(CORPUS)


# recorded traffic --------------------------------------------------------------------------

async def shop(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "welcome"})
        await send({"type": "websocket.close"})
        return
    body = (await receive())["body"]
    if scope["path"] == "/crash":
        raise RuntimeError("crash")
    status = 201 if scope["method"] == "POST" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"echo": %s}' % body})


async def call(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    with contextlib.suppress(RuntimeError):  # the /crash route, re-raised by the recorder
        await app(scope, receive, send)


def test_recorded_exchanges() -> None:
    sink = MemorySink()
    inspector = Inspector(shop, sink)
    http_scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                  "scheme": "http", "query_string": b"", "headers": [(b"host", b"testserver")],
                  "server": ("testserver", 80)}

    async def traffic() -> None:
        for method, path, body in [("GET", "/items", b"1"), ("POST", "/items", b'"new"'),
                                   ("GET", "/crash", b"")]:
            await call(inspector, {**http_scope, "method": method, "path": path},
                       [{"type": "http.request", "body": body}])
        await call(inspector, {**http_scope, "type": "websocket", "path": "/ws"},
                   [{"type": "websocket.connect"}])

    asyncio.run(traffic())
    inspector.flush()
    exchanges = sink.exchanges
    paths = {e.id: f"{e.method} {e.path}" for e in exchanges}

    def recorded(text: str) -> set[str]:
        return {paths[e.id] for e in compile_filter(text).select(exchanges)}

    assert recorded("~m POST ~c 201 ~b new ~t json") == {"POST /items"}
    assert recorded("~e") == recorded("~o exception") == recorded("~c 500") == {"GET /crash"}
    assert recorded("~q") == set()  # the server answered the crash
    assert recorded("~ws ~bs welcome ~c 101") == {"WS /ws"}
    assert recorded("~d testserver !~c 2xx") == {"GET /crash", "WS /ws"}
    inspector.close()
