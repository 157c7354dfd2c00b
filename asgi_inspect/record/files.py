"""Private files: what we write may hold secrets (tokens, cookies, bodies), so only the owner
may read it.

Recordings (``JsonlSink``, headless ``--record``), exports (``export -o``) and address files
(``listen --address-file``) all open their output here: created 0600, and a file that already
exists is made 0600 before anything is written into it. Imported by the app's process and the
inspector's alike, so it needs nothing but the standard library.
"""

from __future__ import annotations

import os
from typing import BinaryIO

PRIVATE_MODE = 0o600


def open_private(path: str | os.PathLike[str], *, append: bool = False) -> BinaryIO:
    """Open ``path`` for binary writing, owner-only: truncated, or appended to with
    ``append``. Raises ``OSError`` (also when an existing file cannot be made 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # the mode os.open gives applies to new files only
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write the whole of ``data`` (text as UTF-8) to ``path``, owner-only (see
    :func:`open_private`). Raises ``OSError``."""
    with open_private(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)
