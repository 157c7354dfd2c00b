"""HAR export with the outbound calls (``--with-calls``): entries of their own among the
exchanges' in start order, linked to the exchange that made them, redacted, schema-valid, read
back into that exchange's ``inside`` by our import; without the option nothing changes."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from asgi_inspect import inside as facts
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.formats.har import har_text, to_har
from asgi_inspect.formats.har_import import from_har
from asgi_inspect.model import Exchange, OutboundCall
from asgi_inspect.ops.export import ExportError, export
from tests.recorded_inside import record_inside

SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
MS = 1_000_000
SECRET = "tok-s3cr3t-value"


def call(method: str, url: str, start_ms: float, **fields: Any) -> OutboundCall:
    start = int(start_ms * MS)
    times = {"t_first_byte": start + 2 * MS, "t_end": start + 3 * MS}
    return OutboundCall(library="httpx", method=method, url=url, t_start=start,
                        http_version="HTTP/1.1", location="shop/views.py:12",
                        **{**times, **fields})


@pytest.fixture
async def exchanges() -> list[Exchange]:
    """``/orders`` (at 100.000 s) makes a call at +1 ms and one that fails at +50 ms;
    ``/stock`` (at 100.010 s) one at +5 ms: in start order, /orders, its first call,
    /stock, its call, then /orders' failed call."""
    orders = await record_inside("/orders", [
        call("POST", f"https://pay.example/charge?token={SECRET}&amount=5", 1,
             status=201, request_headers=[[b"authorization", f"Bearer {SECRET}".encode()],
                                          [b"content-type", b"application/json"]],
             request_body=b'{"amount": 5}',
             response_headers=[[b"content-type", b"application/octet-stream"]],
             response_body=b"\x89PNG\x00", response_size=4000),
        call("GET", "http://stock.internal/levels", 50, status=None, t_first_byte=None,
             error="ConnectError: [Errno 111] Connection refused"),
    ], started_at=100.0)
    stock = await record_inside("/stock", [call("GET", "http://stock.internal/x?a=1&b=2", 5,
                                                status=200)], started_at=100.010)
    return [orders, stock]


def entries(har: dict[str, Any]) -> list[str]:
    """Each entry as ``made-by URL`` for a call, the URL for an exchange."""
    return [f"{e['_asgiInspect']['madeBy']} {e['request']['url']}" if "_asgiInspect" in e
            else e["request"]["url"] for e in har["log"]["entries"]]


def test_calls_are_entries_of_their_own_in_start_order(exchanges: list[Exchange]) -> None:
    orders, stock = exchanges
    har = to_har(exchanges, with_calls=True)
    VALIDATOR.validate(har)
    assert entries(har) == [
        "http://shop/orders",
        f"{orders.id} https://pay.example/charge?token={SECRET}&amount=5",
        "http://shop/stock",
        f"{stock.id} http://stock.internal/x?a=1&b=2",
        f"{orders.id} http://stock.internal/levels",
    ]
    starts = [e["startedDateTime"] for e in har["log"]["entries"]]
    assert starts == sorted(starts)
    assert "".join(har_text(exchanges, with_calls=True)) == json.dumps(
        har, indent=2, ensure_ascii=False)


def test_a_call_entry_names_its_maker_and_keeps_what_was_recorded(
        exchanges: list[Exchange]) -> None:
    orders, _ = exchanges
    pay, refused = (e for e in to_har(exchanges, with_calls=True)["log"]["entries"]
                    if e.get("_asgiInspect", {}).get("madeBy") == orders.id)
    assert pay["_initiator"] == {"type": "other", "url": "http://shop/orders"}
    assert pay["_resourceType"] == "fetch"
    assert pay["_asgiInspect"] == {"madeBy": orders.id, "library": "httpx",
                                   "location": "shop/views.py:12"}
    assert pay["startedDateTime"] == "1970-01-01T00:01:40.001Z"
    assert pay["timings"]["wait"] == 2.0 and pay["timings"]["receive"] == 1.0
    assert pay["time"] == 3.0
    request, response = pay["request"], pay["response"]
    assert request["method"] == "POST"
    assert {"name": "amount", "value": "5"} in request["queryString"]
    assert request["postData"] == {"mimeType": "application/json", "text": '{"amount": 5}'}
    assert response["status"] == 201 and response["statusText"] == "Created"
    content = response["content"]
    assert content["encoding"] == "base64" and base64.b64decode(content["text"]) == b"\x89PNG\x00"
    assert content["_truncated"] is True and content["size"] == 4000

    assert refused["response"]["status"] == 0
    assert refused["_error"] == "ConnectError: [Errno 111] Connection refused"
    assert refused["timings"]["wait"] == 3.0 and refused["timings"]["receive"] == 0


def test_calls_are_redacted_with_their_exchange(exchanges: list[Exchange]) -> None:
    text = export(exchanges, "har", with_calls=True)
    assert SECRET not in text
    har = json.loads(text)
    VALIDATOR.validate(har)
    pay = har["log"]["entries"][1]
    assert "token=" in pay["request"]["url"] and "amount=5" in pay["request"]["url"]
    assert SECRET in export(exchanges, "har", with_calls=True, redact=False)


