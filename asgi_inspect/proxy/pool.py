"""Keep-alive connections to the upstream, so most requests skip the TCP (and TLS) handshake."""

from __future__ import annotations

import asyncio
import ssl

from asgi_inspect.proxy.connection import Connection
from asgi_inspect.proxy.upstream import Upstream

_MAX_IDLE = 100  # keep-alive connections kept open to the upstream


class Pool:
    """Keep-alive connections to the upstream: opened on demand, reused last in, first out."""

    def __init__(self, upstream: Upstream, timeout: float | None) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.idle: list[Connection] = []
        self._tls = ssl.create_default_context() if upstream.scheme == "https" else None

    async def connection(self) -> Connection:
        """An idle connection still open, else a new one (connecting is bounded by the timeout)."""
        while self.idle:
            conn = self.idle.pop()
            if conn.open:  # the upstream may have closed it while it was idle
                return conn
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, conn = await loop.create_connection(
                    Connection, self.upstream.host, self.upstream.port, ssl=self._tls)
        except TimeoutError:
            raise TimeoutError(f"could not connect within {self.timeout:g} s") from None
        return conn

    def put_back(self, conn: Connection) -> None:
        """Keep the connection for the next request if its exchange ended cleanly."""
        if conn.reusable and len(self.idle) < _MAX_IDLE:
            self.idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        """Close every idle connection (at shutdown)."""
        for conn in self.idle:
            conn.close()
        self.idle.clear()
