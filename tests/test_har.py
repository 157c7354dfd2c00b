"""HAR 1.2 export and import: schema-valid, read back by mitmproxy, round-tripped by us."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_inspect.formats.codec import (
    TraceError,
    dumps,
    dumps_jsonl,
    exchange_line,
    loads,
    new_trace,
)
from asgi_inspect.formats.har import to_har
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.formats.reader import read
from asgi_inspect.http import url_of
from asgi_inspect.model import Event, Exchange
from asgi_inspect.ops.export import export
from asgi_inspect.store.collector import Collector
from tests.export_samples import BIG, BINARY, MAX_BODY, PAGE, by_path, record_samples

SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
SECRETS = ("hunter2", "tok-123", "abc.def", "s3cret", "sid=abc")


@pytest.fixture(scope="module")
def samples() -> list[Exchange]:
    return record_samples()


@pytest.fixture(scope="module")
def har(samples: list[Exchange]) -> dict[str, Any]:
    return to_har(samples)


def _entry(har: dict[str, Any], path: str) -> dict[str, Any]:
    return next(e for e in har["log"]["entries"] if e["request"]["url"].split("?")[0]
                .endswith(path))


# export ------------------------------------------------------------------------------------

def test_the_schema_itself_is_valid_and_rejects_what_the_spec_forbids() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    bad = {"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": [
        {"startedDateTime": "yesterday", "time": 0, "request": {}, "response": {},
         "cache": {}, "timings": {"send": -1, "wait": 0, "receive": 0}, "extra": 1}]}}
    messages = " ".join(e.message for e in VALIDATOR.iter_errors(bad))
    for word in ("yesterday", "-1", "'extra'", "'method' is a required property"):
        assert word in messages


@pytest.mark.parametrize("redact", [True, False])
def test_export_is_valid_har_1_2(samples: list[Exchange], redact: bool) -> None:
    document = json.loads(export(samples, "har", redact=redact))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]
    assert errors == []
    assert len(document["log"]["entries"]) == len(samples)


def test_entry_time_is_the_sum_of_its_timings(har: dict[str, Any]) -> None:
    for entry in har["log"]["entries"]:
        timings = entry["timings"]
        assert [timings[k] for k in ("blocked", "dns", "connect", "ssl")] == [-1] * 4
        total = sum(v for v in timings.values() if v >= 0)
        assert entry["time"] == pytest.approx(total, abs=1e-6)


def test_timings_are_taken_from_the_events() -> None:
    def event(direction: str, kind: str, t_call: int, t_return: int) -> Event:
        return Event(direction=direction, type=kind, t_call=t_call,  # type: ignore[arg-type]
                     t_return=t_return, message={"type": kind})

    exchange = Exchange(id="1", type="http", started_at=1_700_000_000.25, scope={}, events=[
        event("receive", "http.request", 1_000_000, 3_000_000),
        event("receive", "http.request", 3_500_000, 5_000_000),
        event("send", "http.response.start", 12_000_000, 12_100_000),
        event("send", "http.response.body", 12_200_000, 13_000_000),
        event("send", "http.response.body", 14_000_000, 16_200_000)])
    entry = to_har([exchange])["log"]["entries"][0]
    assert entry["timings"]["send"] == 4.0  # first receive() call to the last body's arrival
    assert entry["timings"]["wait"] == 7.0  # last request event to the response start
    assert entry["timings"]["receive"] == 4.0  # first to last response body
    assert entry["time"] == 15.0
    assert entry["startedDateTime"] == "2023-11-14T22:13:20.250Z"


def test_request_fields(har: dict[str, Any], samples: list[Exchange]) -> None:
    entry = _entry(har, "/search")
    request = entry["request"]
    assert request["method"] == "GET" and request["httpVersion"] == "HTTP/1.1"
    assert request["url"] == url_of(by_path(samples, "/search"))
    assert request["url"].endswith("/search?q=caf%C3%A9&token=s3cret&page=2")
    assert {"name": "q", "value": "café"} in request["queryString"]
    assert request["cookies"] == [{"name": "sid", "value": "abc"},
                                  {"name": "theme", "value": "dark"}]
    assert {"name": "x-trace", "value": "a=b:c;d@e"} in request["headers"]
    assert entry["serverIPAddress"] == "127.0.0.1"
    assert entry["_id"] == by_path(samples, "/search").id and entry["_outcome"] == "complete"


def test_response_fields(har: dict[str, Any]) -> None:
    response = _entry(har, "/login")["response"]
    assert response["status"] == 200 and response["statusText"] == "OK"
    assert response["cookies"] == [{"name": "sid", "value": "abc", "path": "/",
                                    "httpOnly": True}]
    assert json.loads(response["content"]["text"])["access_token"] == "tok-123"
    assert response["content"]["mimeType"] == "application/json"
    form = _entry(har, "/form")["request"]["postData"]
    assert form["params"] == [{"name": "user", "value": "ann"},
                              {"name": "password", "value": "hunter2"}]


def test_binary_bodies_travel_as_base64(har: dict[str, Any]) -> None:
    entry = _entry(har, "/binary")
    post = entry["request"]["postData"]
    assert post["_encoding"] == "base64" and base64.b64decode(post["text"]) == BINARY
    assert post["mimeType"] == "application/x-thing"
    content = entry["response"]["content"]
    assert content["encoding"] == "base64" and base64.b64decode(content["text"]) == BINARY
    assert content["size"] == len(BINARY) == entry["response"]["bodySize"]


def test_compressed_responses_are_stored_decoded(har: dict[str, Any]) -> None:
    response = _entry(har, "/gzip")["response"]
    content = response["content"]
    assert content["text"] == PAGE.decode()
    assert content["size"] == len(PAGE)
    assert response["bodySize"] == len(gzip.compress(PAGE)) or response["bodySize"] < len(PAGE)
    assert content["compression"] == content["size"] - response["bodySize"]


def test_capped_bodies_say_so(har: dict[str, Any]) -> None:
    entry = _entry(har, "/big")
    post, content = entry["request"]["postData"], entry["response"]["content"]
    for part in (post, content):
        assert part["_truncated"] is True
        assert part["comment"] == (f"{'request' if part is post else 'response'} body truncated"
                                   f" by the recorder: {MAX_BODY} of {len(BIG)} bytes kept")
        assert len(part["text"]) == MAX_BODY
    assert entry["request"]["bodySize"] == len(BIG) == content["size"]


def test_an_exception_before_the_response(har: dict[str, Any]) -> None:
    """The client got the server's 500 (the status only: the app sent no headers or body)."""
    entry = _entry(har, "/boom")
    response = entry["response"]
    assert response["status"] == 500 and response["statusText"] == "Internal Server Error"
    assert response["_answeredByServer"] is True
    assert response["headers"] == [] and response["bodySize"] == -1
    assert entry["_outcome"] == "exception"
    assert entry["_error"] == "RuntimeError: boom before the response"


