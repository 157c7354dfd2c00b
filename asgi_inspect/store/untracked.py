"""Kept exchanges are out of the cycle collector's sight: a full collection stays cheap.

A full collection walks every object the collector tracks. Each exchange was some seventeen
of them (itself, its lists, the scope and each message with their header pairs): at 100k
exchanges a pause of one to three seconds, every few seconds under load. An exchange is plain
data decoded afresh (dicts, lists, bytes, str, numbers, and ``gc=False`` structs) that refers
to nothing outside itself and is referred to by nothing inside it, so it is in no reference
cycle and reference counting alone frees it. The store therefore untracks each exchange it
keeps, as CPython itself untracks tuples and dicts that hold only atoms (through the same C
API). An untracked object is never freed by the cycle collector: what an exchange keeps in its
``__dict__`` caches must never refer back to it (the readings and decoded bodies are values).
"""

from __future__ import annotations

import ctypes
import gc
from gc import is_tracked
from typing import Any

from asgi_inspect.model import INSIDE_SNAPSHOTS, Exchange, Inside

YOUNG_EVERY = 10_000  # container allocations between two young collections (Python: 700)

_gc_untrack = ctypes.pythonapi.PyObject_GC_UnTrack  # untracks only what is tracked
_gc_untrack.argtypes = (ctypes.py_object,)
_gc_untrack.restype = None


def untrack(value: Any) -> None:
    """Untrack a snapshot (a message, a scope): the plain dicts and lists in it, at any
    depth; anything else in it is left as it is. (A dict CPython does not track holds
    nothing tracked: most messages are passed over at once.)"""
    if not is_tracked(value):
        return
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list:
        items = value
    else:
        return
    for item in items:
        if is_tracked(item):
            untrack(item)
    _gc_untrack(value)


def untrack_exchange(exchange: Exchange) -> None:
    """Untrack an exchange and all it holds (its events are ``gc=False`` structs already).

    Call it again after setting a field to a container: msgspec tracks the struct again."""
    untrack(exchange.scope)
    untrack(exchange.scope_added)
    for event in exchange.events:
        untrack(event.message)
    for item in exchange.inside:
        untrack_inside(item)
    for items in (exchange.events, exchange.notes, exchange.output, exchange.inside):
        untrack(items)
    _gc_untrack(exchange)


def untrack_inside(item: Inside) -> None:
    """Untrack the values a call, query or span holds (it is a ``gc=False`` struct)."""
    for name in INSIDE_SNAPSHOTS:
        untrack(getattr(item, name, None))


def settle_heap() -> None:
    """Before a long session's screen opens: freeze what is alive (modules, classes, the
    parts of the app: never garbage), so that a full collection walks only what came since,
    and collect the young generation ``YOUNG_EVERY`` allocations apart, not 700.

    The collector allocates some fifteen containers per exchange, untracked at once: at
    thousands a second Python's default made a full collection of every tracked object (some
    145k, most of them the program itself) every 2-3 s, each a pause of 0.3-0.6 s.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_EVERY, *gc.get_threshold()[1:])


def freeze_for_exit() -> None:
    """Nothing is left to do but exit: move every object to the permanent generation, so that
    the interpreter's last collection neither walks nor frees, one by one, what the session
    kept (1.7 s at 100k exchanges); the process's memory goes back to the system whole."""
    gc.freeze()
