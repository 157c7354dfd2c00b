"""Recordings and other files that may hold secrets are owner-only (0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from asgi_inspect.formats import codec
from asgi_inspect.record.files import open_private, write_private
from tests.tui.factory import http_exchange


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask gives 0600
    try:
        write_private(tmp_path / "new", "token")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new") == 0o600
    assert (tmp_path / "new").read_text() == "token"


def test_an_existing_readable_file_is_made_owner_only_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_bytes(b"previous content")
    path.chmod(0o644)
    write_private(path, b"new")
    assert mode(path) == 0o600
    assert path.read_bytes() == b"new"


def test_append_keeps_what_is_there_and_makes_it_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"line 1\n")
    path.chmod(0o666)
    with open_private(path, append=True) as file:
        file.write(b"line 2\n")
    assert mode(path) == 0o600
    assert path.read_bytes() == b"line 1\nline 2\n"


def test_traces_written_through_the_api_are_owner_only(tmp_path: Path) -> None:
    for name in ("replays.json", "replays.jsonl"):
        path = tmp_path / name
        path.write_bytes(b"")
        path.chmod(0o644)
        codec.write(codec.new_trace([http_exchange("1")]), path)
        assert mode(path) == 0o600
        assert codec.loads(path.read_bytes()).exchanges[0].id == "1"
