"""What listening to SQLAlchemy's events costs every statement, with nothing recorded: why the
query hook listens to the dialect's execute events, not the cursor events.

Each run is a process of its own (SQLAlchemy never forgets that an event was listened to),
pinned to core 1, that runs the same ``Connection.execute`` of a ``SELECT ... WHERE id = ?``
on a 1,000-row sqlite file COUNT times and prints its CPU time per statement, with:

    bare     no listener
    cursor   no-op ``before_cursor_execute``, ``after_cursor_execute`` and ``handle_error``
             listeners on the Engine class (what the issue first asked for)
    dialect  no-op ``do_execute``, ``do_executemany`` and ``do_execute_no_params`` listeners
             on the Engine class (what ``record/inside/sqlalchemy_queries.py`` listens to)
    hooked   asgi-inspect's own hooks installed (``record.inside.install()``: SQLAlchemy's and
             sqlite3's), outside any exchange, the path every statement of a recording
             process takes when no exchange records it

Runs are interleaved (per round: bare, then each mode, and a closing bare), each compared
with the mean of the bare runs just before and after it.

    python benchmarks/sqlalchemy_events.py [--rounds 7] [--count 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import LOAD_CORE, bracketed, environment, main_guard, median

MODES = ("cursor", "dialect", "hooked")
QUERY = "SELECT id, name, price FROM items WHERE id = :id"
ROWS = 1_000


def _noop(*args: Any) -> None:
    return None


def worker(mode: str, database: str, count: int) -> None:
    """One run: listen as ``mode`` says, then time ``count`` statements."""
    if mode == "hooked":
        from asgi_inspect.record.inside import install

        install()
    import sqlalchemy
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    names = {"cursor": ("before_cursor_execute", "after_cursor_execute", "handle_error"),
             "dialect": ("do_execute", "do_executemany", "do_execute_no_params")}
    for name in names.get(mode, ()):
        event.listen(Engine, name, _noop)
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    statement = sqlalchemy.text(QUERY)
    with engine.connect() as connection:
        for n in range(200):  # warm: the compiled cache, the statement cache
            connection.execute(statement, {"id": n % ROWS + 1}).fetchall()
        started = time.process_time_ns()
        for n in range(count):
            connection.execute(statement, {"id": n % ROWS + 1}).fetchall()
        spent = time.process_time_ns() - started
    print(json.dumps({"us": spent / count / 1000}))


def run(mode: str, database: str, count: int) -> float:
    command = ["taskset", "-c", LOAD_CORE, sys.executable, __file__, "--worker", mode,
               "--database", database, "--count", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    return float(json.loads(done.stdout)["us"])


def make_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        db.executemany("INSERT INTO items (name, price) VALUES (?, ?)",
                       [(f"item {n}", n / 10) for n in range(ROWS)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--worker", choices=("bare", *MODES), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.database, args.count)
        return
    print(environment())
    with tempfile.TemporaryDirectory() as directory:
        database = str(Path(directory) / "items.db")
        make_database(Path(database))
        bare: list[float] = []
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        added: dict[str, list[float]] = {mode: [] for mode in MODES}
        for number in range(1, args.rounds + 1):
            round_bare = [run("bare", database, args.count)]
            for index, mode in enumerate(MODES):
                times[mode].append(run(mode, database, args.count))
                round_bare.append(run("bare", database, args.count))
                added[mode].append(times[mode][-1] / bracketed(round_bare, index) - 1)
            bare.extend(round_bare)
            print(f"r{number}  bare {median(round_bare):6.2f} µs  " + "  ".join(
                f"{mode} {times[mode][-1]:6.2f} ({added[mode][-1]:+.1%})" for mode in MODES))
    print(f"\nmedians over {args.rounds} rounds, µs of CPU per Connection.execute "
          f"(x{args.count} per run):")
    print(f"  bare    {median(bare):6.2f}")
    for mode in MODES:
        print(f"  {mode:7} {median(times[mode]):6.2f}   added {median(added[mode]):+.1%} "
              f"(against the bare runs before and after each)")


if __name__ == "__main__":
    main_guard(main)
