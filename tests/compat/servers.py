"""Serve a compat app under uvicorn, hypercorn or daphne in a subprocess on 127.0.0.1.

A subprocess per server keeps each framework's global state (Django settings, Sanic's app
registry) out of the test process. Stopping it with a signal is what a process manager (or
Ctrl-C) does: the server shuts down gracefully, the interpreter exits, and ``Inspector.close()``
(registered with ``atexit``) finishes the JSONL trace the test then reads (see ``GRACEFUL_STOP``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.compat import TRACE_ENV
from tests.servers import free_port

SERVERS = ("uvicorn", "hypercorn", "daphne")

# The signal that shuts each server down gracefully *and* lets the interpreter exit normally, so
# that atexit handlers run. uvicorn (``Server.capture_signals``) re-raises a caught SIGTERM with
# the default handler once it has shut down, so the process dies by the signal and atexit never
# runs; after a SIGINT it raises KeyboardInterrupt instead, which unwinds normally. hypercorn's
# worker exits through multiprocessing's spawn_main (sys.exit); daphne returns from the reactor.
GRACEFUL_STOP = {"uvicorn": signal.SIGINT, "hypercorn": signal.SIGTERM, "daphne": signal.SIGTERM}
ROOT = Path(__file__).resolve().parents[2]


class ServerError(AssertionError):
    """The server did not start or stop as it should; the message ends with its log."""


def command(server: str, target: str, port: int) -> list[str]:
    """The command line that serves ``target`` (``module:attr``) with ``server``, defaults kept."""
    python = [sys.executable, "-m", server]
    if server == "uvicorn":
        return [*python, target, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]
    if server == "hypercorn":
        return [*python, target, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if server == "daphne":
        return [*python, "-b", "127.0.0.1", "-p", str(port), "-v", "0", target]
    raise ValueError(f"unknown server: {server}")


class Served:
    """One server process serving one compat app, and where its trace and log go."""

    def __init__(self, server: str, framework: str, workdir: Path) -> None:
        self.server = server
        self.port = free_port()
        self.trace_path = workdir / f"{framework}-{server}.jsonl"
        self.log_path = workdir / f"{framework}-{server}.log"
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, TRACE_ENV: str(self.trace_path), "PYTHONPATH": os.pathsep.join(paths)}
        env.pop("ASGI_INSPECT", None)  # the app records to the file, not to a live collector
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command(server, f"tests.compat.app_{framework}:app", self.port), cwd=ROOT,
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def fail(self, what: str) -> ServerError:
        return ServerError(f"{self.server} {what}; its log:\n{self.log()[-4000:]}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the port accepts connections, failing at once if the server died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.fail(f"exited with {self.process.returncode} before serving")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise self.fail(f"did not listen on port {self.port} within {timeout} s")

    def stop(self, sig: signal.Signals | None = None, timeout: float = 30.0) -> int:
        """Shut the server down (by default gracefully, see GRACEFUL_STOP); its exit code."""
        sig = sig or GRACEFUL_STOP[self.server]
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise self.fail(f"did not exit within {timeout} s of {sig.name}") from None

    def kill(self) -> None:
        """Kill the server and any worker it spawned (its own session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextlib.contextmanager
def serving(server: str, framework: str, workdir: Path) -> Iterator[Served]:
    """Serve the framework's compat app; the caller stops it, or it is killed on the way out."""
    served = Served(server, framework, workdir)
    try:
        served.wait_ready()
        yield served
    finally:
        if served.process.poll() is None:
            served.kill()
