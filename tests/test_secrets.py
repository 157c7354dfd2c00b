"""Secrets stay private: the redaction rule, the text exchanges carry, capture time, the
private files we write, and the listen session's address."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from asgi_inspect import content
from asgi_inspect.cli.listen import title_of
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.model import Counters, Event, Exchange, Opaque
from asgi_inspect.ops.export import FORMATS, export, export_to, redact_exchange
from asgi_inspect.record.redact import Redactor, secret_name
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.collector import Collector
from tests import apps
from tests.test_output import hooked

PLACEHOLDER = re.compile(r"<redacted:[0-9a-f]{8}>")


# the rule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Goog-Api-Key",
    "Private-Token", "Ocp-Apim-Subscription-Key", "X-Amz-Security-Token", "X-CSRF-Token",
    "X-Session-Id", "passwd", "PassPhrase", "secret_key", "Secret-Key", "private_key",
    "client_secret", "REFRESH_TOKEN", "refresh-token", "apikey", "X-Amz-Signature",
    "authToken", "sessionid"])
def test_names_holding_a_word_of_the_rule_are_secret(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize("name", [
    "Content-Type", "Keep-Alive", "Sec-WebSocket-Key", "WWW-Authenticate",
    "Proxy-Authenticate", ":authority", "author", "Author-Name", "keyword", "keywords",
    "user", "X-Request-Id", "Access-Control-Allow-Credentials", "Accept"])
def test_names_the_rule_leaves_readable(name: str) -> None:
    assert not secret_name(name)


def test_headers_are_redacted_by_the_rule() -> None:
    headers = [[b"X-Goog-Api-Key", b"g00g-key"], [b"Private-Token", b"glpat-123"],
               [b"Ocp-Apim-Subscription-Key", b"azure-key"], [b"Sec-WebSocket-Key", b"nonce=="],
               [b"Keep-Alive", b"timeout=5"], [b"Content-Type", b"text/plain"]]
    out = Redactor().header_list(headers)
    assert all(PLACEHOLDER.fullmatch(value.decode()) for _, value in out[:3])
    assert out[3:] == headers[3:]


def test_query_parameters_are_redacted_by_the_rule() -> None:
    query = (b"key=AIza1&code=oauth-code&sig=s1g&X-Amz-Signature=abc&signature=x&page=2"
             b"&keyword=shoes")
    out = Redactor()({"type": "http", "query_string": query})["query_string"]
    pairs = dict(pair.split(b"=", 1) for pair in out.split(b"&"))
    for name in (b"key", b"code", b"sig", b"X-Amz-Signature", b"signature"):
        assert pairs[name].startswith(b"%3Credacted%3A"), name
    assert pairs[b"page"] == b"2" and pairs[b"keyword"] == b"shoes"


def test_json_and_form_fields_are_redacted_by_the_rule() -> None:
    fields = {"passwd": "p1", "secret_key": "s1", "Private-Key": "k1", "client_secret": "c1",
              "REFRESH_TOKEN": "r1", "nested": [{"api-key": "a1", "code": 404}],
              "user": "ann", "keyword": "shoes"}
    out = json.loads(Redactor().body(json.dumps(fields).encode()))
    for name in ("passwd", "secret_key", "Private-Key", "client_secret", "REFRESH_TOKEN"):
        assert PLACEHOLDER.fullmatch(out[name]), name
    assert PLACEHOLDER.fullmatch(out["nested"][0]["api-key"])
    assert out["nested"][0]["code"] == 404  # "code" is a secret as a parameter, not in JSON
    assert out["user"] == "ann" and out["keyword"] == "shoes"
    form = Redactor().body(b"grant_type=authorization_code&code=c0de&client_secret=cs&user=ann")
    assert b"c0de" not in form and b"=cs&" not in form
    assert form.startswith(b"grant_type=authorization_code&") and form.endswith(b"&user=ann")


# multipart ---------------------------------------------------------------------------------

def _part(name: str, content: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--XyZ\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n")


def test_multipart_fields_are_redacted_and_files_keep_their_bytes() -> None:
    upload = bytes(range(256)) * 4 + b'\r\n--XyZnot-a-boundary password="x"'
    body = (_part("user", b"ann") + _part("password", b"hunter2") +
            _part("file", upload, "data.bin") + _part("api_key", b"KEYFILE", "key.txt") +
            _part("meta", b'{"token": "t0ken", "n": 1}') + b"--XyZ--\r\n")
    out = Redactor().body(body)
    assert b"hunter2" not in out and b"KEYFILE" not in out and b"t0ken" not in out
    assert _part("user", b"ann") in out and _part("file", upload, "data.bin") in out
    assert out.endswith(b"--XyZ--\r\n")
    assert json.loads(out.split(b'name="meta"\r\n\r\n')[1].split(b"\r\n")[0])["n"] == 1


def test_a_multipart_body_without_secrets_is_the_same_object() -> None:
    body = _part("file", os.urandom(5000), "x.bin") + b"--XyZ--\r\n"
    assert Redactor().body(body) is body


def test_a_form_that_starts_with_dashes_is_still_a_form() -> None:
    assert b"s3cret" not in Redactor().body(b"--flag=1&token=s3cret")


# deep input --------------------------------------------------------------------------------

def test_a_deep_json_body_with_a_token_exports_redacted_by_pattern(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = b'{"token": "deep-s3cret", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    scope = apps.http_scope("/deep", "POST", [(b"content-type", b"application/json")])
    exchange = Exchange(id="1", type="http", started_at=0.0, scope=scope, events=[
        Event(direction="receive", type="http.request", t_call=0, t_return=1,
              message={"type": "http.request", "body": body, "more_body": False})])
    path = tmp_path / "deep.jsonl"
    codec.write(codec.new_trace([exchange]), path)
    for fmt in FORMATS:
        assert main(["export", str(path), "-f", fmt]) == 0
        out, err = capsys.readouterr()
        assert err.startswith("asgi-inspect: wrote 1 exchange "), fmt
        assert "deep-s3cret" not in out and "<redacted:" in out, fmt


def _compressed(coding: str, body: bytes, *, capped: bool = False) -> Exchange:
    """A login whose request and response bodies were sent ``coding``-compressed."""
    packed = content.encoded(body, coding.encode())
    assert packed is not None
    kept = packed[:len(packed) // 2] if capped else packed
    headers = [(b"content-type", b"application/json"), (b"content-encoding", coding.encode())]
    scope = apps.http_scope("/login", "POST", headers)
    return Exchange(id="1", type="http", started_at=0.0, scope=scope, outcome="complete", events=[
        Event(direction="receive", type="http.request", t_call=0, t_return=1,
              message={"type": "http.request", "body": kept, "more_body": False}),
        Event(direction="send", type="http.response.start", t_call=2, t_return=3,
              message={"type": "http.response.start", "status": 200,
                       "headers": [[n, v] for n, v in headers]}),
        Event(direction="send", type="http.response.body", t_call=4, t_return=5,
              message={"type": "http.response.body", "body": kept, "more_body": False})],
        request=Counters(bytes=len(packed), chunks=1, kept_bytes=len(kept)),
        response=Counters(bytes=len(packed), chunks=1, kept_bytes=len(kept)))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd", "gzip, br"])
def test_secrets_inside_a_compressed_body_are_redacted_and_encoded_again(coding: str) -> None:
    body = json.dumps({"user": "ann", "password": "hunter2-gz", "items": list(range(50))})
    exchange = _compressed(coding, body.encode())
    redacted = redact_exchange(exchange)
    for direction in ("receive", "send"):
        decoded = content.body_of(redacted, direction).data
        assert b"hunter2-gz" not in decoded and PLACEHOLDER.search(decoded.decode())
        assert json.loads(decoded)["items"] == list(range(50))  # the rest is intact
    assert content.body_of(exchange, "send").data == body.encode()  # the original unchanged
    for fmt in FORMATS:
        assert "hunter2-gz" not in export([exchange], fmt), fmt


def test_a_capped_compressed_body_with_secrets_is_withheld_and_says_so() -> None:
    pad = bytes(range(256)).hex() * 40  # compresses little: half the bytes decode to text
    body = json.dumps({"password": "hunter2-gz", "pad": pad}).encode()
    redacted = redact_exchange(_compressed("gzip", body, capped=True))
    assert redacted.body("receive") == b"" and redacted.body("send") == b""
    assert any("held secrets inside its gzip encoding" in note for note in redacted.notes)
    for fmt in FORMATS:
        assert "hunter2-gz" not in export([_compressed("gzip", body, capped=True)], fmt), fmt


# free text: exceptions, output, added scope keys ---------------------------------------------

TOKEN, PASSWORD = "s3cret-bearer-tok3n", "hunter2-long"
SECRETS = (TOKEN, PASSWORD, "c5rf-v4lue-123", "r3set-tok3n-456")


async def leaky(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that repeats its secrets everywhere an exchange keeps text."""
    token = dict(scope["headers"])[b"authorization"].split()[1].decode()
    password = json.loads(await apps.read_body(receive))["password"]
    print(f"checking {token} for ann")
    logging.getLogger("auth").warning("login with password %s", password)
    scope["session"] = {"user": "ann", "csrf": "c5rf-v4lue-123"}
    scope["path_params"] = {"reset_token": "r3set-tok3n-456", "page": "2"}
    scope["endpoint"] = leaky
    try:
        raise LookupError(f"unknown token {token}")
    except LookupError as exc:
        raise RuntimeError(f"login failed for password={password}") from exc


