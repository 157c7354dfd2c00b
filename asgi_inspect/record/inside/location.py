"""Where in the app's own code a call or query was made: ``file:line`` of the innermost
frame on the stack that belongs to neither a library (the standard library, site-packages)
nor asgi-inspect's recorder."""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path
from types import FrameType

_PACKAGE = str(Path(__file__).parents[2]) + os.sep  # asgi_inspect/
_DEMO = _PACKAGE + "demo.py"  # our demo app is an app: its lines are shown
_LIBRARIES = tuple(sorted({
    str(Path(p)) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))}))


def location(skip: int = 1) -> str:
    """``path:line`` of the app's frame that led here (a path relative to the working
    directory when under it); empty when the whole stack is library code."""
    return location_of(sys._getframe(skip + 1))


def location_of(frame: FrameType | None) -> str:
    """:func:`location` from ``frame`` outwards (the frame a greenlet's parent waits in, whose
    stack the greenlet's own does not reach). Every recorded query walks the stack, through
    an ORM's twenty-odd frames: each file is judged once, then looked up by its name (a
    string hashes once for good; a code object hashes its whole body at every lookup)."""
    seen = _seen
    while frame is not None:
        filename = frame.f_code.co_filename
        shown = seen.get(filename, _UNSEEN)
        if shown is _UNSEEN:
            shown = _judged(filename)
        if shown is not None:
            return f"{shown}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


_UNSEEN = object()
_SEEN_MAX = 50_000  # files remembered (code made at run time could name countless ones)
_seen: dict[str, str | None] = {}  # a code object's file: as shown, None: a library's


def _judged(filename: str) -> str | None:
    if len(_seen) >= _SEEN_MAX:
        _seen.clear()
    shown = None if _is_library(filename) else _shown(filename)
    _seen[filename] = shown
    return shown


@functools.lru_cache(maxsize=1024)
def _is_library(filename: str) -> bool:
    if filename.startswith("<") or "site-packages" in filename or "dist-packages" in filename:
        return True
    if filename.startswith(_PACKAGE):
        return filename != _DEMO
    return filename.startswith(_LIBRARIES)


@functools.lru_cache(maxsize=1024)
def _shown(filename: str) -> str:
    try:
        return os.path.relpath(filename) if filename.startswith(os.getcwd()) else filename
    except ValueError:  # another drive (Windows)
        return filename
