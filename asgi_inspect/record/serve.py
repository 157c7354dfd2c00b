"""The server child's side of ``asgi-inspect run``: load the user's app and wrap it.

uvicorn runs ``asgi_inspect.record.serve:inspected_app`` as a factory, so reload and workers
behave as uvicorn users expect, and every worker process wraps its own app in the recorder.
What to load and how comes from the environment set by ``runtime/runner.py``, which starts
uvicorn's command line through :func:`main` so that the server dies with the inspector.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from uvicorn.importer import ImportFromStringError, import_from_string

from asgi_inspect.model import DEFAULT_MAX_BODY, DEFAULT_MAX_EVENTS
from asgi_inspect.record import inside, output
from asgi_inspect.record.middleware import Inspector
from asgi_inspect.types import ASGIApp, Receive, Scope, Send

ENV_TARGET = "ASGI_INSPECT_TARGET"
ENV_FACTORY = "ASGI_INSPECT_FACTORY"
ENV_APP_DIR = "ASGI_INSPECT_APP_DIR"
ENV_MAX_BODY = "ASGI_INSPECT_MAX_BODY"
ENV_MAX_EVENTS = "ASGI_INSPECT_MAX_EVENTS"
ENV_REDACT = "ASGI_INSPECT_REDACT"
ENV_PARENT = "ASGI_INSPECT_PARENT"  # the inspector's pid: the server stops when it is gone
ENV_RECORD_LIFESPAN = "ASGI_INSPECT_RECORD_LIFESPAN"  # "0": the app's lifespan is not traffic
ERROR_PREFIX = "asgi-inspect: error: "
PARENT_POLL = 0.5  # seconds between two looks at whether the parent is still there
STOP_GRACE = 5.0  # seconds an orphaned server has to stop gracefully before it is killed
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
_watching = False  # this process already watches its parent


def main() -> None:
    """The server child's entry point: uvicorn's command line, in a process that stops when
    the inspector that started it goes away, however it ends (even SIGKILL)."""
    parent = os.environ.get(ENV_PARENT, "")
    if parent.isdigit():
        _watch_parent(int(parent))
    from uvicorn.main import main as uvicorn_main

    uvicorn_main(prog_name="uvicorn")


def load_app(target: str, *, factory: bool = False, app_dir: str = "") -> Any:
    """Import ``module:attr`` the way uvicorn does (and call it when it is a factory)."""
    if app_dir:
        sys.path.insert(0, os.path.abspath(app_dir))
    app = import_from_string(target)
    return app() if factory else app


def inspected_app() -> ASGIApp:
    """uvicorn factory: the target app wrapped in an :class:`Inspector` fed to the collector."""
    target = os.environ.get(ENV_TARGET, "")
    app_dir = os.environ.get(ENV_APP_DIR, "")
    inside.install()  # before the app's modules run: connections made at import are seen too
    try:
        app = load_app(target, factory=os.environ.get(ENV_FACTORY) == "1", app_dir=app_dir)
    except ImportFromStringError as exc:
        _fail(str(exc).rstrip("."))
    except Exception as exc:  # the user's module failed while importing: the traceback for
        traceback.print_exc()  # the Logs pane, one line naming the failing line for the rest
        _fail(load_failure(exc, app_dir or "."))
    if os.environ.get(ENV_PARENT, "").isdigit():  # started by the inspector: die with it
        _watch_parent(os.getppid())  # the reloader or supervisor, or the inspector itself
    inspector = Inspector(app, max_body=int(os.environ.get(ENV_MAX_BODY, DEFAULT_MAX_BODY)),
                          max_events=int(os.environ.get(ENV_MAX_EVENTS, DEFAULT_MAX_EVENTS)),
                          redact=os.environ.get(ENV_REDACT) == "1", capture_output=True,
                          capture_calls=True)
    if inspector.capture_output:  # off while redacting
        output.install()  # prints and log records, attributed to the exchange being handled
    if os.environ.get(ENV_RECORD_LIFESPAN) == "0":
        return _lifespan_unrecorded(inspector)
    return inspector


def _lifespan_unrecorded(inspector: Inspector) -> ASGIApp:
    """The app with its lifespan left out of the recording (the proxy's own start-up is not
    its upstream's traffic); the recorder still closes once the lifespan has ended, as it
    would on a recorded shutdown, so its last batch reaches the inspector."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await inspector(scope, receive, send)
            return
        await inspector.app(scope, receive, send)
        inspector.close()

    return app


def load_failure(exc: BaseException, app_dir: str) -> str:
    """One line for an app that failed while loading, naming the failing line of the user's
    code: ``SyntaxError in app.py:12: invalid syntax``. :func:`error_summary` is its head."""
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    where = _failing_line(exc, os.path.abspath(app_dir))
    head = f"{type(exc).__name__} in {where}" if where else type(exc).__name__
    return f"{head}: {message}" if message else head


def error_summary(error: str) -> str:
    """The head of a :func:`load_failure` line (what failed, where), short enough for a
    status line."""
    return error.partition(": ")[0]


def _failing_line(exc: BaseException, app_dir: str) -> str | None:
    """``file:line`` of the failure: a syntax error's own place, else the deepest frame in
    the app's directory (the user's code, not the import machinery), else the deepest."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{_shown_path(exc.filename)}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    mine = [f for f in frames if f.filename.startswith(app_dir + os.sep)]
    if not (mine or frames):
        return None
    frame = (mine or frames)[-1]
    return f"{_shown_path(frame.filename)}:{frame.lineno}"


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies under it, else as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _watch_parent(parent: int) -> None:
    """Stop the whole server (reloader and workers) when ``parent`` is no longer this process's
    parent: an orphaned server would keep the port and the app running unseen.

    A dead parent's children are re-parented at once, even while it is an unreaped zombie, so
    ``getppid()`` tells what a ``kill(pid, 0)`` cannot. On Linux the kernel also sends SIGTERM
    (uvicorn's graceful stop) the moment the parent dies; the watch covers other systems, a
    parent that died before that was set, and a graceful stop that hangs (then SIGKILL).
    """
    global _watching
    if _watching:
        return
    _watching = True
    _die_with_parent()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        group = os.getpgid(0)
        os.killpg(group, signal.SIGINT)
        time.sleep(STOP_GRACE)
        os.killpg(group, signal.SIGKILL)

    threading.Thread(target=watch, name="asgi-inspect-parent-watch", daemon=True).start()


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM when the parent dies (``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: the watch alone does it
        pass


def _fail(message: str) -> Any:
    print(f"{ERROR_PREFIX}{message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
