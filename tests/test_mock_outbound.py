"""``--mock-outbound`` (issue 13, point 6): a session recorded against a live upstream replays
in-process with the upstream stopped, its outbound calls (httpx sync and async, requests,
urllib3, aiohttp) answered from the recording; a call with no recording is named."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from asgi_inspect import inside, read
from asgi_inspect.cli.main import main
from asgi_inspect.model import OutboundCall
from asgi_inspect.ops.replay import replay
from asgi_inspect.record.inside.calls import Answers
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.replay.driver import InProcessReplayer, unanswered
from tests.outbound_app import app as outbound_app
from tests.servers import uvicorn_server
from tests.test_inside_http import UPSTREAM

TARGETS = ["/httpx-sync?n=1", "/httpx-async", "/requests", "/urllib3", "/aiohttp"]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A session recorded against a live upstream, which is stopped before the tests run."""
    path = tmp_path_factory.mktemp("mock") / "session.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        with uvicorn_server(UPSTREAM) as upstream:
            patch.setenv("OUTBOUND_UPSTREAM", upstream)
            inspector = Inspector(outbound_app, str(path), capture_calls=True,
                                  max_body=256 * 1024)
            with uvicorn_server(inspector, lifespan="off") as url, httpx.Client() as client:
                for target in TARGETS:
                    method = "POST" if target == "/httpx-async" else "GET"
                    assert client.request(method, url + target, content=b"hi" if
                                          method == "POST" else None).status_code == 200
            time.sleep(0.1)  # the last batch leaves on the recorder's 20 ms timer
            inspector.close()
        yield path, upstream  # the upstream is stopped: nothing answers there now


