"""The live channel between recorders and a collector.

A recorder connects to the address in ``$ASGI_INSPECT``, proves it knows the token, then sends
length-prefixed batches. The listener is a Unix socket (mode 0600, in a 0700 directory) or, where
asked, loopback TCP; either way a peer without the random token is disconnected at once.

Address forms: ``unix:/path/to/socket#TOKEN`` and ``tcp://127.0.0.1:PORT#TOKEN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import socket
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("asgi_inspect")

MAGIC = b"asgi-inspect/1 "
MAX_FRAME = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


def frame_bytes(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


@dataclass(frozen=True)
class Address:
    kind: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0
    token: str = ""

    @classmethod
    def parse(cls, text: str) -> Address:
        where, _, token = text.partition("#")
        if not token:
            raise ValueError(f"collector address has no token: {text!r}")
        if where.startswith("unix:"):
            return cls("unix", path=where[5:], token=token)
        if where.startswith("tcp://"):
            host, _, port = where[6:].rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bad collector address: {text!r}")
            return cls("tcp", host=host.strip("[]"), port=int(port), token=token)
        raise ValueError(f"collector address must start with unix: or tcp://, got {text!r}")

    def __str__(self) -> str:
        where = f"unix:{self.path}" if self.kind == "unix" else f"tcp://{self.host}:{self.port}"
        return f"{where}#{self.token}"

    def connect(self, timeout: float) -> socket.socket:
        """A connected, authenticated, blocking socket."""
        if self.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.path
        else:
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            target = (self.host, self.port)
        try:
            sock.settimeout(timeout)
            sock.connect(target)
            sock.sendall(frame_bytes(MAGIC + self.token.encode()))
        except OSError:
            sock.close()
            raise
        return sock


class Listener:
    """Accepts recorders and hands each batch to ``on_frame`` (on the event loop)."""

    def __init__(self, on_frame: Callable[[bytes], object], *, tcp: bool = False) -> None:
        self.on_frame = on_frame
        self.tcp = tcp
        self.token = secrets.token_urlsafe(24)
        self.connections = 0
        self.rejected = 0
        self._server: asyncio.base_events.Server | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.address: Address | None = None

    async def start(self) -> Address:
        if self.tcp:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            port = self._server.sockets[0].getsockname()[1]
            self.address = Address("tcp", host="127.0.0.1", port=port, token=self.token)
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="asgi-inspect-")
            os.chmod(self._dir.name, 0o700)
            path = str(Path(self._dir.name) / "collector.sock")
            old = os.umask(0o177)
            try:
                self._server = await asyncio.start_unix_server(self._serve, path)
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
            self.address = Address("unix", path=path, token=self.token)
        return self.address

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = await asyncio.wait_for(_read_frame(reader), timeout=5)
            expected = MAGIC + self.token.encode()
            if hello is None or not hmac.compare_digest(hello, expected):
                self.rejected += 1
                return
            self.connections += 1
            while (frame := await _read_frame(reader)) is not None:
                try:
                    self.on_frame(frame)
                except Exception:  # a bad batch is logged; the channel goes on
                    log.exception("asgi-inspect: could not apply a batch")
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        if self._dir is not None:
            self._dir.cleanup()


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        return None
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return await reader.readexactly(size)
