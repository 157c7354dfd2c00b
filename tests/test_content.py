"""Decoded bodies: every Content-Encoding asgi-inspect undoes, recorded from a real server, and
every view that reads a body through ``content.body_of`` (filters, diff, HAR, curl)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from asgi_inspect.content import MAX_DECODED, body_of, encoded, output_limit
from asgi_inspect.filters import compile_filter
from asgi_inspect.formats.curl import to_curl
from asgi_inspect.formats.har import to_har
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.model import Counters, Event, Exchange
from asgi_inspect.replay.diff import diff_exchanges
from tests.content_samples import BOMB_SIZE, EVERY_REQUEST, NOISE, TEXT, app, record
from tests.servers import uvicorn_server

HAR_SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())


@pytest.fixture(scope="module")
def recorded() -> dict[str, Exchange]:
    return record(EVERY_REQUEST)


@pytest.mark.parametrize(("path", "encoding"), [
    ("/starlette", "gzip"), ("/gzip", "gzip"), ("/br", "br"), ("/zstd", "zstd"),
    ("/deflate", "deflate"), ("/raw-deflate", "deflate"), ("/stacked", "gzip, br")])
def test_each_coding_is_undone(recorded: dict[str, Exchange], path: str, encoding: str) -> None:
    exchange = recorded[path]
    body = body_of(exchange, "send")
    assert body.data == TEXT and body.raw == exchange.body("send") != TEXT
    assert body.encoding == encoding and body.complete
    assert body.note.startswith(f"decoded {encoding}: ") and body.note.endswith("→ 14.5KiB")


def test_a_compressed_request_body_is_undone(recorded: dict[str, Exchange]) -> None:
    body = body_of(recorded["/upload"], "receive")
    assert body.data == TEXT and body.encoding == "gzip"
    answer = body_of(recorded["/upload"], "send")  # Content-Encoding: identity
    assert answer.data == answer.raw == str(len(gzip.compress(TEXT))).encode()
    assert answer.encoding == answer.note == ""


def test_a_capped_capture_decodes_as_far_as_it_goes(recorded: dict[str, Exchange]) -> None:
    exchange = recorded["/capped"]
    body = body_of(exchange, "send")
    assert len(body.raw) == 64 * 1024 < exchange.response.bytes
    assert len(body.raw) < len(body.data) < len(NOISE) and NOISE.startswith(body.data)
    assert not body.complete and body.encoding == "gzip"
    assert body.note == "capped capture: decoded gzip 64.0KiB of 150KiB as far as it goes → 134KiB"


def test_a_decompression_bomb_stops_at_the_bound(recorded: dict[str, Exchange]) -> None:
    body = body_of(recorded["/bomb"], "send")
    assert len(body.raw) < 64 * 1024 and output_limit(len(body.raw)) == MAX_DECODED
    assert len(body.data) == MAX_DECODED < BOMB_SIZE and body.data.count(0) == MAX_DECODED
    assert not body.complete and body.encoding == "gzip"
    assert body.note == "decoded output limited to 8.0MiB (gzip, 49.8KiB kept)"


@pytest.mark.parametrize(("path", "note"), [
    ("/corrupt", "could not decode gzip: Error -3 while decompressing data: unknown header "
                 "flags set; showing the bytes as sent"),
    ("/unknown", "could not decode compress: not a coding asgi-inspect undoes (gzip, deflate, "
                 "br, zstd); showing the bytes as sent")])
def test_what_cannot_be_decoded_shows_as_sent(recorded: dict[str, Exchange], path: str,
                                              note: str) -> None:
    body = body_of(recorded[path], "send")
    assert body.data == body.raw and body.raw.startswith(b"\x1f")
    assert body.encoding == "" and body.complete and body.note == note


def test_codings_stacked_past_the_limit_are_not_undone() -> None:
    """Each layer may cost the whole bound: four are undone, five are refused."""
    four = gzip.compress(gzip.compress(gzip.compress(gzip.compress(TEXT))))
    body = body_of(_response("s4", b"gzip, gzip, gzip, gzip", four), "send")
    assert body.data == TEXT and body.encoding == "gzip, gzip, gzip, gzip"
    five = gzip.compress(four)
    body = body_of(_response("s5", b"gzip, gzip, gzip, gzip, gzip", five), "send")
    assert body.data == five and body.encoding == ""
    assert body.note == ("could not decode gzip, gzip, gzip, gzip, gzip: more than 4 codings "
                         "stacked; showing the bytes as sent")


def _response(exchange_id: str, coding: bytes, *chunks: bytes) -> Exchange:
    start = Event(direction="send", type="http.response.start", t_call=1, t_return=2,
                  message={"type": "http.response.start", "status": 200,
                           "headers": [[b"content-encoding", coding]]})
    return Exchange(id=exchange_id, type="http", started_at=0.0, scope={"type": "http"},
                    events=[start, *map(_chunk, chunks)])


def test_a_growing_body_decodes_again() -> None:
    """A streaming response's body grows between two looks; the second sees the new bytes."""
    packed = gzip.compress(TEXT)
    exchange = _response("g", b"gzip", packed[:600])
    first = body_of(exchange, "send").data
    exchange.events.append(_chunk(packed[600:]))
    assert TEXT.startswith(first) and len(first) < len(TEXT)
    assert body_of(exchange, "send").data == TEXT


