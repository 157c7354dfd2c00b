"""Where the MCP server's exchanges come from: a trace file, or a live session.

A file is read through :func:`asgi_inspect.formats.reader.read` (ours or HAR) and read again
when it changes, so a JSONL file that ``run --headless --record`` is still writing is served
as it grows. A live session (``run``, ``proxy``, ``listen``) is asked over its control socket
(:mod:`asgi_inspect.runtime.control`) at every call, so each answer is as of that call.
Either way the selection is made by a :class:`~asgi_inspect.store.view.View` over a store.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asgi_inspect.formats.codec import TraceError, loads
from asgi_inspect.formats.reader import read
from asgi_inspect.model import Exchange, Trace
from asgi_inspect.runtime.control import SessionFile, running_sessions, select
from asgi_inspect.runtime.session import Session

ANSWER_TIMEOUT = 30.0  # seconds a live session has to answer one request


@dataclass
class Selection:
    """Exchanges selected for one tool call (a page of them when asked for one), how many
    matched in all, and the trace header an export carries."""

    exchanges: list[Exchange]
    matched: int
    header: Trace


class Source(Protocol):
    """Exchanges to serve: ``select`` (see :func:`asgi_inspect.runtime.control.select`)
    raises ``FilterError`` for a bad filter and ``ValueError`` (one line) when the source
    cannot be read."""

    where: str  # what is served, for the server's instructions and messages
    app_url: str | None  # where a live session's app answers (replays go there)

    async def select(self, filter_text: str = "", ids: Sequence[str] | None = None, *,
                     offset: int = 0, limit: int | None = None) -> Selection: ...


class FileSource:
    """A trace file, read again whenever its size or modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"the trace file {path}"
        self.app_url: str | None = None
        self.damage: list[str] = []  # damaged lines skipped in the last read
        self._stamp: tuple[int, int] | None = None
        self._session: Session | None = None

    def load(self) -> Session:
        """The file's exchanges as a session, read again when the file changed."""
        try:
            info = os.stat(self.path)
        except OSError as exc:
            raise ValueError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        stamp = (info.st_size, info.st_mtime_ns)
        if self._session is None or stamp != self._stamp:
            damage: list[str] = []
            try:
                trace = read(self.path, damage.append)
            except TraceError as exc:
                raise ValueError(f"{self.path}: {exc}") from None
            self._session = Session.offline(trace, title=str(self.path))
            self._stamp, self.damage = stamp, damage
        return self._session

    async def select(self, filter_text: str = "", ids: Sequence[str] | None = None, *,
                     offset: int = 0, limit: int | None = None) -> Selection:
        session = self.load()
        page, matched = select(session, filter_text, ids, offset=offset, limit=limit)
        return Selection(page, matched, session.trace_header())


class LiveSource:
    """A running ``run``/``proxy``/``listen`` session, asked over its control socket."""

    def __init__(self, session_file: SessionFile) -> None:
        where, _, self._token = session_file.address.partition("#")
        if not where.startswith("unix:") or not self._token:
            raise ValueError(f"not a session address: {where}")
        self._socket = where.removeprefix("unix:")
        self.app_url = session_file.app_url
        self.where = (f"the live session {session_file.title or 'asgi-inspect'} "
                      f"(pid {session_file.pid}"
                      + (f", app at {self.app_url})" if self.app_url else ")"))

    @classmethod
    def attach(cls, address: str) -> LiveSource:
        """The session a session file names (its path), or the newest running one (empty)."""
        if address:
            return cls(SessionFile.load(Path(address)))
        sessions = running_sessions()
        if not sessions:
            raise ValueError("no running asgi-inspect session found: start one with "
                             "asgi-inspect run, proxy or listen")
        return cls(sessions[0])

    async def select(self, filter_text: str = "", ids: Sequence[str] | None = None, *,
                     offset: int = 0, limit: int | None = None) -> Selection:
        request = {"token": self._token, "filter": filter_text,
                   "ids": None if ids is None else list(ids), "offset": offset, "limit": limit}
        answer = await self._ask(json.dumps(request).encode() + b"\n")
        first, _, rest = answer.partition(b"\n")
        try:
            status = json.loads(first)
            if "error" in status:
                raise ValueError(str(status["error"]))
            trace = loads(rest)
            return Selection(trace.exchanges, int(status["matched"]), trace)
        except (TraceError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the live session's answer could not be read: {exc}") from None

    async def _ask(self, request: bytes) -> bytes:
        """Send one request, read the whole answer; ``ValueError`` when the session is gone."""
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(self._socket)
                try:
                    writer.write(request)
                    await writer.drain()
                    answer = await reader.read()
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"the live session does not answer ({exc}): has it ended?") \
                from None
        if not answer:
            raise ValueError("the live session refused the request (a stale session file?)")
        return answer
