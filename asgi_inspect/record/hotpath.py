"""Which code records the common case: the compiled extension or Python.

The common case of the recorder (the ``receive()`` and ``send()`` of an HTTP exchange whose
messages are kept whole) has two implementations with the same semantics and the same wire
bytes: the closures in ``Inspector.__call__``, and ``_hotpath.c``, built by ``pip install``
where a C compiler is found (``hatch_build.py``). The compiled one runs when it is built;
``ASGI_INSPECT_HOTPATH=python`` forces the Python path, ``ASGI_INSPECT_HOTPATH=c`` the compiled
one (an error if it is not built). ``asgi-inspect --version`` says which runs.
"""

from __future__ import annotations

import os
from types import ModuleType

ENV = "ASGI_INSPECT_HOTPATH"
CHOICES = ("c", "python")


class HotPathError(ValueError):
    """``$ASGI_INSPECT_HOTPATH`` asks for what cannot run here; the message is one line."""


def compiled() -> ModuleType | None:
    """The compiled extension to record with, or None for the Python path."""
    choice = os.environ.get(ENV, "").strip().lower()
    if choice and choice not in CHOICES:
        raise HotPathError(f"{ENV}={os.environ[ENV]!r}: choose one of {', '.join(CHOICES)}")
    if choice == "python":
        return None
    try:
        from asgi_inspect.record import _hotpath  # type: ignore[attr-defined]
    except ImportError as exc:
        if choice == "c":
            raise HotPathError(f"{ENV}=c, but the compiled hot path is not built here "
                               f"({exc}); reinstall with a C compiler") from None
        return None
    return _hotpath  # type: ignore[no-any-return]


def describe() -> str:
    """Which path records, and why, in a few words (for ``--version``)."""
    try:
        module = compiled()
    except HotPathError as exc:
        return f"error: {exc}"
    forced = f", forced by {ENV}" if os.environ.get(ENV, "").strip() else ""
    if module is not None:
        return f"compiled (C){forced}"
    return f"Python{forced or ' (the C extension is not built)'}"