def test_websocket_entries_are_written_as_chrome_does(har: dict[str, Any],
                                                      samples: list[Exchange]) -> None:
    entry = _entry(har, "/chat")
    assert entry["_resourceType"] == "websocket"
    assert entry["request"]["url"].startswith("ws://") and entry["request"]["method"] == "GET"
    assert entry["response"]["status"] == 101
    assert {"name": "sec-websocket-protocol", "value": "chat"} in entry["response"]["headers"]
    messages = entry["_webSocketMessages"]
    assert [(m["type"], m["opcode"], m["data"]) for m in messages] == [
        ("send", 1, "hello"), ("receive", 1, "hello"),
        ("send", 2, "AAH+/w=="), ("receive", 2, "AAH+/w=="), ("send", 1, "bye")]
    times = [m["time"] for m in messages]
    started = by_path(samples, "/chat").started_at
    assert times == sorted(times) and started <= times[0] and times[-1] < started + 60
    assert entry["_webSocketClose"]["code"] == 4000
    assert entry["_webSocketClose"]["reason"] == "done"


def test_secrets_are_redacted_by_default(samples: list[Exchange]) -> None:
    before = [exchange_line(e) for e in samples]
    redacted = export(samples, "har")
    kept = export(samples, "har", redact=False)
    for secret in SECRETS:
        assert secret not in redacted and secret in kept
    assert "Bearer <redacted:" in redacted
    assert [exchange_line(e) for e in samples] == before  # the recordings are untouched