def _leaky_scope() -> dict[str, Any]:
    return apps.http_scope("/login", "POST", [(b"authorization", f"Bearer {TOKEN}".encode()),
                                              (b"content-type", b"application/json")])


_LOGIN = [{"type": "http.request", "body": json.dumps({"user": "ann", "password": PASSWORD})
           .encode(), "more_body": False}]


async def test_exports_redact_exceptions_output_and_added_scope_keys() -> None:
    with hooked():
        _, exchange = await apps.record(leaky, _leaky_scope(), _LOGIN, capture_output=True)
    recorded = codec.exchange_line(exchange).decode()
    assert all(secret in recorded for secret in SECRETS)  # the trace itself keeps them all
    for fmt in FORMATS:
        out = export([exchange], fmt)
        assert [s for s in SECRETS if s in out] == [], fmt
    text = export([exchange], "json")
    copy = codec.loads(text).exchanges[0]
    assert copy.exception is not None and copy.exception.type == "RuntimeError"
    assert copy.exception.message.startswith("login failed for password=<redacted:")
    assert "LookupError: unknown token <redacted:" in copy.exception.traceback
    assert "in leaky" in copy.exception.traceback
    assert copy.output[0].text.startswith("checking <redacted:")
    assert copy.output[0].text.endswith(" for ann")
    assert copy.output[1].text.startswith("WARNING auth: login with password <redacted:")
    added = copy.scope_added
    assert PLACEHOLDER.fullmatch(added["session"])
    assert PLACEHOLDER.fullmatch(added["path_params"]["reset_token"])
    assert added["path_params"]["page"] == "2"
    assert isinstance(added["endpoint"], Opaque) and added["endpoint"].repr.endswith(".leaky")
    assert export([exchange], "json", redact=False).count(PASSWORD) >= 3  # kept when asked


