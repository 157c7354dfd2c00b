"""The diff between an original exchange and its replay."""

from __future__ import annotations

from asgi_inspect.model import Event, Exchange
from asgi_inspect.replay.diff import diff_exchanges


def _exchange(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None,
              chunks: tuple[bytes, ...] = (b"{}",), content_type: bytes = b"application/json",
              ) -> Exchange:
    events = [Event(direction="send", type="http.response.start", t_call=10, t_return=20,
                    message={"type": "http.response.start", "status": status,
                             "headers": [[b"content-type", content_type],
                                         *[list(h) for h in headers or []]]})]
    for n, chunk in enumerate(chunks):
        events.append(Event(direction="send", type="http.response.body", t_call=30 + n,
                            t_return=40 + n, message={"type": "http.response.body", "body": chunk,
                                                      "more_body": n < len(chunks) - 1}))
    exchange = Exchange(id="1", type="http", started_at=0.0,
                        scope={"type": "http", "method": "GET", "path": "/"}, events=events,
                        outcome="complete", ended_ns=50)
    exchange.response.bytes = sum(len(c) for c in chunks)
    return exchange


def test_identical_exchanges_do_not_differ() -> None:
    diff = diff_exchanges(_exchange(), _exchange())
    assert not diff.differs and diff.summary() == "same"


def test_status_change_is_named_in_the_summary() -> None:
    diff = diff_exchanges(_exchange(200), _exchange(500))
    assert diff.differs and diff.summary() == "differs: status 200 → 500"


def test_headers_ignore_order_and_volatile_values() -> None:
    a = _exchange(headers=[(b"x-a", b"1"), (b"x-b", b"2"), (b"date", b"Mon"),
                           (b"set-cookie", b"sid=abc; Path=/")])
    b = _exchange(headers=[(b"x-b", b"2"), (b"date", b"Tue"), (b"x-a", b"1"),
                           (b"set-cookie", b"sid=xyz; Path=/")])
    assert not diff_exchanges(a, b).differs
    c = _exchange(headers=[(b"x-a", b"1"), (b"x-a", b"1")])
    changes = [x.text for x in diff_exchanges(a, c).changes if x.section == "headers"]
    assert "+ x-a: 1" in changes and "- x-b: 2" in changes


def test_custom_ignored_header() -> None:
    a, b = _exchange(headers=[(b"x-trace", b"1")]), _exchange(headers=[(b"x-trace", b"2")])
    assert diff_exchanges(a, b).differs
    assert not diff_exchanges(a, b, ignore_headers=["x-trace"]).differs


def test_json_bodies_are_compared_structurally() -> None:
    a = _exchange(chunks=(b'{"a": 1, "b": [1, 2], "c": {"d": "x"}}',))
    b = _exchange(chunks=(b'{"c": {"d": "y"}, "b": [1], "a": 1, "e": null}',))
    texts = sorted(x.text for x in diff_exchanges(a, b).changes if x.section == "body")
    assert texts == ["+ $.e: null", "- $.b[1]: 2", '~ $.c.d: "x" → "y"']


def test_key_order_in_json_does_not_matter() -> None:
    a, b = _exchange(chunks=(b'{"a": 1, "b": 2}',)), _exchange(chunks=(b'{"b": 2, "a": 1}',))
    assert not diff_exchanges(a, b).differs


def test_text_bodies_get_a_line_diff() -> None:
    a = _exchange(chunks=(b"one\ntwo\nthree",), content_type=b"text/plain")
    b = _exchange(chunks=(b"one\n2\nthree",), content_type=b"text/plain")
    texts = [x.text for x in diff_exchanges(a, b).changes if x.section == "body"]
    assert "-two" in texts and "+2" in texts


def test_binary_bodies_compare_size_and_hash() -> None:
    a, b = _exchange(chunks=(b"\xff\x00\x01",)), _exchange(chunks=(b"\xff\x00\x02\x03",))
    (change,) = [x for x in diff_exchanges(a, b).changes if x.section == "body"]
    assert change.text.startswith("binary body: 3 bytes sha256 ") and "→ 4 bytes" in change.text


def test_chunking_and_timing_are_reported_but_do_not_differ() -> None:
    a, b = _exchange(chunks=(b"ab", b"cd")), _exchange(chunks=(b"abcd",))
    diff = diff_exchanges(a, b)
    assert not diff.differs
    (messages,) = [x.text for x in diff.changes if x.section == "messages"]
    assert messages == "messages start, body×2 → start, body"

