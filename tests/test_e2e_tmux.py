"""The real terminal path: ``asgi-inspect run`` on the demo in tmux, driven with real keys."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_for_port

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
ROOT = Path(__file__).parent.parent
LIST = "─ Exchanges ─"  # the exchange list's title, hidden while the detail is maximised


def tmux(*args: str) -> str:
    result = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10,
                            check=False)
    return result.stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-J", "-t", name)


def wait_for_screen(name: str, ready: Callable[[str], bool], what: str,
                    timeout: float = 60.0) -> str:
    """The screen once ``ready(screen)`` holds; the timeout only stops a hung test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(name)
        if ready(shown):
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{what} never showed; the screen was:\n{screen(name)}")


def wait_for_text(name: str, text: str) -> str:
    return wait_for_screen(name, lambda shown: text in shown, repr(text))


@pytest.fixture
def inspector_in_tmux() -> Iterator[tuple[str, int]]:
    name, port = f"asgi-inspect-e2e-{uuid.uuid4().hex[:8]}", free_port()
    command = f"{sys.executable} -m asgi_inspect run --port {port}"
    tmux("new-session", "-d", "-s", name, "-x", "150", "-y", "40", "-c", str(ROOT),
         "-e", "TERM=xterm-256color", "-e", "TEXTUAL_ANIMATIONS=none", command)
    tmux("set-option", "-t", name, "escape-time", "0")
    try:
        yield name, port
    finally:
        tmux("kill-session", "-t", name)


def test_run_shows_live_traffic_and_quits(inspector_in_tmux: tuple[str, int]) -> None:
    name, port = inspector_in_tmux
    wait_for_port(port, timeout=30)
    wait_for_text(name, f"127.0.0.1:{port}")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/api/items").status_code == 200
        assert client.post("/api/items", json={"name": "Lamp", "price": 3}).status_code == 201
        assert client.get("/status/418").status_code == 418
    shown = wait_for_text(name, "/status/418")
    assert "/api/items" in shown and "418" in shown
    tmux("send-keys", "-t", name, "G")
    tmux("send-keys", "-t", name, "Enter")
    wait_for_screen(name, lambda shown: LIST not in shown and "Overview" in shown,
                    "the detail, maximised")
    tmux("send-keys", "-t", name, "Escape")
    # q only once the app has read Escape: read together, they are Alt+q.
    wait_for_text(name, LIST)
    tmux("send-keys", "-t", name, "q")
    # the exchanges were not saved anywhere: q asks first
    wait_for_text(name, "Quit anyway")
    tmux("send-keys", "-t", name, "y")
    deadline = time.monotonic() + 60  # only stops a hung test
    while time.monotonic() < deadline and name in tmux("list-sessions", "-F", "#S"):
        time.sleep(0.1)
    assert name not in tmux("list-sessions", "-F", "#S"), screen(name)
    with pytest.raises(httpx.ConnectError):  # quitting also stopped the app's server
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
