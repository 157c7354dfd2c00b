"""One export for every caller: the TUI's ``x`` and ``y``, ``asgi-inspect export`` and the
Python API write the same bytes for the same exchanges and options, redacted by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, RadioButton

import asgi_inspect
from asgi_inspect.cli.main import main
from asgi_inspect.formats import codec
from asgi_inspect.ops.export import FORMATS
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from asgi_inspect.tui.screens.export import ExportScreen
from tests.tui.factory import http_exchange, showcase

SECRETS = (b"Bearer s3cret-token", b"hunter2")


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    """A saved trace whose exchanges carry secrets in a header and in a JSON body."""
    secret = http_exchange("100", method="POST", path="/login",
                           request_body=b'{"user": "ann", "password": "hunter2"}',
                           extra_headers=[[b"authorization", b"Bearer s3cret-token"]])
    path = tmp_path / "session.json"
    codec.write(codec.new_trace([*showcase(), secret]), path)
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> bytes:
    assert main(["export", *argv]) == 0
    return capsys.readouterr().out.encode("utf-8")


async def _tui_export(app: InspectorApp, path: Path, fmt: str, *, redact: bool) -> bytes:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("x")
        assert isinstance(app.screen, ExportScreen)
        buttons = {b.name: b for b in app.screen.query(RadioButton)}
        await pilot.click(buttons[fmt])
        await pilot.click(buttons["shown"])
        app.screen.query_one("#redact", Checkbox).value = redact
        app.screen.query_one("#path", Input).value = str(path)
        await pilot.click("#export")
        await pilot.pause()
    return path.read_bytes()


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "kept"])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_tui_cli_and_api_export_the_same_bytes(
        trace_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str,
        redact: bool) -> None:
    trace = asgi_inspect.read(trace_file)
    session = Session.offline(trace, title="parity")
    ui = await _tui_export(InspectorApp(session), tmp_path / f"out.{fmt}", fmt, redact=redact)
    cli = _cli(capsys, str(trace_file), "-f", fmt, *(() if redact else ("--no-redact",)))
    api = asgi_inspect.export(asgi_inspect.read(trace_file).exchanges, fmt, redact=redact,
                              header=trace).encode("utf-8")
    assert ui == cli == api
    leaked = [s for s in SECRETS if s in ui]
    assert leaked == ([] if redact else list(SECRETS))


async def test_copy_as_curl_is_the_export_of_the_focused_exchange(trace_file: Path) -> None:
    session = Session.offline(asgi_inspect.read(trace_file), title="parity")
    app = InspectorApp(session)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("G", "y")
        focused = app.view.focused()
        assert focused is not None and focused.id == "100"
        assert app.clipboard == asgi_inspect.export([focused], "curl")
        assert "s3cret-token" not in app.clipboard and "hunter2" not in app.clipboard
