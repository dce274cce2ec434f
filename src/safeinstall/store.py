"""safe-install's state store: what it has seen, kept between runs and shared between machines.

A store is chosen by URL:

* ``sqlite:///ABSOLUTE/PATH`` (or ``sqlite:RELATIVE/PATH``, or a plain path): an embedded SQLite
  file, the default (``state.sqlite3`` in the user data directory). Several processes on one
  machine may use it at once: it runs in WAL mode and every transaction takes the write lock
  up front (``BEGIN IMMEDIATE``), waiting up to :data:`BUSY_TIMEOUT` for it.
* ``postgresql://USER:PASSWORD@HOST:PORT/DB?...`` (or ``postgres://``; any libpq URL, e.g.
  ``postgresql:///db?host=/run/postgresql``): a PostgreSQL database shared by many runners,
  for teams whose CI machines are ephemeral. Needs ``pip install 'late-artifact-guard[postgres]'``.

The schema is created and upgraded by :mod:`safeinstall.store_migrations`, recorded in a
``safe_install_migrations`` table; opening a store applies the missing migrations under a
lock, so concurrent first runs are safe, and refuses a store migrated by a newer safe-install.

The API is small and generic: :meth:`Store.transaction` yields a :class:`Transaction` with
``execute``/``query``; SQL uses ``?`` placeholders on both databases. Features keep their own
table access next to their code (e.g. :mod:`safeinstall.watcher`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from safeinstall.errors import EXIT_INDEX, EXIT_USAGE, SafeInstallError, UsageError
from safeinstall.store_migrations import MIGRATIONS, Dialect, Migration

#: How long a SQLite transaction waits for another process's write lock, in seconds.
BUSY_TIMEOUT = 60.0
#: Seconds to wait for a PostgreSQL server to accept the connection.
CONNECT_TIMEOUT = 15
DEFAULT_STORE_FILE = "state.sqlite3"
MIGRATIONS_TABLE = "safe_install_migrations"


class StoreError(SafeInstallError):
    """The state store cannot be opened, migrated or written (exit 3, like an index error)."""

    exit_code = EXIT_INDEX


class StoreSchemaError(StoreError):
    """The store was migrated by a newer safe-install: refused by every command (exit 2), since
    reading it with an older schema would misread it (e.g. as holding no records)."""

    exit_code = EXIT_USAGE


class StoreRowError(StoreError):
    """A row of the store holds values of unexpected types (written by something else)."""

    exit_code = EXIT_USAGE


def text_of(value: Any, *, location: StoreLocation, table: str, optional: bool = False
            ) -> str | None:
    """A TEXT value read from ``table``, checked: SQLite keeps whatever was written."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise StoreRowError(
            f"the state store {location.display} has a row in {table} with a value of "
            f"unexpected type {type(value).__name__} ({str(value)[:40]!r}) where text belongs",
            hint="the store was changed by something other than safe-install; forget the "
            "release (safe-install-tool trust forget NAME==VERSION), or use another store")
    return value


def time_of(value: Any, *, location: StoreLocation, table: str) -> datetime | None:
    """A time read from ``table`` (fixed-width UTC text), checked."""
    text = text_of(value, location=location, table=table, optional=True)
    try:
        moment = parse_time(text)
    except ValueError:
        moment = None
        text = f"unreadable {text!r}"
    if text and (moment is None or moment.tzinfo is None):
        raise StoreRowError(
            f"the state store {location.display} has a row in {table} with a time that is "
            f"not a UTC time ({text[:60]})",
            hint="the store was changed by something other than safe-install; forget the "
            "release (safe-install-tool trust forget NAME==VERSION), or use another store")
    return moment


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text (``2024-04-24T19:31:22.123456Z``) that sorts like the time."""
    if moment.tzinfo is None:
        raise ValueError(f"store times must be timezone-aware, got {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_TIMES: dict[str, datetime] = {}


def parse_time(text: str | None) -> datetime | None:
    """A stored time (memoised: a run reads the same few times on thousands of rows)."""
    if not text:
        return None
    known = _TIMES.get(text)
    if known is not None:
        return known
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if len(_TIMES) < 100_000:
        _TIMES[text] = moment
    return moment


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL."""

    dialect: Dialect
    url: str  # for SQLite normalised to sqlite:///ABSOLUTE/PATH
    path: str | None = None  # SQLite file

    @property
    def display(self) -> str:
        """The URL with any password replaced by ``***`` (safe for messages and logs)."""
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """The store URL fit for messages: :func:`safeinstall.urls.redact_url` (password, user
    info and ``?password=``-like query values hidden)."""
    from safeinstall.urls import redact_url as redact

    return redact(url)


def _scrub(message: str, url: str) -> str:
    """A driver's message with every secret of ``url`` (password, query values) hidden, in
    case the driver quotes its connection string."""
    from urllib.parse import parse_qsl

    from safeinstall.urls import redact_text

    secrets: list[str] = []
    try:
        parts = urlsplit(url)
        secrets += [parts.password or "", unquote(parts.password or "")]
        secrets += [v for k, v in parse_qsl(parts.query) if k.lower() not in _PUBLIC_KEYS]
    except ValueError:
        pass
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        message = message.replace(secret, "****")
    return redact_text(message)


