"""What ``--asgi-inspect`` adds to a passing test suite's wall time, as a ratio in one run.

Run: ``.venv/bin/python benchmarks/pytest_plugin.py [--tests N] [--rounds R]``

Generates a suite of N small FastAPI tests in a temporary directory (half sync through
``TestClient``, half async through ``httpx.ASGITransport``; each posts JSON, reads it back and
asserts) and runs it with pytest in a subprocess, without and with ``--asgi-inspect``,
alternating round by round so that a busy machine slows both alike. Prints the medians of the
whole run's wall time (what a user waits for, interpreter start and imports included) and of
the session time pytest reports (the tests alone), of the CPU time the run took (the least
disturbed by other loads on a shared machine), and their ratios. Target: under 1.15.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = '''
from fastapi import FastAPI

app = FastAPI()
items: dict[int, dict] = {}

@app.post("/items/{item_id}")
def put(item_id: int, item: dict) -> dict:
    items[item_id] = item
    return {"id": item_id, **item}

@app.get("/items/{item_id}")
async def get(item_id: int) -> dict:
    return items.get(item_id, {})
'''

HEAD = '''
import httpx
from fastapi.testclient import TestClient
from app import app

client = TestClient(app)
'''

SYNC = '''
def test_sync_{n}():
    assert client.post("/items/{n}", json={{"name": "item {n}"}}).status_code == 200
    assert client.get("/items/{n}").json() == {{"name": "item {n}"}}
'''

ASYNC = '''
async def test_async_{n}():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.post("/items/{n}", json={{"name": "item {n}"}})).status_code == 200
        assert (await http.get("/items/{n}")).json() == {{"name": "item {n}"}}
'''

# Plugins of this environment the generated suite does not use: a user's suite would not have
# them, and they would only add the same noise to both runs.
OTHER_PLUGINS = ("textual-snapshot", "faker", "syrupy", "hypothesispytest", "timeout")


def generate(directory: Path, count: int) -> None:
    """The suite: ``count`` tests over 10 files, half sync and half async."""
    (directory / "app.py").write_text(APP)
    (directory / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n"
                                          "asyncio_default_fixture_loop_scope = function\n")
    per_file = -(-count // 10)
    for start in range(0, count, per_file):
        tests = [(SYNC if n % 2 else ASYNC).format(n=n)
                 for n in range(start, min(start + per_file, count))]
        (directory / f"test_gen_{start:04d}.py").write_text(HEAD + "".join(tests))


def run(directory: Path, *args: str) -> tuple[float, float, float]:
    """One run of the suite: its wall time, the session time pytest reports, and its CPU time
    (user + system: what a busy machine's other loads change least), in seconds."""
    disabled = [arg for name in OTHER_PLUGINS for arg in ("-p", f"no:{name}")]
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *disabled, *args], cwd=directory, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    summary = re.search(r"(\d+) passed in ([\d.]+)s", done.stdout)
    if done.returncode != 0 or summary is None:
        sys.exit(f"pytest_plugin.py: the generated suite failed:\n{done.stdout[-2000:]}")
    return wall, float(summary.group(2)), cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asgi-inspect-bench-") as name:
        directory = Path(name)
        generate(directory, options.tests)
        run(directory)  # warm the file cache and the bytecode
        bare: list[tuple[float, float, float]] = []
        inspected: list[tuple[float, float, float]] = []
        for _ in range(options.rounds):
            bare.append(run(directory))
            inspected.append(run(directory, "--asgi-inspect"))
    print(f"{options.tests} passing FastAPI tests, {options.rounds} rounds, medians:")
    for what, index in (("wall time", 0), ("session", 1), ("CPU time", 2)):
        plain = statistics.median(r[index] for r in bare)
        recorded = statistics.median(r[index] for r in inspected)
        rounds = [i[index] / b[index] for b, i in zip(bare, inspected, strict=True)]
        print(f"  {what:<9}  bare {plain:6.2f}s  --asgi-inspect {recorded:6.2f}s  "
              f"ratio {recorded / plain:.3f}  (rounds {min(rounds):.3f}-{max(rounds):.3f})")


if __name__ == "__main__":
    main()