def test_lifespan_exchanges_are_left_out() -> None:
    lifespan = Exchange(id="1", type="lifespan", started_at=0.0, scope={"type": "lifespan"})
    assert to_har([lifespan])["log"]["entries"] == []


def test_odd_snapshots_still_export_valid_har() -> None:
    """A hand-edited trace: scope and message fields of the wrong types (the codec refuses
    scopes and messages that are not objects at all)."""
    exchanges = [
        Exchange(id="1", type="http", started_at=1e12, scope={"method": 7, "path": None},
                 events=[Event(direction="send", type="http.response.start", t_call=5,
                               message={"status": "200", "headers": [1, 2]})]),
        Exchange(id="2", type="websocket", started_at=-5.0, scope={"server": ["::1", 8000],
                                                                   "headers": "junk"},
                 events=[Event(direction="receive", type="websocket.receive", t_call=1,
                               message={"type": "websocket.receive", "bytes": 3})]),
    ]
    document = json.loads(json.dumps(to_har(exchanges)))
    assert list(VALIDATOR.iter_errors(document)) == []
    assert document["log"]["entries"][1]["request"]["url"] == "ws://[::1]:8000/"


# mitmproxy reads it ------------------------------------------------------------------------

MITMPROXY_ADDON = '''
import base64, json, os

class Dump:
    def __init__(self):
        self.flows = []

    def response(self, flow):
        request, response = flow.request, flow.response
        self.flows.append({
            "method": request.method, "url": request.url,
            "headers": [[k, v] for k, v in request.headers.items(multi=True)],
            "body": base64.b64encode(request.raw_content or b"").decode(),
            "status": response.status_code,
            "response_headers": [[k, v] for k, v in response.headers.items(multi=True)],
            "content": base64.b64encode(response.content or b"").decode(),
        })

    def done(self):
        with open(os.environ["HAR_DUMP"], "w") as out:
            json.dump(self.flows, out)

addons = [Dump()]
'''


def _mitmdump() -> str | None:
    return os.environ.get("ASGI_INSPECT_MITMDUMP") or shutil.which("mitmdump")


@pytest.mark.skipif(_mitmdump() is None, reason="mitmdump not found: install mitmproxy in its "
                    "own venv and set ASGI_INSPECT_MITMDUMP (see docs/export.md)")
