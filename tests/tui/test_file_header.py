"""``view FILE``: the header counts what the file says was lost, not a live drop counter of 0.

A recording ends with a stats line (records dropped on the way, recorder errors); lines a
crash or a full disk damaged are left out as the file is read. Both show in the header,
highlighted, as the live drop counter does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asgi_inspect.cli.main import build_parser
from asgi_inspect.cli.view import open_session, viewer
from asgi_inspect.formats import codec
from tests.tui.factory import sample_exchanges

SIZE = (160, 30)


def recording(path: Path, *, damaged: bool) -> Path:
    """A JSONL recording of three exchanges whose stats line says 5 records were dropped and
    1 recorder error happened; with ``damaged``, its second exchange's line is cut short."""
    lines = [codec.header_line(), *(codec.exchange_line(e) for e in sample_exchanges(3))]
    if damaged:
        lines[2] = lines[2][:40] + b"\n"
    path.write_bytes(b"".join([*lines, codec.stats_line(5, 1)]))
    return path


async def header_of(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The header of ``asgi-inspect view PATH`` as it first shows, and the warnings."""
    session = open_session(build_parser().parse_args(["view", str(path)]))
    app = viewer(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        return str(app.header.render()), capsys.readouterr().err


async def test_the_header_shows_the_files_drops_and_skipped_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header, warnings = await header_of(recording(tmp_path / "cut.jsonl", damaged=True), capsys)
    assert "2 exchanges" in header and " 6 dropped " in header and " 1 skipped " in header
    assert "line 3: " in warnings


async def test_an_intact_file_skips_nothing(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    header, warnings = await header_of(recording(tmp_path / "ok.jsonl", damaged=False), capsys)
    assert "3 exchanges" in header and " 6 dropped " in header and "skipped" not in header
    assert warnings == ""
