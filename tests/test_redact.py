"""Redaction: what counts as a secret, stable placeholders, and originals left alone."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_inspect.formats.codec import exchange_line
from asgi_inspect.model import Event, Exchange
from asgi_inspect.ops.export import redact_exchange
from asgi_inspect.record.redact import Redactor, capture_redactor

PLACEHOLDER = re.compile(r"<redacted:[0-9a-f]{8}>")


def _scope(headers: list[Any], query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "query_string": query,
            "headers": headers}


def _exchange(*bodies: bytes, content_type: bytes = b"application/json") -> Exchange:
    events = [Event(direction="receive", type="http.request", t_call=i, t_return=i,
                    message={"type": "http.request", "body": body,
                             "more_body": i < len(bodies) - 1})
              for i, body in enumerate(bodies)]
    return Exchange(id="1", type="http", started_at=0.0, events=events,
                    scope=_scope([[b"content-type", content_type],
                                  [b"authorization", b"Basic dXNlcjpwdw=="]]))


# headers -----------------------------------------------------------------------------------

def test_secret_headers_are_found_by_name_in_any_case() -> None:
    redactor = Redactor()
    headers = [[b"Cookie", b"sid=1"], [b"X-API-Key", b"k"], [b"accept", b"*/*"],
               [b"set-cookie", b"a=b; Path=/"], [b"X-Csrf-Token", b"t"]]
    out = redactor.header_list(headers)
    assert [n for n, _ in out] == [n for n, _ in headers]
    assert out[2] == [b"accept", b"*/*"]
    for index in (0, 1, 3, 4):
        assert PLACEHOLDER.fullmatch(out[index][1].decode())


def test_authorization_keeps_its_scheme() -> None:
    out = Redactor().header_list(((b"authorization", b"Bearer abc.def"),))
    assert out[0][1].startswith(b"Bearer <redacted:")
    assert isinstance(out, tuple) and isinstance(out[0], tuple)  # as the server handed them


def test_more_names_can_be_given_beside_the_rule_or_instead_of_it() -> None:
    headers = [[b"x-pin", b"1"], [b"authorization", b"Bearer 2"], [b"accept", b"*/*"]]
    beside = Redactor(headers=["X_Pin"]).header_list(headers)
    assert PLACEHOLDER.fullmatch(beside[0][1].decode())
    assert beside[1][1].startswith(b"Bearer <redacted:") and beside[2] == [b"accept", b"*/*"]
    instead = Redactor(headers=["X-Pin"], rule=False).header_list(headers)
    assert PLACEHOLDER.fullmatch(instead[0][1].decode())
    assert instead[1:] == headers[1:]


# placeholders ------------------------------------------------------------------------------

def test_equal_secrets_give_equal_placeholders_and_different_ones_differ() -> None:
    one, other = Redactor(), Redactor()
    assert one.placeholder("s3cret") == other.placeholder(b"s3cret")  # one key per process
    assert one.placeholder("s3cret") != one.placeholder("s3cret2")
    assert Redactor(key=b"k1").placeholder("s3cret") != Redactor(key=b"k2").placeholder("s3cret")
    assert Redactor(key=b"k1").placeholder("x") == Redactor(key=b"k1").placeholder("x")


def test_redacting_twice_keeps_the_first_placeholders() -> None:
    redactor = Redactor()
    scope = _scope([[b"authorization", b"Bearer abc"]], b"token=abc")
    once = redactor(scope)
    assert redactor(once) is once


# query strings and forms -------------------------------------------------------------------

def test_query_params_are_redacted_in_place() -> None:
    redactor = Redactor()
    out = redactor(_scope([], b"a=1&TOKEN=abc&b=&api_key=&password=x%20y&c"))["query_string"]
    parts = out.split(b"&")
    assert parts[0] == b"a=1" and parts[2] == b"b=" and parts[3] == b"api_key=" and parts[5] == b"c"
    assert re.fullmatch(rb"TOKEN=%3Credacted%3A[0-9a-f]{8}%3E", parts[1])
    assert parts[4].startswith(b"password=%3Credacted")


def test_names_spelled_with_escapes_are_still_found() -> None:
    redactor = Redactor()
    assert b"=x" not in redactor(_scope([], b"api%5Fkey=x&a=1"))["query_string"]
    out = json.loads(redactor.body(b'{"pass\\u0077ord": "x"}'))
    assert PLACEHOLDER.fullmatch(out["password"])


def test_form_bodies_are_redacted_by_field_name() -> None:
    body = Redactor().body(b"user=ann&password=hunter2&remember=1")
    assert b"hunter2" not in body
    assert body.startswith(b"user=ann&password=%3Credacted") and body.endswith(b"&remember=1")


def test_bodies_without_secrets_are_returned_as_they_are() -> None:
    redactor = Redactor()
    for body in (b'{"user": "ann"}', b"user=ann", b"\x00\xff=\x01", b"plain text", b""):
        assert redactor.body(body) is body


# JSON --------------------------------------------------------------------------------------

def test_json_fields_are_redacted_at_any_depth() -> None:
    body = json.dumps({"user": "ann", "Password": "hunter2", "grants": [
        {"refresh_token": "r1", "scopes": ["a"]}, {"secret": {"nested": 1}}],
        "token": None}).encode()
    out = json.loads(Redactor().body(body))
    assert out["user"] == "ann" and out["grants"][0]["scopes"] == ["a"]
    assert PLACEHOLDER.fullmatch(out["Password"])
    assert PLACEHOLDER.fullmatch(out["grants"][0]["refresh_token"])
    assert PLACEHOLDER.fullmatch(out["grants"][1]["secret"])  # not only strings
    assert out["token"] is None  # nothing to hide


def test_truncated_json_is_redacted_by_pattern() -> None:
    body = b'{"user": "ann", "password": "hun\\"ter2", "note": "the password is'
    out = Redactor().body(body)
    assert b"hun" not in out
    assert out.startswith(b'{"user": "ann", "password": "<redacted:')
    assert out.endswith(b', "note": "the password is')


def test_websocket_text_messages_are_redacted_as_json() -> None:
    redactor = Redactor()
    message = {"type": "websocket.receive", "text": '{"token": "abc", "n": "é"}'}
    out = redactor(message)
    assert '"abc"' not in out["text"] and "é" in out["text"]
    frame = {"type": "websocket.send", "bytes": b'[{"api_key": "k"}]'}
    assert b'"k"' not in redactor(frame)["bytes"]


# exchanges ---------------------------------------------------------------------------------

def test_redact_exchange_returns_a_copy_and_leaves_the_original() -> None:
    exchange = _exchange(b'{"password": "hunter2"}')
    before = exchange_line(exchange)
    redacted = redact_exchange(exchange)
    assert exchange_line(exchange) == before
    assert b"hunter2" not in exchange_line(redacted)
    assert b"dXNlcjpwdw" not in exchange_line(redacted)
    assert redacted.events[0].t_call == exchange.events[0].t_call


def test_a_json_body_split_across_chunks_is_redacted_whole() -> None:
    exchange = _exchange(b'{"user": "ann", "pass', b'word": "hunter2", "x": 1', b"}")
    redacted = redact_exchange(exchange)
    assert len(redacted.events) == 3  # the chunk boundaries and their times stay
    joined = redacted.body("receive")
    assert b"hunter2" not in joined
    assert PLACEHOLDER.fullmatch(json.loads(joined)["password"])


# capture time ------------------------------------------------------------------------------

def test_capture_redactor_copies_only_what_it_changes() -> None:
    redact = capture_redactor()
    clean = _scope([(b"accept", b"*/*")], b"page=2")
    assert redact(clean) is clean
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"set-cookie", b"sid=1")]}
    out = redact(start)
    assert out is not start and start["headers"] == [(b"set-cookie", b"sid=1")]
    assert PLACEHOLDER.fullmatch(out["headers"][0][1].decode())
    lifespan = {"type": "lifespan.startup"}
    assert redact(lifespan) is lifespan


_secret = st.sampled_from(["authorization", "Cookie", "x-api-key", "accept", "x-other"])
_headers = st.lists(st.tuples(_secret.map(str.encode), st.binary(max_size=20)), max_size=5)
_bodies = st.one_of(
    st.binary(max_size=60),
    st.dictionaries(st.sampled_from(["password", "token", "name", "Secret"]),
                    st.one_of(st.text(max_size=8), st.integers(), st.none()),
                    max_size=4).map(lambda d: json.dumps(d).encode()),
    st.sampled_from([b"password=a&x=1", b"token=&a", b"a=b=c"]),
)


@settings(max_examples=150, deadline=None)
@given(headers=_headers, query=st.binary(max_size=30), body=_bodies,
       kind=st.sampled_from(["http.request", "http.response.body", "websocket.receive"]))
def test_capture_redactor_never_modifies_what_it_is_given(
        headers: list[tuple[bytes, bytes]], query: bytes, body: bytes, kind: str) -> None:
    redact = capture_redactor()
    scope = _scope(headers, query)
    message: dict[str, Any] = {"type": kind, ("bytes" if kind.startswith("websocket")
                                              else "body"): body}
    originals = copy.deepcopy((scope, message))
    redacted_scope, redacted_message = redact(scope), redact(message)
    assert (scope, message) == originals
    for (name, value), (_, out) in zip(scope["headers"], redacted_scope["headers"], strict=True):
        if name.lower() in (b"authorization", b"cookie", b"x-api-key"):
            assert b"<redacted:" in out
        else:
            assert out == value
    assert isinstance(redacted_message, dict)
