"""What the app prints and logs during an exchange lands on that exchange, and nowhere less."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_inspect.model import Exchange
from asgi_inspect.record import output
from tests import apps

REQUEST = [{"type": "http.request", "body": b""}]


@contextlib.contextmanager
def hooked() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """The process hooked as ``asgi-inspect run`` hooks it, on stand-in streams (entered in the
    test itself: pytest puts its own streams in place between set-up and the test)."""
    saved = sys.stdout, sys.stderr, logging.getLogRecordFactory()
    sys.stdout, sys.stderr = out, err = io.StringIO(), io.StringIO()
    try:
        output.install()
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved[:2]
        logging.setLogRecordFactory(saved[2])


def lines(exchange: Exchange) -> list[tuple[str, str]]:
    return [(line.stream, line.text) for line in exchange.output]


async def test_prints_and_logs_land_on_their_exchange(caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        print("hello", 42)
        print("half a line", end="")
        print(", then the rest")
        logging.getLogger("shop").warning("low stock: %d left", 3)
        await asyncio.to_thread(print, "from a worker thread")
        print("oops", file=sys.stderr)
        await apps.respond(send, b"ok")

    with hooked() as (out, err):
        print("before any exchange")
        _, exchange = await apps.record(app, apps.http_scope(), REQUEST, capture_output=True)
    assert lines(exchange) == [
        ("stdout", "hello 42"), ("stdout", "half a line, then the rest"),
        ("log", "WARNING shop: low stock: 3 left"), ("stdout", "from a worker thread"),
        ("stderr", "oops")]
    assert all(0 < line.t < exchange.ended_ns for line in exchange.output)  # type: ignore[operator]
    assert out.getvalue() == ("before any exchange\nhello 42\nhalf a line, then the rest\n"
                              "from a worker thread\n")
    assert err.getvalue() == "oops\n"
    # The record still went where the app's logging sends it (here, pytest's handler).
    assert [r.getMessage() for r in caplog.records] == ["low stock: 3 left"]


async def test_output_is_capped_per_exchange() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(5):
            print("x" * 10)
        await apps.respond(send, b"ok")

    with hooked() as (out, _):
        _, exchange = await apps.record(app, apps.http_scope(), REQUEST, capture_output=True,
                                        max_body=25)
    assert lines(exchange) == [("stdout", "x" * 10), ("stdout", "x" * 10),
                               ("stdout", "xxx"), ("stdout", "[asgi-inspect: output capped here]")]
    assert out.getvalue() == ("x" * 10 + "\n") * 5  # the app's own output is untouched


async def test_no_capture_without_the_option_or_while_redacting() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        print("token=s3cret")
        await apps.respond(send, b"ok")

    with hooked() as (out, _):
        for options in ({}, {"capture_output": True, "redact": True}):
            _, exchange = await apps.record(app, apps.http_scope(), REQUEST, **options)
            assert exchange.output == []
    assert out.getvalue() == "token=s3cret\n" * 2


async def test_a_log_record_printed_by_a_handler_is_noted_once() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        logger = logging.getLogger("shop.quiet")
        handler = logging.StreamHandler(sys.stderr)  # made after install: writes to the proxy
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.error("card declined")
        finally:
            logger.removeHandler(handler)
        await apps.respond(send, b"ok")

    with hooked() as (_, err):
        _, exchange = await apps.record(app, apps.http_scope(), REQUEST, capture_output=True)
    assert lines(exchange) == [("log", "ERROR shop.quiet: card declined")]
    assert err.getvalue() == "card declined\n"


def test_the_stream_proxy_is_the_stream_for_everything_else() -> None:
    with hooked():
        assert isinstance(sys.stdout, output.TaggedStream)
        assert sys.stdout.getvalue() == "" and not sys.stdout.isatty()
        factory = logging.getLogRecordFactory()
        output.install()  # once is enough: no proxy of a proxy, no second factory
        assert not isinstance(sys.stdout._stream, output.TaggedStream)  # type: ignore[attr-defined]
        assert logging.getLogRecordFactory() is factory
