"""The whole suite: live sessions started by tests leave their session files (how
``asgi-inspect mcp --attach`` finds them) in a directory of the run's own, never in the
user's ``~/.cache`` or runtime directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_session_files() -> Iterator[None]:
    previous = os.environ.get("XDG_RUNTIME_DIR")
    directory = tempfile.mkdtemp(prefix="asgi-inspect-tests-")
    os.environ["XDG_RUNTIME_DIR"] = directory  # inherited by the processes tests start
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module", params=["python", "c"])
def hotpath(request: pytest.FixtureRequest) -> Iterator[str]:
    """The recorder's common path, each in turn: the Python closures, then the compiled
    extension (skipped where it is not built). Module-scoped, so module-scoped servers are made
    under each; set in the environment, so servers in subprocesses follow it too."""
    import importlib.util

    from asgi_inspect.record import hotpath as chooser

    if request.param == "c" and importlib.util.find_spec("asgi_inspect.record._hotpath") is None:
        pytest.skip("the compiled hot path is not built (pip install -e . with a C compiler)")
    previous = os.environ.get(chooser.ENV)
    os.environ[chooser.ENV] = request.param
    try:
        yield request.param
    finally:
        if previous is None:
            os.environ.pop(chooser.ENV, None)
        else:
            os.environ[chooser.ENV] = previous