_PUBLIC_KEYS = frozenset({"host", "port", "dbname", "sslmode", "connect_timeout",
                          "application_name", "target_session_attrs"})


def default_store_url(environ: Mapping[str, str]) -> str:
    """``SAFE_INSTALL_STORE``, else SQLite in the user data dir (``XDG_DATA_HOME`` honoured)."""
    if environ.get("SAFE_INSTALL_STORE"):
        return environ["SAFE_INSTALL_STORE"]
    if environ.get("XDG_DATA_HOME"):
        base = Path(environ["XDG_DATA_HOME"]) / "safe-install"
    else:
        from platformdirs import user_data_dir

        base = Path(user_data_dir("safe-install", appauthor=False))
    return "sqlite:///" + str(base / DEFAULT_STORE_FILE).lstrip("/")


def parse_store_url(url: str, *, cwd: str) -> StoreLocation:
    """Parse ``--store``: ``sqlite:///abs``, ``sqlite:rel``, a plain path, or a PostgreSQL URL."""
    text = url.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if sep and scheme in ("postgresql", "postgres"):
        try:
            urlsplit(text).port  # noqa: B018 - raises ValueError on a malformed host or port
            well_formed = rest.startswith("//")
        except ValueError:
            well_formed = False
        if not well_formed:
            raise UsageError(f"invalid store URL {redact_url(text)!r}",
                             hint="write it as postgresql://USER@HOST:PORT/DATABASE")
        return StoreLocation("postgresql", text)
    if sep and scheme == "sqlite":
        if rest.startswith("//"):
            rest = rest[2:]
            if rest and not rest.startswith("/"):
                raise UsageError(
                    f"invalid store URL {text!r}: SQLite URLs have no host",
                    hint="write sqlite:///absolute/path.db or sqlite:relative/path.db")
            path = "/" + unquote(rest).lstrip("/") if rest else ""
        else:
            path = unquote(rest)
    elif sep and len(scheme) > 1 and "/" not in scheme and "\\" not in scheme:
        raise UsageError(
            f"unsupported store URL scheme {scheme!r} in {redact_url(text)!r}",
            hint="use sqlite:///PATH (the default) or postgresql://USER@HOST/DATABASE",
        )
    else:
        path = text  # a plain file path (also C:\... on Windows)
    if not path or path.endswith(("/", os.sep)):
        raise UsageError(f"store URL {text!r} names no database file",
                         hint="write sqlite:///absolute/path/state.sqlite3")
    full = os.path.abspath(os.path.join(cwd, os.path.expanduser(path)))
    return StoreLocation("sqlite", "sqlite:///" + full.lstrip("/"), full)


