"""Recording the apps a test drives, without touching the test's code.

The transports that hand an app to a test keep it in their ``app`` attribute (Starlette's
``TestClient`` in its ``_TestClientTransport``; ``ASGITransport`` of httpx and of httpx2).
While hooked, their class gets a data descriptor of that name: it stores and reads the
instance's own value, and hands back a recording wrapper instead while a test is recorded,
the app itself otherwise. A client made at import time is covered too, since the app is looked
up per request; removing the descriptor restores plain attribute access. asgi-inspect's
replay ``Driver`` records its own traffic with an Inspector made at construction, so its
``__init__`` is wrapped instead.

One :class:`~asgi_inspect.record.middleware.Inspector` per process records every app: its app
is the app of the current call. So there is one recorder source and one batch
sequence for the collector (no gaps to mistake for losses), and nothing is registered per app.
Each call is flushed as it ends, in its own thread and event loop: a ``TestClient`` runs the
app in a loop that ends with the request, where the batch timer would never fire.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from asgi_inspect.model import DEFAULT_MAX_EXCHANGES, Exchange
from asgi_inspect.record.middleware import Inspector, WrappedApp, as_asgi3
from asgi_inspect.record.sinks import MemorySink
from asgi_inspect.types import Receive, Scope, Send

# The classes whose ``app`` attribute is the app under test: (module, class).
TRANSPORTS = (("httpx", "ASGITransport"), ("httpx2", "ASGITransport"),
              ("starlette.testclient", "_TestClientTransport"))
DRIVER = ("asgi_inspect.replay.driver", "Driver")

_TARGET: ContextVar[WrappedApp] = ContextVar("asgi_inspect_target")


class _Dispatcher(Inspector):
    """The one recorder of every app: the app it calls is the app this call was made to.

    A property rather than a dispatching function, so that tracebacks, which the recorder
    keeps without its own frames, hold none of ours either.
    """

    @property
    def app(self) -> WrappedApp:
        return _TARGET.get()

    @app.setter
    def app(self, app: WrappedApp) -> None:
        """Ignored: the app is chosen per call."""


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
    """Records the apps the current test drives; its exchanges are kept until :meth:`stop`.

    ``current`` is the node id of the test being recorded, None between tests: the hooks stay
    in place for a whole ``--asgi-inspect`` run and record nothing while it is None.
    """

    def __init__(self) -> None:
        self.sink = MemorySink(max_exchanges=DEFAULT_MAX_EXCHANGES)
        self.inspector = _Dispatcher(None, self.sink)
        self.current: str | None = None
        self.traffic = RecordedTraffic(self)
        self._undo: dict[str, Callable[[], None]] = {}
        self._evicted_before = 0
        self._dropped_before = 0

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
        """``app``, recorded while a test is."""
        inspector = self.inspector

        async def recorded(scope: Scope, receive: Receive, send: Send) -> Any:
            if self.current is None:
                return await app(scope, receive, send)
            token = _TARGET.set(app)
            try:
                return await inspector(scope, receive, send)
            finally:
                _TARGET.reset(token)
                inspector.flush()

        return recorded

    # one test -------------------------------------------------------------------------------

    def start(self, nodeid: str) -> None:
        """Record the apps driven from now on as ``nodeid``'s."""
        self.hook()
        store = self.sink.collector.store
        store.clear()
        self._evicted_before = store.evicted
        self._dropped_before = self.sink.collector.dropped
        self.current = nodeid

    def exchanges(self) -> list[Exchange]:
        """The current test's exchanges so far."""
        self.inspector.flush()
        return list(self.sink.collector.store)

    def losses(self) -> tuple[int, int]:
        """What this test's recording lost: exchanges evicted past the store's bound, and
        records the recorder dropped."""
        collector = self.sink.collector
        return (collector.store.evicted - self._evicted_before,
                collector.dropped - self._dropped_before)

    def stop(self) -> None:
        """The test is over: forget its exchanges."""
        self.inspector.flush()
        self.current = None
        self.sink.collector.store.clear()

    def close(self) -> None:
        self.stop()
        self.unhook()
        self.inspector.close()


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
