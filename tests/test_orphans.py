"""No orphans: however the inspector ends, its server child (uvicorn's reloader and its worker)
goes with it and the port is free again.

Each test starts ``asgi-inspect run <tiny app> --reload`` for real, waits until the worker
answers, ends the inspector one way, and polls (bounded) until no process of the tree is left.
The inspector is not reaped before that: an unreaped (zombie) inspector is what the server's
old parent watch could not tell from a live one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_for_port

TINY_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"tiny"})
'''
GONE_WITHIN = 20.0  # seconds: a generous bound for the whole tree to stop, not a timing


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def _live(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie runs nothing and holds no port)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _descendants(root: int) -> set[int]:
    """Every process under ``root`` (children, their children...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents[int(entry)] = stat[1]
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until_gone(pids: set[int], port: int) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        if not any(_live(pid) for pid in pids) and _port_free(port):
            return
        time.sleep(0.1)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids if _live(pid)}
    raise AssertionError(f"left behind: {left}; port {port} free: {_port_free(port)}")


@pytest.fixture
def tiny_app(tmp_path: Path) -> Path:
    """A directory holding ``tiny.py`` (``--reload`` watches only it, not the repository)."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    return tmp_path


def _server_tree(inspector: int, port: int) -> set[int]:
    """Wait until the reloaded worker answers; the inspector's descendants then."""
    wait_for_port(port, timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text == "tiny":
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    tree = _descendants(inspector)
    assert len(tree) >= 2, tree  # the reloader and its worker (and a resource tracker)
    return tree


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGHUP", "SIGTERM", "SIGKILL"])
def test_reload_server_never_outlives_the_headless_inspector(tiny_app: Path,
                                                             sig: signal.Signals) -> None:
    port = free_port()
    inspector = subprocess.Popen(
        [sys.executable, "-m", "asgi_inspect", "run", "tiny:app", "--app-dir", str(tiny_app),
         "--reload", "--headless", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        tree = _server_tree(inspector.pid, port)
        inspector.send_signal(sig)
        _wait_until_gone(tree, port)  # the inspector is not reaped yet
        code = inspector.wait(timeout=GONE_WITHIN)
        if sig != signal.SIGKILL:  # a clean stop: the same clean-up as Ctrl+C
            assert code == 0, inspector.stderr.read() if inspector.stderr else code
    finally:
        if inspector.poll() is None:
            inspector.kill()
            inspector.wait()


def test_a_stop_while_the_server_starts_cleans_up_too(tiny_app: Path) -> None:
    port = free_port()
    inspector = subprocess.Popen(
        [sys.executable, "-m", "asgi_inspect", "run", "tiny:app", "--app-dir", str(tiny_app),
         "--reload", "--headless", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tree := _descendants(inspector.pid)):  # the server child exists
            assert time.monotonic() < deadline, "no server child"
            time.sleep(0.01)
        inspector.send_signal(signal.SIGTERM)  # before it listens: the same clean stop
        _wait_until_gone(tree, port)
        code = inspector.wait(timeout=GONE_WITHIN)
        assert code == 0, inspector.stderr.read() if inspector.stderr else code
    finally:
        if inspector.poll() is None:
            inspector.kill()
            inspector.wait()


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10,
                          check=False).stdout


@pytest.fixture
def tui_in_tmux(tiny_app: Path) -> Iterator[tuple[str, int, int]]:
    """The inspector's TUI in a tmux session: (session name, inspector pid, port)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    name, port = f"asgi-inspect-orphans-{uuid.uuid4().hex[:8]}", free_port()
    command = (f"exec {sys.executable} -m asgi_inspect run tiny:app --app-dir {tiny_app} "
               f"--reload --port {port}")
    environment = [f"{key}={os.environ.get(key, '')}" for key in ("PATH", "PYTHONPATH")]
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "30", "-e", "TERM=xterm-256color",
         "-e", "TEXTUAL_ANIMATIONS=none", "-e", environment[0], "-e", environment[1], command)
    pid = int(tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())
    try:
        yield name, pid, port
    finally:
        tmux("kill-session", "-t", name)


def _tui_tree(name: str, inspector: int, port: int) -> set[int]:
    """The whole tree, once the TUI is up and has seen the worker's first exchange (keys
    pressed before it takes the terminal would reach the terminal's own line discipline)."""
    tree = _server_tree(inspector, port) | {inspector}
    deadline = time.monotonic() + 30
    while "● running" not in (shown := tmux("capture-pane", "-p", "-t", name)):
        assert time.monotonic() < deadline, shown
        time.sleep(0.1)
    return tree


def test_closing_the_terminal_stops_the_tui_and_its_server(
        tui_in_tmux: tuple[str, int, int]) -> None:
    name, inspector, port = tui_in_tmux
    tree = _tui_tree(name, inspector, port)
    tmux("kill-session", "-t", name)  # the terminal goes away: SIGHUP
    _wait_until_gone(tree, port)


def test_ctrl_c_quits_the_tui_like_q(tui_in_tmux: tuple[str, int, int]) -> None:
    name, inspector, port = tui_in_tmux
    tree = _tui_tree(name, inspector, port)
    tmux("send-keys", "-t", name, "C-c")
    _wait_until_gone(tree, port)
