"""Fixtures for the TUI tests: an app over seeded exchanges, a fixed time zone, no animation."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from asgi_inspect.model import Exchange
from asgi_inspect.runtime.session import Session
from asgi_inspect.tui.app import InspectorApp
from tests.tui.factory import showcase

AppFactory = Callable[..., InspectorApp]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The list shows local times: pin the zone so snapshots match on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_app(exchanges: list[Exchange] | None = None, *, filter_text: str = "",
             session: Session | None = None) -> InspectorApp:
    """An app over ``exchanges`` (default: the showcase), with animations off."""
    if session is None:
        session = Session.offline(showcase() if exchanges is None else exchanges,
                                  title="asgi-inspect view demo.jsonl")
    session.view.set_filter(filter_text)
    app = InspectorApp(session)
    app.animation_level = "none"
    return app


@pytest.fixture
def app_factory() -> AppFactory:
    return make_app
