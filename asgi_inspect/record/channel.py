"""The live channel between recorders and a collector.

A recorder connects to the address in ``$ASGI_INSPECT``, proves it knows the token, then sends
length-prefixed batches. The listener is a Unix socket (mode 0600, in a 0700 directory) or, where
asked, loopback TCP; either way a peer without the random token is disconnected at once, after
reading no more than a hello's bytes from it.

Address forms: ``unix:/path/to/socket#TOKEN`` and ``tcp://127.0.0.1:PORT#TOKEN``.
"""

from __future__ import annotations

import asyncio
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
MAX_FRAME = 64 * 1024 * 1024  # a batch, from a peer that proved it knows the token
HELLO_TIMEOUT = 5.0  # seconds a new peer has to send its hello
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

    @property
    def location(self) -> str:
        """The address without its token: what may be shown."""
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp://{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.location}#{self.token}"

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
    """Accepts recorders and hands each batch to ``on_frame`` (on the event loop).

    ``on_frame`` may answer which recorder sent the batch (a str); when that connection ends (not
    when the listener stops), ``on_gone`` gets the answer. A recorder that closed sent its
    last batch first; one that did not died with its process, and what it left open can be
    settled at once.

    A peer first sends its hello: read with small exact reads and a timeout
    (:data:`HELLO_TIMEOUT`), never more than a correct hello's bytes, so a peer without the
    token costs nothing however much it sends. Only then is the connection read as frames.
    """

    def __init__(self, on_frame: Callable[[bytes], object], *, tcp: bool = False,
                 on_gone: Callable[[str], object] | None = None) -> None:
        self.on_frame = on_frame
        self.on_gone = on_gone
        self.tcp = tcp
        self.token = secrets.token_urlsafe(24)
        self.connections = 0
        self.rejected = 0
        self.refused_bytes = 0  # read from peers that were then refused (a hello at most each)
        self._socket: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._peers: set[asyncio.Task[None]] = set()
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.address: Address | None = None

    async def start(self) -> Address:
        if self.tcp:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.bind(("127.0.0.1", 0))
            self.address = Address("tcp", host="127.0.0.1", port=server.getsockname()[1],
                                   token=self.token)
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="asgi-inspect-")
            os.chmod(self._dir.name, 0o700)
            path = str(Path(self._dir.name) / "collector.sock")
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                server.bind(path)
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
            self.address = Address("unix", path=path, token=self.token)
        server.listen(128)
        server.setblocking(False)
        self._socket = server
        self._accepting = asyncio.get_running_loop().create_task(self._accept(server))
        return self.address

    async def _accept(self, server: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                peer, _ = await loop.sock_accept(server)
            except OSError as exc:  # out of file descriptors, say: try again shortly
                log.warning("asgi-inspect: cannot accept a recorder: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._serve(peer))
            self._peers.add(task)
            task.add_done_callback(self._peers.discard)

    async def _serve(self, peer: socket.socket) -> None:
        try:
            if not await self._authenticated(peer):
                self.rejected += 1
                peer.close()
                return
            reader, writer = await asyncio.open_connection(sock=peer)
        except OSError:
            peer.close()
            return
        self.connections += 1
        source = None  # the recorder at the other end
        try:
            while (frame := await _read_frame(reader)) is not None:
                try:
                    answer = self.on_frame(frame)
                    source = answer if isinstance(answer, str) else source
                except Exception:  # a bad batch is logged; the channel goes on
                    log.exception("asgi-inspect: could not apply a batch")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
        if source is not None and self.on_gone is not None:
            self.on_gone(source)  # not reached when cancelled: stopping is no death

    async def _authenticated(self, peer: socket.socket) -> bool:
        """Whether the peer's first bytes are the hello with our token. Reads the length
        first and refuses any other at once; reads nothing past the hello."""
        expected = frame_bytes(MAGIC + self.token.encode())
        got = bytearray()
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                await _receive_into(got, peer, _LENGTH.size)
                if got == expected[:_LENGTH.size]:
                    await _receive_into(got, peer, len(expected))
        except TimeoutError:
            pass
        if hmac.compare_digest(got, expected):
            return True
        self.refused_bytes += len(got)
        return False

    async def stop(self) -> None:
        """Stop accepting, end every connection, and remove the socket."""
        tasks = [t for t in (self._accepting, *self._peers) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._socket is not None:
            self._socket.close()
        if self._dir is not None:
            self._dir.cleanup()


async def _receive_into(buffer: bytearray, peer: socket.socket, size: int) -> None:
    """Read from a non-blocking socket until ``buffer`` holds ``size`` bytes or it closes (the
    bytes read stay in ``buffer`` if this is cancelled)."""
    loop = asyncio.get_running_loop()
    while len(buffer) < size:
        chunk = await loop.sock_recv(peer, size - len(buffer))
        if not chunk:
            return
        buffer += chunk


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        return None
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME:
        raise ValueError("frame too large")
    return await reader.readexactly(size)
