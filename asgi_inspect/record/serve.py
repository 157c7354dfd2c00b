"""The server child's side of ``asgi-inspect run``: load the user's app and wrap it.

uvicorn runs ``asgi_inspect.record.serve:inspected_app`` as a factory, so reload and workers
behave as uvicorn users expect, and every worker process wraps its own app in the recorder.
What to load and how comes from the environment set by ``runtime/runner.py``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from uvicorn.importer import ImportFromStringError, import_from_string

from asgi_inspect.model import DEFAULT_MAX_BODY, DEFAULT_MAX_EVENTS
from asgi_inspect.record import output
from asgi_inspect.record.middleware import Inspector

ENV_TARGET = "ASGI_INSPECT_TARGET"
ENV_FACTORY = "ASGI_INSPECT_FACTORY"
ENV_APP_DIR = "ASGI_INSPECT_APP_DIR"
ENV_MAX_BODY = "ASGI_INSPECT_MAX_BODY"
ENV_MAX_EVENTS = "ASGI_INSPECT_MAX_EVENTS"
ENV_REDACT = "ASGI_INSPECT_REDACT"
ENV_PARENT = "ASGI_INSPECT_PARENT"  # the inspector's pid: the server stops when it is gone
ERROR_PREFIX = "asgi-inspect: error: "


def load_app(target: str, *, factory: bool = False, app_dir: str = "") -> Any:
    """Import ``module:attr`` the way uvicorn does (and call it when it is a factory)."""
    if app_dir:
        sys.path.insert(0, os.path.abspath(app_dir))
    app = import_from_string(target)
    return app() if factory else app


def inspected_app() -> Inspector:
    """uvicorn factory: the target app wrapped in an :class:`Inspector` fed to the collector."""
    target = os.environ.get(ENV_TARGET, "")
    try:
        app = load_app(target, factory=os.environ.get(ENV_FACTORY) == "1",
                       app_dir=os.environ.get(ENV_APP_DIR, ""))
    except ImportFromStringError as exc:
        _fail(str(exc).rstrip("."))
    except Exception as exc:  # the user's module failed while importing: say where, briefly
        import traceback

        traceback.print_exc()
        _fail(f"loading {target!r} raised {type(exc).__name__}: {exc}")
    _watch_parent(os.environ.get(ENV_PARENT, ""))
    inspector = Inspector(app, max_body=int(os.environ.get(ENV_MAX_BODY, DEFAULT_MAX_BODY)),
                          max_events=int(os.environ.get(ENV_MAX_EVENTS, DEFAULT_MAX_EVENTS)),
                          redact=os.environ.get(ENV_REDACT) == "1", capture_output=True)
    if inspector.capture_output:  # off while redacting
        output.install()  # prints and log records, attributed to the exchange being handled
    return inspector


def _watch_parent(pid: str) -> None:
    """Stop the whole server (reloader and workers) gracefully if the inspector dies, even
    by SIGKILL: an orphaned server would keep the port and the app running unseen."""
    if not pid.isdigit():
        return

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                os.killpg(os.getpgid(0), signal.SIGINT)
                return
            except PermissionError:  # the pid was reused by someone else's process
                return

    threading.Thread(target=watch, name="asgi-inspect-parent-watch", daemon=True).start()


def _fail(message: str) -> Any:
    print(f"{ERROR_PREFIX}{message}", file=sys.stderr, flush=True)
    raise SystemExit(2)
