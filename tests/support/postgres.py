"""A real PostgreSQL server for the state-store tests.

:func:`postgres_admin_url` returns the URL of a server the tests may create databases on:

* ``SAFE_INSTALL_TEST_POSTGRES_URL`` when set (``scripts/test.sh`` starts a server and sets it);
  a server named there that does not answer is an error, not a skip;
* otherwise a throwaway cluster started here with Debian's/PostgreSQL's ``initdb`` and
  ``pg_ctl`` (as the ``postgres`` user when running as root), listening only on a Unix socket
  in a temporary directory, stopped when the test session ends;
* otherwise ``pytest.skip`` with the reason no server could be started.

:func:`fresh_database` creates an empty database per test, so tests never see each other's data.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

ENV_URL = "SAFE_INSTALL_TEST_POSTGRES_URL"
_started: dict[str, str] = {}
_failure: list[str] = []


def _find_binaries() -> tuple[str, str] | None:
    for directory in [*sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True), None]:
        initdb = shutil.which("initdb", path=directory)
        pg_ctl = shutil.which("pg_ctl", path=directory)
        if initdb and pg_ctl:
            return initdb, pg_ctl
    return None


def _run(args: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _start_cluster() -> str:
    binaries = _find_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get "
                           f"install postgresql), and {ENV_URL} is not set")
    initdb, pg_ctl = binaries
    user: str | None = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run "
                               "the server as") from None
        user = "postgres"
    base = tempfile.mkdtemp(prefix="si-pg-")
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (base, sock):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    proc = _run([initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--no-sync"], user)
    if proc.returncode != 0:
        raise RuntimeError(f"initdb failed: {proc.stderr.strip()[-500:]}")
    port = "54329"
    options = f"-k {sock} -c listen_addresses='' -p {port} -c fsync=off"
    proc = _run([pg_ctl, "-D", data, "-l", os.path.join(base, "server.log"), "-o", options,
                 "-w", "-t", "60", "start"], user)
    if proc.returncode != 0:
        log = ""
        try:
            with open(os.path.join(base, "server.log")) as fh:
                log = fh.read()[-500:]
        except OSError:
            pass
        raise RuntimeError(f"pg_ctl start failed: {proc.stderr.strip()[-300:]} {log}")

    def stop() -> None:
        _run([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], user)
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql://postgres@/postgres?host={quote(sock)}&port={port}"


def postgres_admin_url() -> str:
    """URL of a server the caller may create databases on, or ``pytest.skip``."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed "
                                  "(pip install -e '.[test]')")
    if "url" in _started:
        return _started["url"]
    if _failure:
        pytest.skip(_failure[0])
    url = os.environ.get(ENV_URL)
    if not url:
        try:
            url = _start_cluster()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            _failure.append(f"no PostgreSQL server could be started: {exc}")
            pytest.skip(_failure[0])
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        if os.environ.get(ENV_URL):
            pytest.fail(f"{ENV_URL}={url} does not answer: {exc}")
        _failure.append(f"the PostgreSQL server started for the tests does not answer: {exc}")
        pytest.skip(_failure[0])
    _started["url"] = url
    return url


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def fresh_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database; returns its URL and name (drop it with :func:`drop_database`)."""
    import psycopg

    name = "si_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name), name


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
