"""Derived views of an exchange: what the list and the headless printer show."""

from __future__ import annotations

from asgi_inspect.model import Event, Exchange


def _lifespan(*kinds: str) -> Exchange:
    events = [Event(direction="receive" if k in ("lifespan.startup", "lifespan.shutdown")
                    else "send", type=k, t_call=n, t_return=n + 1, message={"type": k})
              for n, k in enumerate(kinds)]
    return Exchange(id="1", type="lifespan", started_at=0.0, scope={"type": "lifespan"},
                    events=events)


def test_a_lifespan_is_labelled_by_its_phase() -> None:
    assert _lifespan().label == "lifespan"
    assert _lifespan("lifespan.startup").label == "startup…"
    assert _lifespan("lifespan.startup", "lifespan.startup.complete").label == "started"
    assert _lifespan("lifespan.startup", "lifespan.startup.failed").label == "startup failed"
    assert _lifespan("lifespan.startup", "lifespan.startup.complete", "lifespan.shutdown",
                     "lifespan.shutdown.complete").label == "stopped"


def test_http_and_websocket_views() -> None:
    http = Exchange(id="2", type="http", started_at=0.0,
                    scope={"method": "POST", "path": "/a", "query_string": b"x=1"})
    assert (http.method, http.label, http.status) == ("POST", "/a?x=1", None)
    ws = Exchange(id="3", type="websocket", started_at=0.0, scope={"path": "/ws"},
                  events=[Event(direction="send", type="websocket.accept", t_call=1,
                                message={"type": "websocket.accept",
                                         "headers": [[b"x-a", b"1"]]})])
    assert (ws.method, ws.status, ws.response_headers) == ("WS", 101, [(b"x-a", b"1")])
    denied = Exchange(id="4", type="websocket", started_at=0.0, scope={"path": "/ws"},
                      events=[Event(direction="send", type="websocket.close", t_call=1,
                                    message={"type": "websocket.close"})])
    assert denied.status == 403