def _chunk(data: bytes) -> Event:
    return Event(direction="send", type="http.response.body", t_call=3, t_return=4,
                 message={"type": "http.response.body", "body": data, "more_body": True})


# the views that read bodies ----------------------------------------------------------------

@pytest.mark.parametrize(("expression", "paths"), [
    ('~bs "item 3: the quick"', {"/starlette", "/gzip", "/br", "/zstd", "/deflate",
                                 "/raw-deflate", "/stacked"}),
    ('~bq "item 499"', {"/upload"}),
    ('~b "line 1 "', {"/capped"}),
    ('~bs "not gzip at all"', {"/corrupt"}),
    ('~bs \'"n": 2\'', {"/json?n=2"}),
])
def test_body_filters_search_the_decoded_content(recorded: dict[str, Exchange],
                                                 expression: str, paths: set[str]) -> None:
    selected = compile_filter(expression).select(recorded.values())
    assert {e.path for e in selected} == paths


def test_the_diff_compares_decoded_content(recorded: dict[str, Exchange]) -> None:
    one, two = recorded["/json?n=1"], recorded["/json?n=2"]
    body = [c.text for c in diff_exchanges(one, two).changes if c.section == "body"]
    assert body == ["~ $.n: 1 → 2"]
    same = [c for c in diff_exchanges(recorded["/gzip"], recorded["/br"]).changes
            if c.section == "body"]
    assert same == []  # the same text, compressed two ways


def test_har_keeps_decoded_bodies_and_reads_them_back(recorded: dict[str, Exchange]) -> None:
    document = to_har(list(recorded.values()))
    validator = jsonschema.Draft202012Validator(HAR_SCHEMA)
    assert [e.message for e in validator.iter_errors(document)] == []
    entries = {e["request"]["url"].split("127.0.0.1:")[1].partition("/")[2]: e
               for e in document["log"]["entries"]}
    br = entries["br"]["response"]["content"]
    assert br["text"] == TEXT.decode() and br["size"] == len(TEXT)
    assert br["compression"] == len(TEXT) - len(recorded["/br"].body("send"))
    bomb = entries["bomb"]["response"]["content"]
    assert bomb["_truncated"] and bomb["comment"].startswith("decoded output limited to 8.0MiB")
    corrupt = entries["corrupt"]["response"]["content"]
    assert corrupt["_undecoded"] and corrupt["comment"].startswith("could not decode gzip")
    back = {e.path: e for e in from_har(json.dumps(document)).exchanges}
    for path in ("/br", "/zstd", "/stacked"):  # compressed again as the app sent them
        again = body_of(back[path], "send")
        assert again.data == TEXT and again.raw != TEXT
        assert again.encoding == body_of(recorded[path], "send").encoding


def test_encoded_undoes_what_body_of_does() -> None:
    assert encoded(TEXT, b"compress") is None
    assert encoded(TEXT, None) == encoded(TEXT, b"identity") == TEXT
    assert gzip.decompress(encoded(TEXT, b"x-gzip") or b"") == TEXT


# curl --compressed -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with uvicorn_server(app, lifespan="off") as url:
        yield url


def test_curl_export_asks_for_compression_and_decodes(recorded: dict[str, Exchange],
                                                      server: str) -> None:
    command = to_curl(recorded["/starlette"], base_url=server)
    assert command.startswith(f"curl {server}/starlette --compressed \\\n")
    assert "--header 'accept-encoding: gzip'" in command
    plain = Exchange(id="p", type="http", started_at=0.0, request=Counters(),
                     scope={"type": "http", "method": "GET", "path": "/", "headers": []})
    assert "--compressed" not in to_curl(plain)
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the command is not run")
    done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == TEXT  # the gzip answer, decoded by curl