class Transaction:
    """One open transaction; SQL uses ``?`` placeholders on every database."""

    def __init__(self, dialect: Dialect, cursor: Any) -> None:
        self.dialect = dialect
        self._cursor = cursor

    def _sql(self, sql: str) -> str:
        if self.dialect == "postgresql":
            return sql.replace("%", "%%").replace("?", "%s")
        return sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed (-1 when not known)."""
        self._cursor.execute(self._sql(sql), tuple(params))
        return int(self._cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(sql), tuple(params))
        return [tuple(row) for row in self._cursor.fetchall()]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


class Store:
    """An open state store. Use from one thread; open one per process (they share the data)."""

    def __init__(self, location: StoreLocation, connection: Any) -> None:
        self.location = location
        self.dialect: Dialect = location.dialect
        self._conn = connection

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, lock: str | None = None) -> Iterator[Transaction]:
        """A transaction that commits when the block ends and rolls back on an exception.

        ``lock`` names a critical section: transactions with the same name never run at the
        same time, across processes and machines (a PostgreSQL advisory lock; on SQLite every
        transaction already holds the database's write lock).
        """
        what = self.location.display
        if self.dialect == "sqlite":
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot lock the state store {what}: {exc}",
                                 hint="another safe-install holds it for too long, or the file "
                                 "is on a filesystem without locking (use a local disk)") from None
            try:
                yield Transaction("sqlite", cur)
            except sqlite3.OperationalError as exc:
                self._conn.rollback()
                cur.close()
                raise StoreError(f"the state store {what} failed: {exc}",
                                 hint="another process may hold it for too long") from None
            except BaseException:
                self._conn.rollback()
                cur.close()
                raise
            try:
                self._conn.commit()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the state store {what}: {exc}") from None
            finally:
                cur.close()
            return
        import psycopg

        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                if lock is not None:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(lock),))
                yield Transaction("postgresql", cur)
        except psycopg.OperationalError as exc:
            raise StoreError(f"the state store {what} failed: {exc}".strip(),
                             hint="check that the PostgreSQL server is reachable") from None

    # -- schema ---------------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self.transaction() as tx:
            return _applied_version(tx)

    def applied_migrations(self) -> list[tuple[int, str, str]]:
        with self.transaction() as tx:
            if not _has_migrations_table(tx):
                return []
            rows = tx.query(f"SELECT version, name, applied_at FROM {MIGRATIONS_TABLE} "
                            "ORDER BY version")
        return [(int(v), str(n), str(a)) for v, n, a in rows]

    def migrate(self, *, now: datetime,
                migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
        """Apply the missing migrations (under a lock); returns the versions applied now."""
        target = migrations[-1].version if migrations else 0
        with self.transaction() as tx:
            current = _applied_version(tx)
        _check_not_newer(current, target, self.location)
        if current == target:
            return []
        applied_now: list[int] = []
        with self.transaction(lock="safe-install:migrations") as tx:
            tx.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
                       "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                       "applied_at TEXT NOT NULL)")
            done = {int(v) for (v,) in tx.query(f"SELECT version FROM {MIGRATIONS_TABLE}")}
            _check_not_newer(max(done, default=0), target, self.location)
            for migration in migrations:
                if migration.version in done:
                    continue
                for statement in migration.for_dialect(self.dialect):
                    tx.execute(statement)
                if migration.python is not None:
                    try:
                        migration.python(tx)
                    except (TypeError, ValueError, AttributeError) as exc:
                        raise StoreRowError(
                            f"cannot migrate the state store {self.location.display} to "
                            f"schema version {migration.version}: a row has unexpected "
                            f"values ({exc})",
                            hint="the store was changed by something other than "
                            "safe-install; repair it or use another store") from None
                tx.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at) "
                           "VALUES (?, ?, ?)",
                           (migration.version, migration.name, format_time(now)))
                applied_now.append(migration.version)
        return applied_now


def _has_migrations_table(tx: Transaction) -> bool:
    if tx.dialect == "sqlite":
        row = tx.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (MIGRATIONS_TABLE,))
    else:
        row = tx.query_one("SELECT to_regclass(?) IS NOT NULL", (MIGRATIONS_TABLE,))
        return bool(row and row[0])
    return row is not None


def _applied_version(tx: Transaction) -> int:
    if not _has_migrations_table(tx):
        return 0
    row = tx.query_one(f"SELECT MAX(version) FROM {MIGRATIONS_TABLE}")
    return int(row[0]) if row and row[0] is not None else 0


def _check_not_newer(current: int, known: int, location: StoreLocation) -> None:
    if current > known:
        raise StoreSchemaError(
            f"the state store {location.display} has schema version {current}, newer than "
            f"this safe-install knows ({known})",
            hint="upgrade safe-install on this machine, or use another --store",
        )


def _connect_sqlite(location: StoreLocation) -> Any:
    assert location.path is not None
    directory = os.path.dirname(location.path)
    try:
        os.makedirs(directory, exist_ok=True)
        conn = sqlite3.connect(location.path, timeout=BUSY_TIMEOUT, isolation_level=None,
                               check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the state store {location.path}: {exc}",
                         hint="check the path and its permissions, or choose --store") from None
    # Switching a new database to WAL while another process creates it can fail with "database
    # is locked" at once (SQLite does not wait on a lock upgrade that could deadlock): retry
    # for as long as a busy database is waited for anyway.
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
            return conn
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            problem: sqlite3.DatabaseError = exc
        except sqlite3.DatabaseError as exc:
            problem = exc
        conn.close()
        raise StoreError(f"{location.path} is not a usable SQLite database: {problem}",
                         hint="point --store at another file; this one is not a store") from None


def _connect_postgresql(location: StoreLocation) -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            f"the state store {location.display} needs the PostgreSQL driver psycopg",
            hint="pip install 'late-artifact-guard[postgres]' (safe-install's distribution)",
        ) from None
    try:
        return psycopg.connect(location.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                               application_name="safe-install")
    except (psycopg.Error, ValueError) as exc:  # ValueError: a URL libpq cannot parse
        message = _scrub(str(exc).strip().replace("\n", " "), location.url)
        raise StoreError(f"cannot connect to the state store {location.display}: {message}",
                         hint="check the URL, the server and your credentials "
                         "(PGPASSWORD and ~/.pgpass are honoured)") from None


def open_store(url: str, *, cwd: str, now: datetime, migrate: bool = True) -> Store:
    """Open the store at ``url`` and bring its schema up to date."""
    location = parse_store_url(url, cwd=cwd)
    conn = _connect_sqlite(location) if location.dialect == "sqlite" \
        else _connect_postgresql(location)
    store = Store(location, conn)
    try:
        if migrate:
            store.migrate(now=now)
        else:  # read as is, but never a schema this safe-install does not know
            _check_not_newer(store.schema_version(), MIGRATIONS[-1].version, location)
    except sqlite3.Error as exc:
        store.close()
        raise StoreError(f"cannot migrate the state store {location.display}: {exc}") \
            from None
    except BaseException:
        store.close()
        raise
    return store


__all__ = ["Store", "StoreError", "StoreLocation", "StoreRowError", "StoreSchemaError",
           "text_of", "time_of", "Transaction", "default_store_url",
           "format_time", "open_store", "parse_store_url", "parse_time", "redact_url"]
