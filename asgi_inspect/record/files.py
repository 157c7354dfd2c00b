"""Private files: what we write may hold secrets (tokens, cookies, bodies), so only the owner
may read it; and recordings that a full disk cannot tear.

Recordings (``JsonlSink``, headless ``--record``), exports (``export -o``) and address files
(``listen --address-file``) all open their output here: created 0600, and a file that already
exists is made 0600 before anything is written into it. Imported by the app's process and the
inspector's alike, so it needs nothing but the standard library.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

PRIVATE_MODE = 0o600


def _open_fd(path: str | os.PathLike[str], flags: int) -> int:
    """A write-only descriptor on ``path``, owner-only, opened with ``flags`` besides."""
    flags |= os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        # The mode os.open gives applies to new files only. A device or a pipe (-o /dev/null,
        # /dev/stdout) keeps its own: chmod'ing /dev/null as root would break it for everyone.
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, PRIVATE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | os.PathLike[str], *, append: bool = False) -> BinaryIO:
    """Open ``path`` for binary writing, owner-only: truncated, or appended to with
    ``append``. Raises ``OSError`` (also when an existing file cannot be made 0600)."""
    fd = _open_fd(path, os.O_APPEND if append else os.O_TRUNC)
    try:
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write the whole of ``data`` (text as UTF-8) to ``path``, owner-only (see
    :func:`open_private`). Raises ``OSError``."""
    with open_private(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)


class LineFile:
    """An owner-only file of whole lines that survives a full disk (ENOSPC, EFBIG, EIO).

    :meth:`write` never raises: a line that cannot be written whole is taken back (the file
    is cut to where the line began, so no partial line is left for a reader to trip on) and
    ``False`` is returned, ``error`` saying why; the caller counts what was lost. Lines are
    appended with one ``write()`` each (``O_APPEND``), so several processes may share a file;
    a line is taken back only while nobody has appended after it. ``header`` is written at
    once into an empty file, and retried before the next line if the disk refused it.
    """

    def __init__(self, path: str | os.PathLike[str], header: bytes, *,
                 append: bool = False) -> None:
        """Open (or create) ``path``; raises ``OSError`` when it cannot be opened at all."""
        self.path = path
        self.error: OSError | None = None  # why the last line that failed was refused
        # Always O_APPEND: after a line is taken back, the next one goes where it began.
        self._fd: int | None = _open_fd(path, os.O_APPEND | (0 if append else os.O_TRUNC))
        self._header: bytes | None = None  # still to write: the disk refused it
        if self._is_empty() and not self._append(header):
            self._header = header

    def write(self, line: bytes) -> bool:
        """Append one line (ending in a newline) whole; ``False`` when it was not written."""
        if self._fd is None:
            return False
        if self._header is not None:
            header, self._header = self._header, None
            if self._is_empty() and not self._append(header):
                self._header = header
                return False
        return self._append(line)

    def _is_empty(self) -> bool:
        """Whether the file is still empty (another process may have written its header)."""
        assert self._fd is not None
        try:
            return os.fstat(self._fd).st_size == 0
        except OSError:
            return True

    def _append(self, data: bytes) -> bool:
        assert self._fd is not None
        written = 0
        try:
            while written < len(data):
                count = os.write(self._fd, data[written:] if written else data)
                if count <= 0:  # never for a regular file; do not spin if it happens
                    raise OSError(f"write() wrote nothing to {os.fspath(self.path)}")
                written += count
        except OSError as exc:
            self.error = exc
            if written:
                self._take_back(written)
            return False
        return True

    def _take_back(self, written: int) -> None:
        """Cut off the first ``written`` bytes of a line that could not be finished."""
        assert self._fd is not None
        try:
            end = os.lseek(self._fd, 0, os.SEEK_CUR)  # O_APPEND: just past what we wrote
            if os.fstat(self._fd).st_size == end:  # nobody appended after it
                os.ftruncate(self._fd, end - written)
        except OSError:
            pass  # the partial line stays; readers name it and skip it

    def close(self, last: bytes = b"") -> bool:
        """Write ``last`` (if any) and close; ``False`` when ``last`` could not be written."""
        if self._fd is None:
            return not last
        written = self.write(last) if last else True
        fd, self._fd = self._fd, None
        try:
            os.close(fd)
        except OSError as exc:
            self.error = exc
            return False
        return written
