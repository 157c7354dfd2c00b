"""Keep an in-process app's output out of a replay report: a log file gets it instead.

An app replayed in this process prints, logs and writes tracebacks to the same terminal the
report goes to (Datasette's 150-line traceback for a 404 landed in the middle of it). While one
replay runs, :meth:`OutputLog.capture` sends file descriptors 1 and 2 and ``sys.stdout``/
``sys.stderr`` to a temporary file (so handlers holding the original streams, and C code, are
caught too); what was written is appended to the log, under the exchange's title, and the
report says in one line how much there was and where it is. The log is owner-only
(:func:`asgi_inspect.record.files.open_private`): output may hold secrets.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from asgi_inspect.record.files import open_private


@dataclass
class Captured:
    """What one capture took: the number of lines written (known once it ended)."""

    lines: int = 0


class OutputLog:
    """The file an in-process replay's output goes to; created at the first output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    @contextlib.contextmanager
    def capture(self, title: str) -> Iterator[Captured]:
        """Inside, whatever is written to stdout or stderr goes to the log under ``title``."""
        captured = Captured()
        with tempfile.TemporaryFile() as spool:
            with _redirected(spool.fileno()):
                yield captured
            spool.seek(0)
            text = spool.read()
        if text:
            captured.lines = text.count(b"\n") + (not text.endswith(b"\n"))
            self.write(title, text)

    def write(self, title: str, text: bytes) -> None:
        """Append ``text`` to the log under a ``== title ==`` line."""
        if self._file is None:
            self._file = open_private(self.path)
        self._file.write(f"== {title} ==\n".encode() + text.rstrip(b"\n") + b"\n\n")
        self._file.flush()

    @property
    def used(self) -> bool:
        """Whether anything was written (the report names the file only then)."""
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@contextlib.contextmanager
def _redirected(target: int) -> Iterator[None]:
    """Point fds 1 and 2, and Python's ``sys.stdout``/``sys.stderr``, at ``target``."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    streams = sys.stdout, sys.stderr
    wrapper = io.TextIOWrapper(open(os.dup(target), "wb", buffering=0),  # noqa: SIM115
                               encoding="utf-8", errors="backslashreplace", write_through=True)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        sys.stdout = sys.stderr = wrapper
        yield
    finally:
        sys.stdout, sys.stderr = streams
        for stream in streams:  # the app may have written to them directly, unflushed
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(Exception):
            wrapper.close()
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