def test_mitmproxy_reads_the_export(har: dict[str, Any], samples: list[Exchange],
                                    tmp_path: Path) -> None:
    (tmp_path / "trace.har").write_text(json.dumps(har), encoding="utf-8")
    (tmp_path / "dump.py").write_text(textwrap.dedent(MITMPROXY_ADDON))
    env = {**os.environ, "HAR_DUMP": str(tmp_path / "flows.json")}
    done = subprocess.run([str(_mitmdump()), "-q", "-n", "-r", str(tmp_path / "trace.har"),
                           "-s", str(tmp_path / "dump.py")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    flows = json.loads((tmp_path / "flows.json").read_text())
    assert len(flows) == len(har["log"]["entries"])
    by_url = {f["url"]: f for f in flows}
    for exchange in samples:
        flow = by_url[url_of(exchange)]
        assert flow["method"] == (exchange.method if exchange.type == "http" else "GET")
        names = [n.lower() for n, _ in flow["headers"] if n.lower() != "content-length"]
        assert names == [n.decode() for n, _ in exchange.request_headers
                         if n != b"content-length"]  # mitmproxy sets its own
        assert flow["status"] == (exchange.status or 0)
        if exchange.type == "http" and exchange.status:
            body = base64.b64decode(flow["content"])
            expected = {"/gzip": PAGE}.get(exchange.scope["path"], exchange.body("send"))
            assert body == expected
            assert [k.lower() for k, _ in flow["response_headers"]] == [
                n.decode() for n, _ in exchange.response_headers]
    # text request bodies arrive as sent; a binary one is base64 text to mitmproxy, which
    # knows no encoding field for postData
    assert base64.b64decode(by_url[url_of(by_path(samples, "/login"))]["body"]) == \
        by_path(samples, "/login").body("receive")


# import ------------------------------------------------------------------------------------

def test_our_export_round_trips(samples: list[Exchange], har: dict[str, Any]) -> None:
    trace = from_har(json.dumps(har).encode())
    imported = {e.id: e for e in trace.exchanges}
    assert len(imported) == len(samples)
    for original in samples:
        copy = imported[original.id]
        assert copy.type == original.type and copy.outcome == original.outcome
        assert copy.started_at == pytest.approx(original.started_at, abs=1e-3)
        for key in ("method", "path", "raw_path", "query_string", "headers", "scheme",
                    "http_version", "server"):
            assert copy.scope.get(key) == original.scope.get(key), key
        assert copy.body("receive") == original.body("receive")
        assert copy.status == original.status
        assert copy.response_headers == original.response_headers
        sent, got = original.body("send"), copy.body("send")
        if original.scope["path"] == "/gzip":
            sent, got = gzip.decompress(sent), gzip.decompress(got)
        assert got == sent
        assert copy.request.bytes == original.request.bytes
        assert (copy.first("http.request") or copy.events[0]).truncated == \
            (original.first("http.request") or original.events[0]).truncated
    boom = imported[by_path(samples, "/boom").id]
    assert boom.exception is not None and boom.exception.type == "RuntimeError"
    # the server's 500 comes back as the server's, not as a response the app sent
    assert boom.status == 500 and boom.answered_by_server and boom.response_start is None
    chat = imported[by_path(samples, "/chat").id]
    original_chat = by_path(samples, "/chat")
    assert _frames(chat) == _frames(original_chat)
    assert chat.scope["subprotocols"] == ["chat"]
    assert chat.first("websocket.accept").message["subprotocol"] == "chat"  # type: ignore[union-attr]
    assert chat.first("websocket.disconnect").message["code"] == 4000  # type: ignore[union-attr]


def _frames(exchange: Exchange) -> list[tuple[str, str, Any]]:
    return [(e.direction, e.type, e.message.get("text") or e.message.get("bytes"))
            for e in exchange.events if e.type in ("websocket.receive", "websocket.send")]


def test_imported_exchanges_are_ordinary_exchanges(har: dict[str, Any]) -> None:
    """They survive our own codec and the collector, so the views and replay take them."""
    trace = from_har(json.dumps(har))
    again = loads(dumps(trace))
    assert [exchange_line(e) for e in again.exchanges] == \
        [exchange_line(e) for e in trace.exchanges]
    collector = Collector()
    for exchange in again.exchanges:
        collector.store.add(exchange)
    assert len(collector.store.exchanges) == len(trace.exchanges)
    for exchange in again.exchanges:
        assert exchange.method and exchange.path.startswith("/")
        assert exchange.duration_ns is not None and exchange.source == "har:asgi-inspect"
        times = [t for e in exchange.events for t in (e.t_call, e.t_return)]
        assert all(isinstance(t, int) and t >= 0 for t in times)


_FORM = "application/x-www-form-urlencoded"
CHROME = {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
    "pages": [{"startedDateTime": "2024-05-01T10:00:00.000Z", "id": "page_1", "title": "x",
               "pageTimings": {"onContentLoad": 10, "onLoad": 20}}],
    "entries": [
        {"startedDateTime": "2024-05-01T10:00:01.500+02:00", "time": 12.5, "pageref": "page_1",
         "_initiator": {"type": "script"}, "_priority": "High",
         "request": {"method": "post", "url": "https://api.example.com/v1/items?x=1&y=%20",
                     "httpVersion": "http/2.0",
                     "headers": [{"name": ":authority", "value": "api.example.com"},
                                 {"name": ":method", "value": "POST"},
                                 {"name": "Content-Type", "value": _FORM},
                                 {"name": "X-Requested-With", "value": "XMLHttpRequest"}],
                     "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 7,
                     "postData": {"mimeType": _FORM,
                                  "params": [{"name": "a", "value": "1 2"}]}},
         "response": {"status": 200, "statusText": "", "httpVersion": "http/2.0",
                      "headers": [{"name": "Content-Type", "value": "image/png"}],
                      "cookies": [], "content": {"size": 4, "mimeType": "image/png",
                                                 "text": "iVBORw==", "encoding": "base64"},
                      "redirectURL": "", "headersSize": -1, "bodySize": 4,
                      "_transferSize": 100},
         "cache": {}, "timings": {"blocked": 1.5, "dns": -1, "ssl": -1, "connect": -1,
                                  "send": 0.5, "wait": 8, "receive": 2.5, "_blocked_queueing": 1}},
        {"startedDateTime": "2024-05-01T08:00:03Z", "time": 3,
         "_resourceType": "websocket",
         "request": {"method": "GET", "url": "wss://api.example.com/socket",
                     "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Host", "value": "api.example.com"},
                                 {"name": "Sec-WebSocket-Protocol", "value": "v1, v2"}],
                     "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
         "response": {"status": 101, "statusText": "Switching Protocols",
                      "httpVersion": "HTTP/1.1",
                      "headers": [{"name": "Upgrade", "value": "websocket"},
                                  {"name": "Sec-WebSocket-Protocol", "value": "v2"}],
                      "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"},
                      "redirectURL": "", "headersSize": -1, "bodySize": 0},
         "cache": {}, "timings": {"send": 0, "wait": 3, "receive": 0},
         "_webSocketMessages": [
             {"type": "send", "time": 1714550403.25, "opcode": 1, "data": "ping"},
             {"type": "receive", "time": 1714550403.5, "opcode": 2, "data": "AP8="},
             {"type": "receive", "time": 1714550403.6, "opcode": 9, "data": ""}]}]}}


