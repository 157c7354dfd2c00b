"""Build hook: compile the recorder's hot path (``asgi_inspect/record/_hotpath.c``) into wheels.

Hatchling stays the build backend (the package's files, version and entry points as before);
setuptools' ``build_ext`` only drives the platform's C compiler (gcc, clang or MSVC, with the
flags Python was built with). The extension is optional: where it cannot be compiled (no
compiler, no Python headers) the build warns and goes on, the wheel is pure Python, and the
recorder runs its Python path (``asgi_inspect/record/hotpath.py``). An editable install builds
it in place, beside the source, where the editable package is imported from.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NAME = "asgi_inspect.record._hotpath"
SOURCE = "asgi_inspect/record/_hotpath.c"


class HotPathBuildHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        editable = version == "editable"
        self._temp = Path(tempfile.mkdtemp(prefix="asgi-inspect-hotpath-"))
        built = compile_extension(Path(self.root), self._temp, in_place=editable)
        if built is None:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if not editable:
            build_data["force_include"][str(built)] = f"asgi_inspect/record/{built.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if getattr(self, "_temp", None) is not None:
            shutil.rmtree(self._temp, ignore_errors=True)


def compile_extension(root: Path, temp: Path, *, in_place: bool) -> Path | None:
    """The compiled extension's path (in ``temp``, or beside its source when ``in_place``),
    or None, with a warning, when it could not be built."""
    try:
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext
    except ImportError as exc:
        return _skipped(f"setuptools is not available ({exc})")
    extension = Extension(NAME, [SOURCE], optional=True)
    dist = Distribution({"name": "asgi-inspect", "ext_modules": [extension]})
    command = build_ext(dist)
    command.inplace = in_place
    command.build_lib = str(temp / "lib")
    command.build_temp = str(temp / "temp")
    with _cwd(root):
        try:
            command.ensure_finalized()
            command.run()
        except Exception as exc:  # the compiler driver itself failed: still a Python install
            return _skipped(f"{type(exc).__name__}: {exc}")
        built = Path(command.get_ext_fullpath(NAME)).resolve()
    if not built.exists():
        return _skipped("the C compiler failed (its output is above)")
    return built


def _skipped(why: str) -> None:
    print(f"asgi-inspect: the compiled recorder hot path was not built ({why}); "
          "the recorder will use its Python path", file=sys.stderr)
    return None


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)
