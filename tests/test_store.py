"""The state store: URLs, migrations, transactions and concurrent writers, on SQLite and on a
real PostgreSQL server (see support/postgres.py for how the server is found or started)."""

from __future__ import annotations

import os
import textwrap
from datetime import datetime, timezone

import pytest

from safeinstall.errors import UsageError
from safeinstall.store import (
    StoreError,
    default_store_url,
    format_time,
    open_store,
    parse_store_url,
    parse_time,
    redact_url,
)
from safeinstall.store_migrations import MIGRATIONS, Migration
from support.stores import STORE_KINDS, empty_store, run_concurrently

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=STORE_KINDS)
def store_url(request, tmp_path):
    """An empty store of each kind."""
    yield from empty_store(request.param, tmp_path / "state.sqlite3")


# -- URLs -----------------------------------------------------------------------------------------


def test_sqlite_urls_and_plain_paths(tmp_path):
    cwd = str(tmp_path)
    assert parse_store_url("sqlite:///var/lib/si/state.db", cwd=cwd).path == \
        "/var/lib/si/state.db"
    # SQLAlchemy's four-slash spelling of an absolute path means the same
    assert parse_store_url("sqlite:////var/lib/si/state.db", cwd=cwd).path == \
        "/var/lib/si/state.db"
    rel = parse_store_url("sqlite:state/s.db", cwd=cwd)
    assert rel.dialect == "sqlite" and rel.path == str(tmp_path / "state" / "s.db")
    assert rel.url == f"sqlite:///{str(tmp_path).lstrip('/')}/state/s.db"
    assert parse_store_url("my.db", cwd=cwd).path == str(tmp_path / "my.db")


def test_postgresql_urls_and_redaction(tmp_path):
    loc = parse_store_url("postgresql://ci:s3cret@db.example:5432/si", cwd=str(tmp_path))
    assert loc.dialect == "postgresql"
    assert loc.display == "postgresql://ci:****@db.example:5432/si"
    assert "s3cret" not in loc.display
    assert parse_store_url("postgres://u@h/d", cwd=str(tmp_path)).dialect == "postgresql"
    assert redact_url("postgresql:///db?host=/run/pg") == "postgresql:///db?host=/run/pg"


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "sqlite://host/path.db", "sqlite:///",
                                 "postgresql:db"])
def test_bad_store_urls_are_usage_errors(bad, tmp_path):
    with pytest.raises(UsageError) as info:
        parse_store_url(bad, cwd=str(tmp_path))
    assert info.value.hint


def test_default_store_is_sqlite_in_the_user_data_dir(tmp_path):
    assert default_store_url({"XDG_DATA_HOME": str(tmp_path)}) == \
        f"sqlite:///{str(tmp_path).lstrip('/')}/safe-install/state.sqlite3"
    assert default_store_url({"SAFE_INSTALL_STORE": "postgresql://x@y/z"}) == \
        "postgresql://x@y/z"
    assert default_store_url({}).startswith("sqlite:///")


def test_times_are_fixed_width_utc_text():
    text = format_time(datetime(2024, 4, 24, 19, 31, 22, tzinfo=timezone.utc))
    assert text == "2024-04-24T19:31:22.000000Z"
    assert parse_time(text) == datetime(2024, 4, 24, 19, 31, 22, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        format_time(datetime(2024, 1, 1))


# -- migrations -----------------------------------------------------------------------------------


def test_migrations_are_numbered_from_one_without_gaps():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.name and m.for_dialect("sqlite") and m.for_dialect("postgresql")
               for m in MIGRATIONS)


def test_open_migrates_once_and_records_versions(store_url, tmp_path):
    with open_store(store_url, cwd=str(tmp_path), now=NOW) as store:
        applied = store.applied_migrations()
        assert [v for v, _, _ in applied] == [m.version for m in MIGRATIONS]
        assert applied[0][2] == format_time(NOW)
        assert store.schema_version() == MIGRATIONS[-1].version
        with store.transaction() as tx:  # the snapshot and watch tables exist and are empty
            assert tx.query("SELECT COUNT(*) FROM release_files") == [(0,)]
            assert tx.query("SELECT COUNT(*) FROM watch_news") == [(0,)]
    later = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with open_store(store_url, cwd=str(tmp_path), now=later) as store:
        assert store.migrate(now=later) == []
        assert [a for _, _, a in store.applied_migrations()][0] == format_time(NOW)


def test_a_new_migration_is_applied_on_the_next_open(store_url, tmp_path):
    extra = Migration(len(MIGRATIONS) + 1, "test: a table added later",
                      ("CREATE TABLE later_things (id INTEGER PRIMARY KEY, what TEXT)",),
                      postgresql=("CREATE TABLE later_things (id SERIAL PRIMARY KEY, "
                                  "what TEXT)",))
    with open_store(store_url, cwd=str(tmp_path), now=NOW) as store:
        assert store.migrate(now=NOW, migrations=(*MIGRATIONS, extra)) == [extra.version]
        with store.transaction() as tx:
            tx.execute("INSERT INTO later_things (what) VALUES (?)", ("x",))
            assert tx.query("SELECT what FROM later_things") == [("x",)]
        assert store.schema_version() == extra.version