def test_free_text_redaction_finds_pairs_and_bearer_tokens() -> None:
    redactor = Redactor()
    text = ("headers={'Authorization': 'Bearer abcdefghij', 'accept': '*/*'} "
            "url=http://x/?api_key=k3y&page=2 Bearer zzzzzzzzzzzz KeyError: 'token' "
            "author: Ann")
    out = redactor.text(text)
    for secret in ("abcdefghij", "k3y", "zzzzzzzzzzzz"):
        assert secret not in out
    assert "'accept': '*/*'" in out and "&page=2" in out
    assert "KeyError: 'token'" in out and "author: Ann" in out


async def test_capture_time_redaction_keeps_exception_text_out_of_the_trace() -> None:
    _, exchange = await apps.record(leaky, _leaky_scope(), _LOGIN, redact=True)
    recorded = codec.exchange_line(exchange).decode()
    assert [s for s in SECRETS if s in recorded] == []
    failure = exchange.exception
    assert failure is not None and failure.type == "RuntimeError"
    assert failure.message == "(redacted)"
    assert "LookupError: (redacted)" in failure.traceback
    assert "direct cause of the following exception" in failure.traceback
    assert failure.traceback.endswith("RuntimeError: (redacted)\n")
    assert "in leaky" in failure.traceback  # where it was raised stays


# private files -----------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_exports_are_written_owner_only_even_into_an_existing_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exchange = Exchange(id="1", type="http", started_at=0.0, scope=apps.http_scope())
    new, existing, by_cli = tmp_path / "new.json", tmp_path / "old.har", tmp_path / "cli.sh"
    for path in (existing, by_cli):
        path.write_text("old")
        path.chmod(0o644)
    export_to(new, [exchange])
    export_to(existing, [exchange])
    trace = tmp_path / "t.json"
    codec.write(codec.new_trace([exchange]), trace)
    assert main(["export", str(trace), "-o", str(by_cli)]) == 0
    assert [_mode(p) for p in (new, existing, by_cli)] == [0o600] * 3
    assert by_cli.read_text().startswith("# 1: GET /")


def test_an_export_to_a_pipe_or_device_leaves_its_mode_alone(tmp_path: Path) -> None:
    """-o /dev/null or a FIFO is not a file we made: chmod'ing /dev/null as root would break it
    for everyone (a FIFO stands in for the device here)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    export_to(fifo, [Exchange(id="1", type="http", started_at=0.0, scope=apps.http_scope())],
              "curl")
    reader.join(timeout=10)
    assert received == [b"# 1: GET / \xe2\x86\x92 none\ncurl http://127.0.0.1:8000/\n"]
    assert _mode(fifo) == 0o644


def test_listen_writes_its_address_file_owner_only(tmp_path: Path) -> None:
    address_file = tmp_path / "address"
    address_file.write_text("stale")
    address_file.chmod(0o644)
    child = subprocess.Popen(
        [sys.executable, "-m", "asgi_inspect", "listen", "--headless", "--address-file",
         str(address_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stderr is not None
        child.stderr.readline()  # how to connect, then the line to copy:
        printed = child.stderr.readline()  # export ASGI_INSPECT='...'
        deadline = time.monotonic() + 20
        while address_file.read_text() == "stale" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert printed.strip() == f"export ASGI_INSPECT='{address_file.read_text().strip()}'"
        assert _mode(address_file) == 0o600
    finally:
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=20)


# the listen session's address ----------------------------------------------------------------

async def test_the_listen_title_hides_the_token_and_a_key_copies_the_address() -> None:
    from asgi_inspect.tui.app import InspectorApp

    session = Session(collector=Collector())
    address = await session.open_channel()
    session.title = title_of(address)
    assert address.token not in session.title and address.location in session.title
    try:
        app = InspectorApp(session)
        async with app.run_test(size=(120, 36)) as pilot:
            assert address.token not in app.title
            await pilot.press("A")
            assert app.clipboard == str(address)
    finally:
        await session.close()