def test_a_chrome_har_with_a_bom() -> None:
    trace = from_har(b"\xef\xbb\xbf" + json.dumps(CHROME).encode())
    post, socket = trace.exchanges
    assert post.source == "har:WebInspector" and post.type == "http"
    assert post.started_at == 1714550401.5
    assert post.scope["method"] == "POST" and post.scope["http_version"] == "2"
    assert post.scope["scheme"] == "https" and post.scope["server"] == ["api.example.com", 443]
    assert post.scope["path"] == "/v1/items" and post.scope["query_string"] == b"x=1&y=%20"
    assert post.scope["headers"] == [[b"host", b"api.example.com"],
                                     [b"content-type", b"application/x-www-form-urlencoded"],
                                     [b"x-requested-with", b"XMLHttpRequest"]]
    assert post.body("receive") == b"a=1+2"
    assert post.status == 200 and post.body("send") == base64.b64decode("iVBORw==")
    request, start, body = post.events
    assert (request.t_call, request.t_return) == (1_500_000, 2_000_000)
    assert start.t_call == 10_000_000 and body.t_return == 12_500_000
    assert post.outcome == "complete" and post.ended_ns == 12_500_000

    assert socket.type == "websocket" and socket.scope["scheme"] == "wss"
    assert socket.scope["subprotocols"] == ["v1", "v2"]
    accept = socket.first("websocket.accept")
    assert accept is not None and accept.message["subprotocol"] == "v2"
    assert accept.message["headers"] == []  # the handshake's own headers are the server's
    assert _frames(socket) == [("receive", "websocket.receive", "ping"),
                               ("send", "websocket.send", b"\x00\xff")]
    assert [e.t_call for e in socket.events[-2:]] == [250_000_000, 500_000_000]


