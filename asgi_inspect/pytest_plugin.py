"""The pytest plugin: a failing test's ASGI traffic in its report, and as a trace file.

pytest loads it in every run of every project where asgi-inspect is installed (entry point
``pytest11``), so it does nothing until asked, and imports nothing of asgi-inspect until a
test is recorded: ``--asgi-inspect`` records every test, the ``asgi_inspect`` marker or
fixture one test. A recorded test's apps (driven through Starlette's or FastAPI's
``TestClient``, ``httpx.ASGITransport`` or asgi-inspect's replay driver) are recorded from its
setup to its teardown (see :mod:`asgi_inspect.testing.recorder`); when it fails, its report
gets a section with its exchanges and a JSONL trace is written for ``asgi-inspect view``.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from asgi_inspect.testing.recorder import RecordedTraffic, Recorder

MARKER = "asgi_inspect"
_RECORDER = pytest.StashKey["Recorder"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asgi-inspect", "asgi-inspect: record the ASGI apps tests drive")
    group.addoption(
        "--asgi-inspect", action="store_true", dest="asgi_inspect",
        help="record the ASGI apps every test drives (TestClient, httpx.ASGITransport); a "
             "failing test's report shows its exchanges and a trace is written for it")
    group.addoption(
        "--asgi-inspect-dir", metavar="DIR", dest="asgi_inspect_dir", default=None,
        help="where failing tests' traces go (default: asgi-inspect in pytest's cache "
             "directory, emptied of traces at the start of each --asgi-inspect run)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: record the ASGI apps this test drives, as --asgi-inspect does "
                   "for every test")
    if (config.getoption("asgi_inspect") and not config.getoption("asgi_inspect_dir")
            and not hasattr(config, "workerinput")):  # xdist's workers start after this
        _forget_old_traces(_trace_directory(config))


def _trace_directory(config: pytest.Config) -> Path:
    """``--asgi-inspect-dir``, else ours in pytest's cache (made when first asked for: an
    inactive plugin leaves no trace in a project)."""
    given = config.getoption("asgi_inspect_dir")
    if given:
        return Path(given)
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        return Path(cache.mkdir("asgi-inspect"))
    return Path(config.rootpath, ".asgi-inspect-traces")


def _forget_old_traces(directory: Path) -> None:
    """A run's traces are its failures only: a test that passes now leaves no old trace."""
    if directory.is_dir():
        for old in directory.glob("*.jsonl"):
            old.unlink(missing_ok=True)


def _wanted(item: pytest.Item) -> bool:
    return bool(item.config.getoption("asgi_inspect")
                or MARKER in getattr(item, "fixturenames", ())
                or item.get_closest_marker(MARKER) is not None)


def _recorder(config: pytest.Config) -> Recorder:
    """The process's recorder, made by the first test that is recorded."""
    recorder = config.stash.get(_RECORDER, None)
    if recorder is None:
        from asgi_inspect.testing.recorder import Recorder

        recorder = config.stash[_RECORDER] = Recorder()
    return recorder


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start before the test's fixtures, so traffic they drive is the test's too."""
    if _wanted(item):
        _recorder(item.config).start(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                        pytest.TestReport]:
    report = yield
    recorder = item.config.stash.get(_RECORDER, None)
    if recorder is None or recorder.current != item.nodeid:
        return report
    if report.failed:
        report.sections.append((f"Captured asgi-inspect {call.when}",
                                _section(item, recorder)))
    if call.when == "teardown":
        recorder.stop()
        if not item.config.getoption("asgi_inspect"):
            recorder.unhook()  # only this test asked
    return report


def _section(item: pytest.Item, recorder: Recorder) -> str:
    """Write the test's trace; the section that shows its exchanges and says where it is."""
    from asgi_inspect.testing import report

    exchanges = recorder.exchanges()
    if not exchanges:
        return "no ASGI exchanges recorded"
    path = report.trace_path(_trace_directory(item.config), item.nodeid)
    return report.section(exchanges, report.write_trace(path, exchanges), *recorder.losses())


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.close()


@pytest.fixture
def asgi_inspect(request: pytest.FixtureRequest) -> RecordedTraffic:
    """The ASGI exchanges this test has driven so far (``asgi_inspect.exchanges``); asking for
    it records the test, as the ``asgi_inspect`` marker does."""
    return _recorder(request.config).traffic