def test_replay_answers_every_call_from_the_recording(
        session: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, upstream = session
    monkeypatch.setenv("OUTBOUND_UPSTREAM", upstream)
    with pytest.raises(httpx.ConnectError):
        httpx.get(upstream)  # really gone
    out = tmp_path / "replays.jsonl"
    code = main(["replay", str(path), "--app", "tests.outbound_app:app", "--mock-outbound",
                 "-o", str(out)])
    report = capsys.readouterr().out
    assert code == 0, report
    assert f"{len(TARGETS)} replayed, 0 differ or failed" in report
    originals = {e.id: e for e in read(path).exchanges}
    for again in read(out).exchanges:
        (call,) = inside.calls(again)
        (recorded,) = inside.calls(originals[again.replay_of or ""])
        assert call.mocked and not recorded.mocked
        assert (call.library, call.method, call.url, call.status) == (
            recorded.library, recorded.method, recorded.url, recorded.status)
        assert call.response_size == recorded.response_size  # kept up to the replay's cap:
        assert recorded.response_body.startswith(call.response_body)  # 64 KiB by default
        assert again.body("send") == originals[again.replay_of or ""].body("send")


def test_a_call_without_recording_fails_and_is_named(
        session: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, upstream = session
    monkeypatch.setenv("OUTBOUND_UPSTREAM", upstream)
    monkeypatch.setenv("OUTBOUND_EXTRA", "1")  # the app now makes one more call
    code = main(["replay", str(path), "--app", "tests.outbound_app:app", "--mock-outbound",
                 "--filter", "~m POST", "-o", str(tmp_path / "replays.jsonl")])
    report = capsys.readouterr().out
    assert code == 1
    assert (f"asgi-inspect --mock-outbound: no recorded response for GET {upstream}/extra"
            in report)
    (again,) = read(tmp_path / "replays.jsonl").exchanges
    assert again.status == 500 and again.exception is not None
    assert again.exception.type == "httpx.ConnectError"
    failed = inside.calls(again)[-1]
    assert failed.mocked and failed.error is not None and "/extra" in failed.error


async def test_the_python_api_and_view_replayer(session: tuple[Path, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path, upstream = session
    monkeypatch.setenv("OUTBOUND_UPSTREAM", upstream)
    replayer = InProcessReplayer(outbound_app, "outbound_app", mock_outbound=True)
    exchanges = [e for e in read(path).exchanges if e.path == "/aiohttp"]
    outcomes = [outcome async for outcome in replay(replayer, exchanges)]
    await replayer.close()
    (outcome,) = outcomes
    assert outcome.replay is not None and outcome.diff is not None
    assert not outcome.differs and not unanswered(outcome.replay)
    assert inside.calls(outcome.replay)[0].mocked


async def test_each_library_fails_its_own_way_without_a_recording(
        session: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    path, upstream = session
    monkeypatch.setenv("OUTBOUND_UPSTREAM", upstream)
    raised = {"/httpx-sync?n=1": "httpx.ConnectError",
              "/requests": "requests.exceptions.ConnectionError",
              "/urllib3": "urllib3.exceptions.MaxRetryError",
              "/aiohttp": "aiohttp.client_exceptions.ClientConnectorError"}
    forgotten = [msgspec.structs.replace(e, inside=[]) for e in read(path).exchanges
                 if e.path in raised]  # as if the original had made no call
    replayer = InProcessReplayer(outbound_app, "outbound_app", mock_outbound=True)
    outcomes = [outcome async for outcome in replay(replayer, forgotten)]
    await replayer.close()
    assert len(outcomes) == len(raised)
    for outcome in outcomes:
        again = outcome.replay
        assert again is not None and again.status == 500 and again.exception is not None
        assert again.exception.type == raised[outcome.original.path]
        (named,) = unanswered(again)
        assert named.startswith("asgi-inspect --mock-outbound: no recorded response for ")
        assert named.endswith(inside.calls(again)[0].url)


def test_mock_outbound_needs_an_app(session: tuple[Path, str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = session
    for command in ("replay", "view"):
        assert main([command, str(path), "--url", "http://127.0.0.1:9",
                     "--mock-outbound"]) == 2
        assert "--mock-outbound needs --app" in capsys.readouterr().err


def test_repeated_calls_are_answered_in_order() -> None:
    def made(status: int) -> OutboundCall:
        return OutboundCall(library="httpx", method="GET", url="http://up/x", t_start=0,
                            status=status)

    answers = Answers([made(200), made(404)])
    assert [getattr(answers.take("get", "http://up/x"), "status", None)
            for _ in range(3)] == [200, 404, None]
    assert answers.take("POST", "http://up/x") is None
    assert answers.missing == [
        "asgi-inspect --mock-outbound: no recorded response for GET http://up/x",
        "asgi-inspect --mock-outbound: no recorded response for POST http://up/x"]


def test_a_recorded_failure_fails_again() -> None:
    failed = OutboundCall(library="httpx", method="GET", url="http://up/x", t_start=0,
                          error="ReadTimeout: timed out")
    answers = Answers([failed])
    taken = answers.take("GET", "http://up/x")
    assert taken is failed and not answers.missing
    assert Answers.refusal("GET", "http://up/x", taken) == (
        "asgi-inspect --mock-outbound: the recorded GET http://up/x failed: "
        "ReadTimeout: timed out")


def test_each_replay_gets_its_own_answers(session: tuple[Path, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every replay of an exchange is answered from its original's calls afresh (aiohttp's
    mocked connection closes after its answer: nothing stale is reused)."""
    path, upstream = session
    monkeypatch.setenv("OUTBOUND_UPSTREAM", upstream)

    async def twice() -> list[bool]:
        replayer = InProcessReplayer(outbound_app, "outbound_app", mock_outbound=True)
        chosen = [e for e in read(path).exchanges if e.path in ("/aiohttp", "/httpx-async")]
        try:
            return [o.replay is not None and not o.differs
                    async for o in replay(replayer, chosen * 2)]
        finally:
            await replayer.close()

    assert asyncio.run(twice()) == [True] * 4
