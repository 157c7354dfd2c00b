"""A PostgreSQL cluster of the tests' own: ``initdb`` into a temporary directory, started with
``pg_ctl`` on a free port of 127.0.0.1 (its Unix socket in that directory too), one database
created, stopped and removed at the end of the session.

The server binaries are found on ``PATH`` or where Debian's ``postgresql`` package puts them
(``/usr/lib/postgresql/<version>/bin``; ``.ci/run`` installs it when neither has them). As
root, ``initdb`` refuses to run: the cluster then runs as the ``postgres`` user (Debian's
package creates it), else as ``nobody``, through ``runuser``. Each pytest-xdist worker that
needs the cluster starts its own (its own directory and port), so workers never share one.
Where it cannot start, the tests that need it skip and say why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

USER = "asgi"  # the cluster's superuser (trust authentication: it listens on 127.0.0.1 only)
DATABASE = "inside"
_STARTS = 3  # another process may take the free port before the server binds it: try again


def binaries() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    return Path(debian[-1]).parent if debian else None


def _major_version(initdb: str) -> int:
    version = Path(initdb).parts[-3]  # /usr/lib/postgresql/<version>/bin/initdb
    return int(version) if version.isdigit() else 0


def _runner() -> tuple[list[str], int | None]:
    """The command prefix that runs the server's tools, and the uid that owns its files
    (None: this process's own)."""
    if os.geteuid() != 0:
        return [], None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root without runuser: initdb refuses to run as root")
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return [runuser, "-u", name, "--"], pwd.getpwnam(name).pw_uid
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists")


class Cluster:
    """One server in a directory of its own."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.prefix, owner = _runner()
        # /tmp: short enough for the socket's path, and open to the user the server runs as
        self.directory = Path(tempfile.mkdtemp(prefix="asgi-inspect-pg-",
                                               dir="/tmp" if os.path.isdir("/tmp") else None))
        if owner is not None:
            os.chown(self.directory, owner, -1)
        self.data = self.directory / "data"
        self.port = 0

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(self.bin_dir / tool), *args],
                              capture_output=True, text=True, timeout=60, check=False,
                              cwd=self.directory)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> str:
        """Create the cluster, start it and its database; the DSN of that database."""
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        for attempt in range(_STARTS):
            self.port = free_port()
            options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                       f"-c max_connections=20 -F")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"),
                          "-w", "-t", "60", "-o", options, "start")
                break
            except RuntimeError as exc:
                if attempt == _STARTS - 1:
                    log = self.directory / "log"
                    said = log.read_text(errors="replace")[-500:] if log.exists() else ""
                    raise RuntimeError(f"{exc}; its log: {said}") from None
        self._create_database()
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        try:
            if self.port:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a database on a PostgreSQL server started for this session (or worker)."""
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb and pg_ctl on PATH or in "
                    "/usr/lib/postgresql/*/bin; .ci/run installs Debian's postgresql)")
    try:
        cluster = Cluster(bin_dir)
    except RuntimeError as exc:
        pytest.skip(f"PostgreSQL cannot run here: {exc}")
    try:
        dsn = cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        pytest.skip(f"PostgreSQL did not start: {exc}")
    try:
        yield dsn
    finally:
        cluster.stop()
