"""The package's shape: dependencies point one way, and the app's process loads only the
recorder's side."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "asgi_inspect"
# What an app's process may load when it records: the recorder's side and the shared
# vocabulary. Everything else (store, formats, ops, replay, views) belongs to the inspector.
APP_SIDE = ("asgi_inspect.record", "asgi_inspect.model", "asgi_inspect.values",
            "asgi_inspect.types")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every package module ``path`` imports, at any depth of the file (lazy and
    ``TYPE_CHECKING`` imports included: a cycle through them is still a cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        # a package's __init__ re-exporting its own modules is not a dependency of theirs
        graph[name] = {m for m in _imports(path, modules)
                       if not (path.name == "__init__.py" and m.startswith(name + "."))}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_import_graph_has_no_cycles() -> None:
    assert _cycles(_graph()) == []


# MemorySink and JsonlSink assemble exchanges in the app's process because the user asked for
# exchanges there (a test, a file): they load the collector when they are made, lazily.
# Inspector(app, otlp=...) asked for the OpenTelemetry export in its process: its sink loads
# the export (a collector and the converter, in a thread) when it is made, lazily.
IN_PROCESS_COLLECTORS = {"asgi_inspect.record.sinks": {
    "asgi_inspect.store.collector", "asgi_inspect.formats", "asgi_inspect.formats.codec"},
    "asgi_inspect.record.middleware": {"asgi_inspect.otel.sink"}}


def test_the_recorders_side_imports_nothing_of_the_inspectors() -> None:
    for name, targets in _graph().items():
        if name.startswith("asgi_inspect.record"):
            allowed = IN_PROCESS_COLLECTORS.get(name, set())
            assert [t for t in targets if not t.startswith(APP_SIDE) and t not in allowed] == []


RECORDING = """
import asyncio, json, sys
from asgi_inspect import Inspector

class Discard:
    def deliver(self, frame): return True
    def close(self): pass

async def app(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"authorization", b"Bearer x")]})
    await send({"type": "http.response.body", "body": b'{"password": "x"}'})

async def main():
    inspector = Inspector(app, Discard(), redact=True, capture_output=True)
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"token=x",
             "headers": [(b"cookie", b"a=b")]}
    async def receive(): return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message): pass
    await inspector(scope, receive, send)
    inspector.flush()
    inspector.close()

asyncio.run(main())
print(json.dumps(sorted(m for m in sys.modules if m.startswith("asgi_inspect"))))
"""


def test_an_app_recording_with_redaction_loads_only_the_recorders_side() -> None:
    """``Inspector(app, redact=True)`` in the app's process: no exporter, store or view."""
    done = subprocess.run([sys.executable, "-c", RECORDING], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded = json.loads(done.stdout)
    assert "asgi_inspect.record.redact" in loaded
    assert [m for m in loaded if m != "asgi_inspect" and not m.startswith(APP_SIDE)] == []
