"""Starts and watches the server child process of ``asgi-inspect run`` and ``proxy``.

The app runs under uvicorn in its own process so that its CPU work, blocking calls, crashes and
reloads never freeze or kill the TUI, and its stdout/stderr land in the logs pane instead of on
the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from asgi_inspect.model import DEFAULT_MAX_BODY, DEFAULT_MAX_EVENTS
from asgi_inspect.record import serve

# uvicorn's command line, run so that the server dies with the inspector (see serve.main)
SERVER_MAIN = "from asgi_inspect.record.serve import main; main()"
# What uvicorn logs once a (re)started server process has loaded the app.
APP_LOADED = "Started server process"

@dataclass
class ServerSpec:
    """What to serve and how; the options mirror uvicorn's."""

    target: str = "asgi_inspect.demo:app"
    host: str = "127.0.0.1"
    port: int = 8000
    reload: bool = False
    factory: bool = False
    app_dir: str = "."
    root_path: str = ""
    max_body: int = DEFAULT_MAX_BODY
    max_events: int = DEFAULT_MAX_EVENTS
    redact: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # more uvicorn options

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}{self.root_path}"

    def command(self) -> list[str]:
        argv = [sys.executable, "-c", SERVER_MAIN, "asgi_inspect.record.serve:inspected_app",
                "--factory", "--host", self.host, "--port", str(self.port)]
        if self.reload:
            argv += ["--reload", "--reload-dir", os.path.abspath(self.app_dir)]
        if self.root_path:
            argv += ["--root-path", self.root_path]
        return argv + self.extra_args

    def environment(self, collector_address: str) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1", ASGI_INSPECT=collector_address)
        env[serve.ENV_PARENT] = str(os.getpid())
        env[serve.ENV_TARGET] = self.target
        env[serve.ENV_FACTORY] = "1" if self.factory else "0"
        env[serve.ENV_APP_DIR] = os.path.abspath(self.app_dir)
        env[serve.ENV_MAX_BODY] = str(self.max_body)
        env[serve.ENV_MAX_EVENTS] = str(self.max_events)
        env[serve.ENV_REDACT] = "1" if self.redact else "0"
        env.update(self.extra_env)
        return env


class ServerProcess:
    """One uvicorn child; ``state`` is starting, running, stopped or "exited (code N)"."""

    def __init__(self, spec: ServerSpec, collector_address: str) -> None:
        self.spec = spec
        self.collector_address = collector_address
        self.state = "stopped"
        self.error: str | None = None  # the one-line reason it failed to start, if any
        # Under --reload, why the reloaded app did not load (``SyntaxError in app.py:12``):
        # the reloader lives on and holds the port, but nothing answers until the next save.
        self.reload_error: str | None = None
        # Under --reload, the worker that died (os._exit, a signal): the reloader starts no
        # other until the next save, and nothing answers meanwhile.
        self.dead_worker: int | None = None
        self.on_output: Callable[[str, str], None] = lambda stream, text: None
        self.on_exit: Callable[[int], None] = lambda code: None  # however it ended
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        self.state, self.error, self.reload_error = "starting", None, None
        self.dead_worker = None
        self._process = await asyncio.create_subprocess_exec(
            *self.spec.command(), env=self.spec.environment(self.collector_address),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        process = self._process
        self._tasks = [asyncio.create_task(self._pump(process.stdout, "stdout")),
                       asyncio.create_task(self._pump(process.stderr, "stderr")),
                       asyncio.create_task(self._watch(process))]

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        """True once the port accepts connections; False if the process exited first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._process is None or self._process.returncode is not None:
                await asyncio.gather(*self._tasks, return_exceptions=True)
                return False
            if await _port_open(self.spec.host, self.spec.port):
                self.state = "running"
                return True
            await asyncio.sleep(0.05)
        self.error = f"the server did not start listening within {timeout:.0f} s"
        return False

    async def _pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        assert stream is not None
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith(serve.ERROR_PREFIX):
                self.error = text[len(serve.ERROR_PREFIX):]
                if self.spec.reload:
                    self.reload_error = serve.error_summary(self.error)
            elif APP_LOADED in text:
                self.reload_error = self.dead_worker = None
            self.on_output(name, text)

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if process is self._process and self.state != "stopping":
            self.state = f"exited ({code})"
            self.on_output("inspector", f"server process {process.pid} exited with code {code}")
        self.on_exit(code)

    async def stop(self, timeout: float = 5.0) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            self.state = "stopped"
            return
        self.state = "stopping"
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                await asyncio.wait_for(process.wait(), timeout)
                break
            except TimeoutError:
                continue
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.state = "stopped"

    async def restart(self) -> None:
        await self.stop()
        self.on_output("inspector", "restarting the server")
        await self.start()


async def _port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        _, writer = await asyncio.open_connection(target, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def bind_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (checked before starting, for a
    one-line error rather than uvicorn's traceback), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use; choose another --port"
            reason = exc.strerror or str(exc)
            return f"cannot listen on {host}:{port} ({reason}); check --host"
    return None