def test_without_the_option_nothing_changes(exchanges: list[Exchange]) -> None:
    plain = [Exchange(**{**{f: getattr(e, f) for f in e.__struct_fields__}, "inside": []})
             for e in exchanges]
    assert export(exchanges, "har") == export(plain, "har")
    assert export(exchanges, "curl") == export(plain, "curl")
    with pytest.raises(ExportError, match="a HAR option"):
        export(exchanges, "json", with_calls=True)


def test_our_import_puts_calls_back_into_their_exchange(exchanges: list[Exchange]) -> None:
    back = from_har(export(exchanges, "har", with_calls=True, redact=False)).exchanges
    assert [e.path for e in back] == ["/orders", "/stock"]
    for original, read in zip(exchanges, back, strict=True):
        assert [(c.method, c.url, c.status, c.error) for c in facts.calls(read)] == [
            (c.method, c.url, c.status, c.error) for c in facts.calls(original)]
    pay = facts.calls(back[0])[0]
    assert pay.response_body == b"\x89PNG\x00" and pay.response_size == 4000
    assert pay.request_body == b'{"amount": 5}' and pay.location == "shop/views.py:12"
    assert pay.t_start == 1 * MS and pay.t_first_byte == 3 * MS and pay.t_end == 4 * MS
    assert [b"authorization", f"Bearer {SECRET}".encode()] in pay.request_headers


def test_a_call_whose_exchange_is_not_in_the_file_is_kept_as_an_entry(
        exchanges: list[Exchange]) -> None:
    har = to_har(exchanges, with_calls=True)
    har["log"]["entries"] = har["log"]["entries"][1:]  # /orders itself left out
    back = from_har(json.dumps(har)).exchanges
    assert sorted(e.scope["path"] for e in back) == ["/charge", "/levels", "/stock"]
    assert not any(facts.calls(e) for e in back if e.path != "/stock")


def test_the_cli_option(exchanges: list[Exchange], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.jsonl"
    codec.write(codec.new_trace(exchanges), trace)
    assert main(["export", str(trace), "-f", "har", "--with-calls"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["log"]["entries"]) == 5 and SECRET not in out
    assert "2 exchanges" in err and "3 outbound calls" in err

    assert main(["export", str(trace), "-f", "jsonl", "--with-calls"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "a HAR option" in err


def test_a_compressed_call_body_is_redacted_inside_its_encoding() -> None:
    """A call's body is kept as it crossed the wire: gzip's bytes hide a token from the
    redaction rules, so the export undoes the coding, redacts, and encodes again."""
    token = b'{"access_token": "' + SECRET.encode() + b'", "expires_in": 3600}'
    gzipped = gzip.compress(token)
    capped = gzip.compress(token + b" " * 5000)[:-8]  # capped: cannot be encoded again whole

    async def traffic() -> list[Exchange]:
        return [await record_inside("/login", [
            call("POST", "https://auth.example/oauth/token", 1, status=200,
                 response_headers=[[b"content-type", b"application/json"],
                                   [b"content-encoding", b"gzip"]], response_body=body,
                 response_size=size)
            for body, size in ((gzipped, None), (capped, 9000))])]

    (login,) = asyncio.run(traffic())
    har = json.loads(export([login], "har", with_calls=True))
    whole, cut = (e for e in har["log"]["entries"] if "_asgiInspect" in e)
    text = whole["response"]["content"]["text"]
    assert SECRET not in json.dumps(har)
    assert json.loads(text)["expires_in"] == 3600
    assert json.loads(text)["access_token"].startswith("<redacted")
    assert whole["response"]["content"]["compression"] < 0 < whole["response"]["bodySize"]
    assert "text" not in cut["response"]["content"]  # withheld, and the exchange says why
    (redacted,) = codec.loads(export([login], "jsonl")).exchanges
    assert any("withheld" in note for note in redacted.notes)
    assert SECRET not in json.dumps([c.response_body.decode("latin-1")  # type: ignore[union-attr]
                                     for c in facts.calls(redacted)])
    assert facts.calls(login)[0].response_body == gzipped  # the original never changes


@pytest.mark.parametrize(("damage", "error"), [
    ({"request": 5}, "HAR entry 2: request is not an object"),
    ({"request": {"url": 7}}, "HAR entry 2: request.url is not a string"),
    ({"response": {"content": {"text": "!!", "encoding": "base64"}}},
     "HAR entry 2: response.content.text is not valid base64"),
    ({"startedDateTime": "yesterday", "timings": {"wait": -5, "receive": "x"},
      "response": {"status": "200", "headers": []},
      "_asgiInspect": {"madeBy": "orders", "library": 3, "mocked": "yes"}}, None),
])
def test_a_damaged_call_entry_is_one_line_or_read_as_far_as_it_goes(
        exchanges: list[Exchange], damage: dict[str, Any], error: str | None) -> None:
    har = to_har(exchanges[:1], with_calls=True)
    har["log"]["entries"][1].update(damage)
    if error is not None:
        with pytest.raises(codec.TraceError) as refused:
            from_har(json.dumps(har))
        assert str(refused.value).startswith(error) and "\n" not in str(refused.value)
        return
    (orders,) = from_har(json.dumps(har)).exchanges
    odd, _ = facts.calls(orders)
    assert (odd.status, odd.library, odd.mocked, odd.t_start) == (None, "", False, 0)
