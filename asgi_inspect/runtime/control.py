"""A live session answers read requests from other local processes (``asgi-inspect mcp
--attach``): a Unix socket (0600, in a 0700 directory) named, with its token, in a session
file (owner-only) that is removed when the session ends.

One request per connection, one JSON line: ``{"token": ..., "filter": EXPR, "ids": [...],
"offset": N, "limit": N}`` (each optional). The answer is a ``{"matched": N}`` line (how many
the filter and ids select), then the page asked for as our lossless JSONL (the header line,
then one exchange a line, as ``export --format jsonl`` writes them, never redacted: the
reader redacts); or one ``{"error": ...}`` line. A page keeps an agent's list of a big
session from moving every exchange at every call. The session's store and view stay the only
owners of exchanges and of filtering: the selection is a :class:`View` over the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgi_inspect.filters import FilterError
from asgi_inspect.formats import codec
from asgi_inspect.model import Exchange
from asgi_inspect.record.files import write_private
from asgi_inspect.runtime.session import Session
from asgi_inspect.store.view import View

MAX_REQUEST = 64 * 1024  # bytes of one request line
REQUEST_TIMEOUT = 5.0  # seconds a client has to send its request


def sessions_dir() -> Path:
    """Where live sessions leave their session files: ``$XDG_RUNTIME_DIR/asgi-inspect`` (a
    per-user tmpfs) or ``~/.cache/asgi-inspect/sessions``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "asgi-inspect" if runtime else Path.home() / ".cache" / "asgi-inspect"
    return base / "sessions"


@dataclass(frozen=True)
class SessionFile:
    """What a session file says: where to ask, and about what."""

    path: Path
    pid: int
    address: str  # unix:/path/control.sock#TOKEN
    app_url: str | None
    title: str
    started_at: float

    @classmethod
    def load(cls, path: Path) -> SessionFile:
        """Read a session file; ``ValueError`` (one line) when it is not one."""
        try:
            data = json.loads(path.read_text("utf-8"))
            return cls(path, int(data["pid"]), str(data["address"]), data.get("app_url"),
                       str(data.get("title", "")), float(data["started_at"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a session file: {exc}") from None


def running_sessions() -> list[SessionFile]:
    """The session files of live sessions still running, newest first. Those a killed
    session left behind (its process is gone) are removed on the way."""
    found = []
    for path in sessions_dir().glob("*.json"):
        with contextlib.suppress(ValueError):
            found.append(SessionFile.load(path))
    for stale in (s for s in found if not _alive(s.pid)):
        with contextlib.suppress(OSError):
            stale.path.unlink()
    return sorted((s for s in found if _alive(s.pid)), key=lambda s: -s.started_at)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ControlServer:
    """Answers read requests about ``session``'s exchanges while the session runs."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.token = secrets.token_urlsafe(24)
        self._dir = tempfile.TemporaryDirectory(prefix="asgi-inspect-control-")
        os.chmod(self._dir.name, 0o700)
        self.socket_path = str(Path(self._dir.name) / "control.sock")
        self.session_file = sessions_dir() / f"{os.getpid()}.json"
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}#{self.token}"

    async def start(self) -> None:
        """Listen, then write the session file (a session file always names a live socket).
        Never raises: a session that cannot be attached to still records, and says why."""
        try:
            old = os.umask(0o177)  # the socket is created 0600
            try:
                self._server = await asyncio.start_unix_server(self._serve, self.socket_path,
                                                               limit=MAX_REQUEST)
            finally:
                os.umask(old)
            self.session_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private(self.session_file, json.dumps({
                "pid": os.getpid(), "address": self.address, "app_url": self.session.app_url,
                "title": self.session.title, "started_at": time.time()}))
        except OSError as exc:
            self.session.log("inspector", f"asgi-inspect mcp --attach cannot reach this "
                                          f"session: {exc.strerror or exc}")

    async def close(self) -> None:
        """Remove the session file first (nobody is sent to a closed socket), then stop."""
        with contextlib.suppress(OSError):
            self.session_file.unlink()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._dir.cleanup()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                line = await reader.readline()
            request = json.loads(line) if line.endswith(b"\n") else None
            if not isinstance(request, dict) or not hmac.compare_digest(
                    str(request.get("token", "")).encode(), self.token.encode()):
                return  # no answer for a peer that does not know the token
            for part in self._answer(request):
                writer.write(part)
                await writer.drain()
        except (OSError, ValueError, TimeoutError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _answer(self, request: dict[str, Any]) -> Iterator[bytes]:
        """How many match, then the page as JSONL; or an error line."""
        try:
            ids, limit = request.get("ids"), request.get("limit")
            page, matched = select(self.session, str(request.get("filter") or ""),
                                   None if ids is None else [str(i) for i in ids],
                                   offset=int(request.get("offset") or 0),
                                   limit=None if limit is None else int(limit))
        except (FilterError, TypeError, ValueError) as exc:
            yield json.dumps({"error": str(exc)}).encode() + b"\n"
            return
        yield json.dumps({"matched": matched}).encode() + b"\n"
        yield codec.header_line(self.session.trace_header())
        yield from (codec.exchange_line(e) for e in page)


def select(session: Session, filter_text: str = "", ids: Sequence[str] | None = None, *,
           offset: int = 0, limit: int | None = None) -> tuple[list[Exchange], int]:
    """What a reader asked for: the exchanges of ``session`` that ``filter_text`` shows
    (through a view, as every front end filters, ``~n1`` at the session's threshold), only
    those of ``ids`` when given; the page from ``offset`` (at most ``limit``) and how many
    there are in all. Raises ``FilterError``."""
    chosen = View(session.store, filter_text=filter_text,
                  n_plus_one=session.n_plus_one).select("shown")
    if ids is not None:
        wanted = set(ids)
        chosen = [e for e in chosen if e.id in wanted]
    offset = max(0, offset)
    end = None if limit is None else offset + max(0, limit)
    return chosen[offset:end], len(chosen)
