"""State stores for the tests of the store, trust on first use and watch: an empty store of
each kind (SQLite, and PostgreSQL through support/postgres.py), and worker processes that
share one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from support.postgres import drop_database, fresh_database, postgres_admin_url

#: the source tree, for worker processes (their script takes it as ``sys.argv[1]``)
SRC = str(Path(__file__).resolve().parents[2] / "src")
#: the parameters of a ``store_url`` fixture
STORE_KINDS = ("sqlite", "postgresql")


def empty_store(kind: str, sqlite_path: Path) -> Iterator[str]:
    """For a fixture (``yield from``): the URL of an empty store of ``kind``, a SQLite file at
    ``sqlite_path`` or a fresh PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{sqlite_path}"
        return
    admin = postgres_admin_url()
    url, name = fresh_database(admin)
    yield url
    drop_database(admin, name)


def run_concurrently(script: str, argvs: Sequence[Sequence[str]], *, timeout: float,
                     env: Mapping[str, str] | None = None,
                     cwd: str | None = None) -> list[tuple[int, str, str]]:
    """Start ``python -c script SRC *argv`` for every argv at once; wait for them all:
    (exit code, stdout, stderr) of each, in order."""
    procs = [subprocess.Popen([sys.executable, "-c", script, SRC, *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=None if env is None else dict(env), cwd=cwd)
             for argv in argvs]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        results.append((p.returncode, out, err))
    return results
