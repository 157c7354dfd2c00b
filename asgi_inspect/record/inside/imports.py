"""Run a function when a module is imported, without importing it ourselves.

The recorder hooks libraries the app uses (httpx, SQLAlchemy, ...), but importing them to
find out would load what the app never asked for (and slow every start). A module imported
already is hooked at once; any other, right after its own code ran, by a finder at the front
of ``sys.meta_path`` that hands its import to the finders after it and wraps the loader they
return. A hook that fails is logged once and the import goes on.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger("asgi_inspect")

Hook = Callable[[ModuleType], None]
_waiting: dict[str, list[Hook]] = {}
_lock = threading.RLock()


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once module ``name`` is imported: now, if it is."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _waiting.setdefault(name, []).append(hook)
            if not any(isinstance(f, _Finder) for f in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    _run(hook, module)


def _run(hook: Hook, module: ModuleType) -> None:
    try:
        hook(module)
    except Exception:
        log.exception("asgi-inspect could not hook %s: its calls are not recorded",
                      module.__name__)


def _imported(name: str, module: ModuleType) -> None:
    with _lock:
        hooks = _waiting.pop(name, [])
    for hook in hooks:
        _run(hook, module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asks the finders after it, and wraps the loader of a module
    someone waits for."""

    def __init__(self) -> None:
        self._finding = threading.local()

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting or getattr(self._finding, "name", None) == fullname:
            return None
        self._finding.name = fullname
        try:
            spec = _spec_from_others(self, fullname, path, target)
        finally:
            self._finding.name = None
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, fullname)
        return spec


def _spec_from_others(me: _Finder, fullname: str, path: Sequence[str] | None,
                      target: ModuleType | None) -> importlib.machinery.ModuleSpec | None:
    for finder in list(sys.meta_path):
        if finder is me:
            continue
        find = getattr(finder, "find_spec", None)
        spec = find(fullname, path, target) if find is not None else None
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


class _Loader(importlib.abc.Loader):
    """The found loader, and the hooks once the module's code ran."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__.loader = self._loader  # type: ignore[union-attr]  # as it would be
        self._loader.exec_module(module)
        _imported(self._name, module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package...
        return getattr(self._loader, name)
