"""Recording the apps a test drives, without touching the test's code.

The transports that hand an app to a test keep it in their ``app`` attribute (Starlette's
``TestClient`` in its ``_TestClientTransport``; ``ASGITransport`` of httpx and of httpx2).
While hooked, their class gets a data descriptor of that name: it stores and reads the
instance's own value, and hands back a recording wrapper instead while a test is recorded,
the app itself otherwise. A client made at import time is covered too, since the app is looked
up per request; removing the descriptor restores plain attribute access. asgi-inspect's
replay ``Driver`` records its own traffic with an Inspector made at construction, so its
``__init__`` is wrapped instead.

One :class:`~asgi_inspect.record.middleware.Inspector` per test records every app: its app is
the app of the current call. So a test's records are one source and one batch sequence (no
gaps to mistake for losses), and nothing is registered per app. Each call is flushed as it
ends, in its own thread and event loop: a ``TestClient`` runs the app in a loop that ends with
the request, where the batch timer would never fire. The batches are kept as they come and
assembled into exchanges only when asked (a failing test's report, the fixture): a passing
test pays for the recording, not for the assembly.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from asgi_inspect.model import DEFAULT_MAX_EXCHANGES, Exchange
from asgi_inspect.record.middleware import Inspector, WrappedApp, as_asgi3
from asgi_inspect.store.collector import Collector
from asgi_inspect.types import Receive, Scope, Send

# The classes whose ``app`` attribute is the app under test: (module, class).
TRANSPORTS = (("httpx", "ASGITransport"), ("httpx2", "ASGITransport"),
              ("starlette.testclient", "_TestClientTransport"))
DRIVER = ("asgi_inspect.replay.driver", "Driver")
PENDING_BYTES = 8 * 1024**2  # batches kept undecoded at most; past it they are assembled

_TARGET: ContextVar[WrappedApp] = ContextVar("asgi_inspect_target")


class _Dispatcher(Inspector):
    """The recorder of every app a test drives: the app it calls is the one this call was
    made to.

    A property rather than a dispatching function, so that tracebacks, which the recorder
    keeps without its own frames, hold none of ours either.
    """

    @property
    def app(self) -> WrappedApp:
        return _TARGET.get()

    @app.setter
    def app(self, app: WrappedApp) -> None:
        """Ignored: the app is chosen per call."""


class _TestSink:
    """One test's batches, kept as they come and assembled into exchanges when asked (or
    once they hold :data:`PENDING_BYTES`, so that memory stays within the store's bounds).

    Batches arrive from whatever thread runs the app (a ``TestClient``'s portal), and the
    test's thread may ask for the exchanges meanwhile: a lock keeps every batch.
    """

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()
        self._collector: Collector | None = None

    def deliver(self, frame: bytes) -> bool:
        with self._lock:
            self._pending.append(frame)
            self._size += len(frame)
        if self._size > PENDING_BYTES:
            self.assemble()
        return True

    def close(self) -> None:
        pass

    def assemble(self) -> Collector:
        """The collector, fed every batch so far."""
        with self._lock:
            pending, self._pending, self._size = self._pending, [], 0
            if self._collector is None:
                self._collector = Collector(DEFAULT_MAX_EXCHANGES)
            collector = self._collector
            for frame in pending:
                collector.feed(frame)
            collector.store.changed.clear()  # no view drains it
        return collector


class RecordedTraffic:
    """What the ``asgi_inspect`` fixture gives a test: the exchanges it has driven so far."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange recorded in this test so far (setup included), in the order they
        started; one still running shows as it is now."""
        return self._recorder.exchanges()


class Recorder:
    """Records the apps the current test drives, from :meth:`start` to :meth:`stop`.

    ``current`` is the node id of the test being recorded and ``inspector`` its recorder, both
    None between tests: the hooks stay in place for a whole ``--asgi-inspect`` run and record
    nothing then.
    """

    def __init__(self) -> None:
        self.current: str | None = None
        self.traffic = RecordedTraffic(self)
        self._sink = _TestSink()
        self.inspector: Inspector | None = None
        self._undo: dict[str, Callable[[], None]] = {}

    # the hooks ------------------------------------------------------------------------------

    def hook(self) -> None:
        """Hook every transport whose module is loaded and not hooked yet (cheap when all
        are: a module the tests have not imported has no client that could drive an app)."""
        for module, name in (*TRANSPORTS, DRIVER):
            owner = sys.modules.get(module)
            if owner is None or module in self._undo:
                continue
            cls = getattr(owner, name)
            self._undo[module] = (self._wrap_init(cls) if (module, name) == DRIVER
                                  else self._hook_attribute(cls))

    def unhook(self) -> None:
        """Give every hooked class back its own behaviour."""
        for undo in self._undo.values():
            undo()
        self._undo.clear()

    def _hook_attribute(self, cls: type) -> Callable[[], None]:
        cls.app = _AppAttribute(self)  # type: ignore[attr-defined]
        return lambda: delattr(cls, "app")

    def _wrap_init(self, cls: type) -> Callable[[], None]:
        """The driver's app, recorded: wrapped as it is handed over (an inert wrapper when no
        test is being recorded)."""
        original = cls.__dict__["__init__"]

        def __init__(driver: Any, app: Any, *args: Any, **kwargs: Any) -> None:
            original(driver, self.wrap(as_asgi3(app)), *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        return lambda: setattr(cls, "__init__", original)

    def wrap(self, app: WrappedApp) -> WrappedApp:
        """``app``, recorded while a test is (by the recorder of the test it started in)."""
        return _RecordedApp(self, app)

    # one test -------------------------------------------------------------------------------

    def start(self, nodeid: str) -> None:
        """Record the apps driven from now on as ``nodeid``'s."""
        self.hook()
        self._sink = _TestSink()
        self.inspector = _Dispatcher(None, self._sink)
        self.current = nodeid

    def exchanges(self) -> list[Exchange]:
        """The current test's exchanges so far. Not flushed here: every call flushed its
        records as it ended, and a call still running adds records in its own thread."""
        return list(self._sink.assemble().store)

    def losses(self) -> tuple[int, int]:
        """What this test's recording lost: exchanges evicted past the store's bound, and
        records the recorder dropped."""
        collector = self._sink.assemble()
        return collector.store.evicted, collector.dropped

    def stop(self) -> None:
        """The test is over: its recorder closes, its exchanges are forgotten (a call still
        running goes on recording into them, unseen)."""
        inspector, self.inspector = self.inspector, None
        self.current = None
        if inspector is not None:
            inspector.close()
        self._sink = _TestSink()

    def close(self) -> None:
        self.stop()
        self.unhook()


class _RecordedApp:
    """An app as a test's transport hands it over: called through the test's recorder, and
    otherwise the app itself to whoever reads it (``transport.app.dependency_overrides``)."""

    __slots__ = ("_app", "_recorder")

    def __init__(self, recorder: Recorder, app: WrappedApp) -> None:
        self._recorder = recorder
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        inspector = self._recorder.inspector
        if inspector is None:
            return await self._app(scope, receive, send)
        token = _TARGET.set(self._app)
        try:
            return await inspector(scope, receive, send)
        finally:
            _TARGET.reset(token)
            inspector.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class _AppAttribute:
    """A transport's ``app`` attribute: the instance's own value, recorded while a test is."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def __get__(self, transport: object, owner: type | None = None) -> Any:
        if transport is None:
            return self
        try:
            app = transport.__dict__["app"]
        except KeyError:
            raise AttributeError("app") from None
        return app if self.recorder.current is None else self.recorder.wrap(app)

    def __set__(self, transport: object, app: Any) -> None:
        transport.__dict__["app"] = app
