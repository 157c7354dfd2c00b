"""Replay: send a selection of exchanges again, one after the other, and diff each result.

The one loop behind the TUI's ``r``/``R``/``e``, the CLI's ``asgi-inspect replay`` and the
Python API. Each replay is a new exchange linked to its original (``replay_of``); the
originals are never changed. With a :class:`~asgi_inspect.replay.http.HttpReplayer` the result
arrives later through the live channel (the server's recorder captures it), so its outcome
has no exchange and no diff.

What a replay cannot reproduce (a request body capped at capture, client frames not kept) is
one rule, :func:`~asgi_inspect.replay.request.replay_limits`: front ends ask
:func:`replay_warnings` before sending, and each outcome carries its warnings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from asgi_inspect.http import VOLATILE_HEADERS
from asgi_inspect.model import Exchange
from asgi_inspect.replay.diff import Diff, diff_exchanges
from asgi_inspect.replay.ignore import NOTHING, BodyIgnore
from asgi_inspect.replay.request import Replayer, ReplayError, ReplayRequest
from asgi_inspect.store.store import Store

REPLAYABLE = ("http", "websocket")


@dataclass
class ReplayOutcome:
    """What became of one replay: the new exchange and its diff, or why there is none."""

    original: Exchange
    replay: Exchange | None = None  # None: sent over HTTP (it arrives live), or it failed
    diff: Diff | None = None
    error: str | None = None  # why it could not be replayed or failed (one line)
    skipped: bool = False  # True: it could not be built into a request at all
    warnings: list[str] = field(default_factory=list)  # what the replay could not reproduce

    @property
    def differs(self) -> bool:
        return self.diff is not None and self.diff.differs


def replay_request(exchange: Exchange) -> ReplayRequest:
    """The request a replay of ``exchange`` sends; :class:`ReplayError` when there is none."""
    return ReplayRequest.from_exchange(exchange)


def replay_warnings(items: Iterable[Exchange | tuple[Exchange, ReplayRequest]],
                    ) -> list[tuple[Exchange, list[str]]]:
    """The items whose replay cannot send what the client sent, with why: what a front end
    shows before sending (an exchange that cannot be replayed at all is left to the loop)."""
    warned = []
    for item in items:
        original, request = item if isinstance(item, tuple) else (item, None)
        try:
            warnings = (request or replay_request(original)).warnings
        except ReplayError:
            continue
        if warnings:
            warned.append((original, warnings))
    return warned


def replayable(exchanges: Iterable[Exchange]) -> list[Exchange]:
    """The HTTP and WebSocket exchanges of a selection that are not replays themselves."""
    return [e for e in exchanges if e.type in REPLAYABLE and e.replay_of is None]


async def replay(replayer: Replayer,
                 items: Sequence[Exchange | tuple[Exchange, ReplayRequest]], *,
                 store: Store | None = None,
                 ignore_headers: Sequence[str] = VOLATILE_HEADERS,
                 ignore_body: BodyIgnore = NOTHING,
                 ) -> AsyncIterator[ReplayOutcome]:
    """Replay each exchange (or ``(exchange, edited request)``) in order, yielding outcomes.

    A replay's new exchange is added to ``store`` when one is given (so it shows next to its
    original) and diffed against the original, leaving out ``ignore_headers`` and the parts of
    bodies ``ignore_body`` names. One that cannot be built or sent yields an outcome with
    ``error`` set, and the loop goes on; one sent with less than the client sent (see
    :func:`replay_warnings`) is sent all the same, its outcome's ``warnings`` say what.
    """
    for item in items:
        original, request = item if isinstance(item, tuple) else (item, None)
        if request is None:
            try:
                request = replay_request(original)
            except ReplayError as exc:
                yield ReplayOutcome(original, error=str(exc), skipped=True)
                continue
        warnings = request.warnings
        try:
            replayed = await replayer.replay(original, request)
        except Exception as exc:  # a refused connection, a timeout, the app's own failure
            yield ReplayOutcome(original, error=str(exc) or type(exc).__name__,
                                warnings=warnings)
            continue
        if replayed is None:
            yield ReplayOutcome(original, warnings=warnings)
            continue
        if store is not None:
            replayed = store.add(replayed)
        diff = diff_exchanges(original, replayed, ignore_headers=ignore_headers,
                              ignore_body=ignore_body)
        yield ReplayOutcome(original, replayed, diff, warnings=warnings)