def test_a_store_from_a_newer_safe_install_is_refused(store_url, tmp_path):
    with open_store(store_url, cwd=str(tmp_path), now=NOW) as store, \
            store.transaction() as tx:
        tx.execute("INSERT INTO safe_install_migrations (version, name, applied_at) "
                       "VALUES (?, ?, ?)", (999, "from the future", format_time(NOW)))
    with pytest.raises(StoreError) as info:
        open_store(store_url, cwd=str(tmp_path), now=NOW)
    assert "schema version 999" in str(info.value) and "upgrade safe-install" in str(info.value)
    assert info.value.exit_code == 2
    # also when opened without migrating (reading commands)
    with pytest.raises(StoreError) as info:
        open_store(store_url, cwd=str(tmp_path), now=NOW, migrate=False)
    assert "schema version 999" in str(info.value)


def test_a_failed_transaction_rolls_back(store_url, tmp_path):
    with open_store(store_url, cwd=str(tmp_path), now=NOW) as store:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.execute("INSERT INTO watch_releases VALUES (?, ?, ?, ?, ?, ?)",
                       ("s", "i", "p", "1", "t", "t"))
            raise RuntimeError("boom")
        with store.transaction() as tx:
            assert tx.query("SELECT COUNT(*) FROM watch_releases") == [(0,)]
            # placeholders and a literal % survive the translation for PostgreSQL
            tx.execute("INSERT INTO watch_releases VALUES (?, ?, ?, ?, ?, ?)",
                       ("s", "i", "p%", "1", "t", "t"))
            assert tx.query("SELECT project FROM watch_releases WHERE project LIKE 'p%'") == \
                [("p%",)]


def test_not_a_database_is_a_store_error(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not SQLite\n" * 100)
    with pytest.raises(StoreError) as info:
        open_store(str(bogus), cwd=str(tmp_path), now=NOW)
    assert str(bogus) in str(info.value)


def test_unreachable_postgresql_is_a_store_error_without_the_password(tmp_path):
    pytest.importorskip("psycopg")
    url = f"postgresql://u:hunter2@/db?host={tmp_path}&port=1"
    with pytest.raises(StoreError) as info:
        open_store(url, cwd=str(tmp_path), now=NOW)
    assert "hunter2" not in str(info.value) and "u:****@" in str(info.value)


# -- several processes at once --------------------------------------------------------------------

_WORKER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    sys.path.insert(0, sys.argv[1])
    from safeinstall.store import open_store
    url, worker, rounds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    with open_store(url, cwd="/", now=now) as store:
        for i in range(rounds):
            with store.transaction(lock="test-counter") as tx:
                (value,) = tx.query_one("SELECT value FROM test_counter WHERE id = 1")
                tx.execute("UPDATE test_counter SET value = ? WHERE id = 1", (value + 1,))
                tx.execute("INSERT INTO watch_releases VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT DO NOTHING", ("s", "i", f"w{worker}", str(i), "t", "t"))
                # every worker also races to insert the same row
                tx.execute("INSERT INTO watch_releases VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT DO NOTHING", ("s", "i", "shared", str(i), "t", "t"))
""")


def test_concurrent_processes_migrate_once_and_lose_no_update(store_url, tmp_path):
    # the counter table is the test's own; the schema is migrated by the racing workers
    location = parse_store_url(store_url, cwd=str(tmp_path))
    if location.dialect == "sqlite":
        import sqlite3

        conn = sqlite3.connect(location.path)
    else:
        import psycopg

        conn = psycopg.connect(store_url, autocommit=True)
    conn.execute("CREATE TABLE test_counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
    conn.execute("INSERT INTO test_counter VALUES (1, 0)")
    if location.dialect == "sqlite":
        conn.commit()
    conn.close()
    workers, rounds = 6, 15
    env = dict(os.environ)
    for code, _out, err in run_concurrently(
            _WORKER, [[store_url, str(w), str(rounds)] for w in range(workers)], env=env,
            timeout=240):
        assert code == 0, err
    with open_store(store_url, cwd=str(tmp_path), now=NOW) as store:
        assert [v for v, _, _ in store.applied_migrations()] == \
            [m.version for m in MIGRATIONS]
        with store.transaction() as tx:
            assert tx.query_one("SELECT value FROM test_counter WHERE id = 1") == \
                (workers * rounds,)
            assert tx.query_one("SELECT COUNT(*) FROM watch_releases WHERE project <> ?",
                                ("shared",)) == (workers * rounds,)
            assert tx.query_one("SELECT COUNT(*) FROM watch_releases WHERE project = ?",
                                ("shared",)) == (rounds,)