def test_firefox_mitmproxy_and_http_toolkit_quirks() -> None:
    entries = [
        # Firefox: no headersSize, null bodySize, an image without its text
        {"startedDateTime": "2024-05-01T10:00:00.123+00:00", "time": 1,
         "request": {"method": "GET", "url": "http://example.com/img.png",
                     "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                     "queryString": [], "bodySize": 0},
         "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                      "headers": [{"name": "content-type", "value": "image/png"}],
                      "cookies": [], "content": {"mimeType": "image/png", "size": 1234},
                      "redirectURL": "", "bodySize": None},
         "cache": {}, "timings": {"send": None, "wait": 1, "receive": None}},
        # mitmproxy: a response-less entry with an _error
        {"startedDateTime": "2024-05-01T10:00:01+00:00", "time": 0,
         "request": {"method": "GET", "url": "http://example.com/down", "httpVersion": "HTTP/1.1",
                     "headers": [["Accept", "*/*"]], "cookies": [], "queryString": [],
                     "headersSize": 10, "bodySize": 0},
         "response": {"status": 0, "statusText": "", "httpVersion": "", "headers": [],
                      "cookies": [], "content": {}, "redirectURL": "", "headersSize": -1,
                      "bodySize": -1, "_transferSize": 0, "_error": "connection refused"},
         "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}},
        # HTTP Toolkit: a body that is not UTF-8 in _content, a gzip response stored decoded
        {"startedDateTime": "2024-05-01T10:00:02.000Z", "time": 2,
         "request": {"method": "PUT", "url": "http://example.com/blob", "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "content-type", "value": "application/octet-stream"}],
                     "cookies": [], "queryString": [], "headersSize": -1, "bodySize": 2,
                     "_requestBodyStatus": "discarded:not-representable",
                     "_content": {"text": "AP8=", "size": 2, "encoding": "base64"}},
         "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1",
                      "headers": [{"name": "content-encoding", "value": "gzip"},
                                  {"name": "content-type", "value": "text/plain; charset=latin-1"}],
                      "cookies": [], "content": {"mimeType": "text/plain", "size": 5,
                                                 "text": "héllo"},
                      "redirectURL": "", "headersSize": -1, "bodySize": 25},
         "cache": {}, "timings": {"send": 1, "wait": 1, "receive": 0}},
    ]
    document = {"log": {"creator": {"name": "Firefox", "version": "125"}, "entries": entries}}
    image, down, blob = from_har(json.dumps(document)).exchanges
    body = image.first("http.response.body")
    assert body is not None and body.truncated and body.size == 1234 and image.body("send") == b""
    assert down.status is None and down.outcome == "no_response"
    assert down.notes == ["error: connection refused"]
    assert down.scope["headers"] == [[b"host", b"example.com"], [b"accept", b"*/*"]]
    assert blob.body("receive") == b"\x00\xff"
    assert gzip.decompress(blob.body("send")) == "héllo".encode("latin-1")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a HAR file: not valid JSON"),
    (b"\xff\xfe{", "not a HAR file: not valid JSON"),
    (b"[1, 2]", 'not a HAR file: no "log" object at the top level'),
    (b'{"log": {"version": "2.0", "entries": []}}', "unsupported HAR version '2.0'"),
    (b'{"log": {"entries": {}}}', 'not a HAR file: "log.entries" is not a list'),
    (b'{"log": {"entries": [3]}}', "HAR entry 1: entry is not an object"),
    (b'{"log": {"entries": [{"request": {"url": 5}}]}}',
     "HAR entry 1: request.url is not a string"),
    (b'{"log": {"entries": [{"request": {"url": "http://x/", "postData": {"text": "@@",'
     b' "_encoding": "base64"}}}]}}', "HAR entry 1: request.postData.text is not valid base64"),
])
def test_what_is_not_har_says_why_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(TraceError) as caught:
        from_har(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_load_any_sniffs_the_format(tmp_path: Path, har: dict[str, Any],
                                    samples: list[Exchange]) -> None:
    trace = new_trace(samples)
    (tmp_path / "t.json").write_bytes(dumps(trace))
    (tmp_path / "t.jsonl").write_bytes(dumps_jsonl(trace))
    (tmp_path / "t.har").write_bytes(b"\xef\xbb\xbf" + json.dumps(har, indent=2).encode())
    for name in ("t.json", "t.jsonl", "t.har"):
        loaded = read(tmp_path / name)
        assert [e.id for e in loaded.exchanges] == [e.id for e in samples], name
    with pytest.raises(TraceError, match="cannot read"):
        read(tmp_path / "missing.har")


# fuzz ----------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value = dict(value) if isinstance(value, dict) else list(value)
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damage_to_a_har_gives_a_trace_or_a_trace_error(data: st.DataObject) -> None:
    document = json.loads(json.dumps(CHROME))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)))
        document = _replace(document, path, data.draw(_json))
    try:
        trace = from_har(json.dumps(document))
    except TraceError as exc:
        assert "\n" not in str(exc)
    else:
        dumps(trace)  # whatever was read is a trace our codec can write
        to_har(trace.exchanges)
