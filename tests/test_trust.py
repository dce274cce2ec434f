"""Issue 16: trust on first use remembers releases, not selections. Every checked run records
the files of each release as first seen (a release snapshot per canonical index URL, shared
with ``watch``); a file added since is ``release-changed``, a known file name with another
sha256 is ``replaced-file``; a selection that differs only by options is never a finding."""

from __future__ import annotations

import io
import json
import sqlite3
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from clihelp import run_cli
from lockhelp import publish, run_tool
from safeinstall.snapshots import snapshot_key
from safeinstall.store import format_time, open_store, parse_store_url
from safeinstall.store_migrations import MIGRATIONS
from safeinstall.tool import main as tool_main
from support.artifacts import build_wheel
from support.piprun import pip_list
from support.scenarios import foreign_tag, native_tag
from support.stores import STORE_KINDS, empty_store, run_concurrently


@pytest.fixture(params=STORE_KINDS)
def store_url(request, tmp_path):
    """An empty store of each kind."""
    yield from empty_store(request.param, tmp_path / "state.sqlite3")


def _env(clean_pip_env, tmp_path):
    return dict(clean_pip_env, SAFE_INSTALL_TRUST_STORE=str(tmp_path / "state.sqlite3"))


def _finding(run, name, kind):
    return next(f for f in run.package(name)["findings"] if f["kind"] == kind)


def _kinds(run, name):
    return {k for k, _ in run.kinds(name)}


# -- the two false refusals of the issue ----------------------------------------------------------


def test_a_selection_that_differs_by_options_is_never_a_finding(local_index, tmp_path, t0,
                                                                clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    sdist = publish(local_index, tmp_path, t0, "demo", "1.0", kind="sdist")
    wheel = publish(local_index, tmp_path, t0, "demo", "1.0", offset=timedelta(minutes=5))
    # --no-binary installs the sdist in one environment ...
    a = make_venv("a")
    run = run_cli(["--python", str(a), "-i", local_index.url, "--no-binary", "demo",
                   "demo==1.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["filename"] == sdist.filename
    # ... and the wheel is selected in another: the release did not change
    b = make_venv("b")
    run = run_cli(["--python", str(b), "-i", local_index.url, "demo==1.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["filename"] == wheel.filename
    assert not _kinds(run, "demo") & {"release-changed", "replaced-file", "selection-changed"}
    assert pip_list(b, env) == {"demo": "1.0"}
    [snap] = run_tool(["trust", "list", "--format", "json"], env, tmp_path).json()
    assert sorted(f["filename"] for f in snap["files"]) == sorted([sdist.filename,
                                                                   wheel.filename])
    assert not any(f["added"] for f in snap["files"])
    # an unrelated dry run is not refused either
    assert run_cli(["--python", str(b), "-i", local_index.url, "--dry-run", "--only-binary",
                    ":all:", "demo==1.0"], env, tmp_path).code == 0


def test_a_hash_pinned_lock_of_another_file_of_the_release_installs(local_index, tmp_path, t0,
                                                                    clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
                     offset=timedelta(minutes=10), payload="native")
    # another environment installed the wheel pip prefers
    run = run_cli(["--python", str(make_venv("a")), "-i", local_index.url, "demo==1.0"], env,
                  tmp_path)
    assert run.code == 0 and run.package("demo")["filename"] == native.filename, run.stderr
    # a lock that allows only the pure wheel
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"demo==1.0 --hash=sha256:{pure.sha256}\n")
    venv = make_venv("b")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(lock)], env,
                  tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["filename"] == pure.filename
    assert not _kinds(run, "demo") & {"release-changed", "replaced-file"}
    assert pip_list(venv, env) == {"demo": "1.0"}


# -- what it catches ------------------------------------------------------------------------------


def test_a_file_added_2_hours_late_after_the_release_was_seen_is_refused(
        local_index, tmp_path, t0, clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    run = run_cli(["--python", str(make_venv("first")), "-i", local_index.url, "demo==1.0"],
                  env, tmp_path)
    assert run.code == 0, run.stderr
    # two hours after the release began (far below --late-after 1d) a wheel that pip prefers
    # here is added: the threshold cannot see it, the snapshot does
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
                     offset=timedelta(hours=2), payload="malicious")
    second = make_venv("second")
    run = run_cli(["--python", str(second), "-i", local_index.url, "demo==1.0"], env,
                  tmp_path)
    assert run.code == 1, run.stderr
    assert ("release-changed", "error") in run.kinds("demo")
    assert "late" not in _kinds(run, "demo")
    finding = _finding(run, "demo", "release-changed")
    assert native.filename in finding["message"] and "uploaded 2h" in finding["message"]
    assert pure.filename not in finding["message"]
    assert "safe-install-tool trust forget 'demo==1.0'" in finding["hint"]
    assert "REFUSED demo 1.0" in run.stderr
    assert pip_list(second, env) == {}
    # every later run too (a run that recorded the file does not make it part of the release)
    assert run_cli(["--python", str(second), "-i", local_index.url, "--dry-run", "demo==1.0"],
                   env, tmp_path).code == 1
    [snap] = run_tool(["trust", "list", "--format", "json"], env, tmp_path).json()
    assert {f["filename"]: f["added"] for f in snap["files"]} == {pure.filename: False,
                                                                  native.filename: True}
    text = run_tool(["trust", "list"], env, tmp_path).stdout
    assert "demo 1  2 file(s)" in text and f"added {native.filename}" not in text
    assert native.filename in text
    # the policy of late files applies: --on-late warn installs with a warning, an exception
    # for the release (or the file) makes it information
    run = run_cli(["--python", str(second), "-i", local_index.url, "--on-late", "warn",
                   "demo==1.0"], env, tmp_path)
    assert run.code == 0 and ("release-changed", "warning") in run.kinds("demo"), run.stderr
    run = run_cli(["--python", str(make_venv("third")), "-i", local_index.url, "--allow-late",
                   f"sha256:{native.sha256}", "demo==1.0"], env, tmp_path)
    assert run.code == 0 and ("release-changed", "info") in run.kinds("demo"), run.stderr
    # forgetting the snapshot after review makes the next run a first use
    forgot = run_tool(["trust", "forget", "demo==1.0"], env, tmp_path)
    assert forgot.code == 0 and "forgot 1 release snapshot(s)" in forgot.stderr
    run = run_cli(["--python", str(make_venv("fourth")), "-i", local_index.url, "demo==1.0"],
                  env, tmp_path)
    assert run.code == 0 and "release-changed" not in _kinds(run, "demo"), run.stderr


def test_a_new_file_that_is_not_selected_is_information(local_index, tmp_path, t0,
                                                        clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    venv = make_venv()
    assert run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"], env,
                   tmp_path).code == 0
    foreign = publish(local_index, tmp_path, t0, "demo", "1.0", tag=foreign_tag(),
                      offset=timedelta(hours=1))
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    finding = _finding(run, "demo", "release-changed")
    assert finding["severity"] == "info" and foreign.filename in finding["message"]
    assert "none of them is selected" in finding["message"]


def test_a_dry_run_records_the_snapshot_an_install_then_checks(local_index, tmp_path, t0,
                                                               clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"], env,
                  tmp_path)
    assert run.code == 0 and (tmp_path / "state.sqlite3").exists()
    publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
            offset=timedelta(minutes=30), payload="other")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 1 and ("release-changed", "error") in run.kinds("demo")
    assert pip_list(venv, env) == {}


def test_a_known_file_name_with_another_sha256_is_always_refused(local_index, tmp_path, t0,
                                                                 clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    assert run_cli(["--python", str(make_venv("a")), "-i", local_index.url, "demo"], env,
                   tmp_path).code == 0
    # an index that lets a file be replaced in place (PyPI does not; a private index may)
    path = build_wheel(tmp_path / "evil", "demo", "1.0", payload="evil")
    evil = local_index.add(path, upload_time=t0, replace=True)
    assert evil.filename == pure.filename and evil.sha256 != pure.sha256
    venv = make_venv("b")
    for extra in ([], ["--on-late", "warn"], ["--allow-late", "demo==1.0"]):
        run = run_cli(["--python", str(venv), "-i", local_index.url, *extra, "demo"], env,
                      tmp_path)
        assert run.code == 1, (extra, run.stderr)
        finding = _finding(run, "demo", "replaced-file")
        assert finding["severity"] == "error"
        assert pure.sha256 in finding["message"] and evil.sha256 in finding["message"]
    assert pip_list(venv, env) == {}


def test_index_url_spellings_share_one_snapshot(local_index, tmp_path, t0, clean_pip_env,
                                                make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    venv = make_venv()
    assert local_index.url.endswith("/simple/")
    assert run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"], env,
                   tmp_path).code == 0
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
                     offset=timedelta(hours=1), payload="other")
    other = local_index.url.replace("http://", "HTTP://").rstrip("/")
    run = run_cli(["--python", str(venv), "-i", other, "demo"], env, tmp_path)
    assert run.code == 1, run.stderr
    assert native.filename in _finding(run, "demo", "release-changed")["message"]
    [snap] = run_tool(["trust", "list", "--format", "json", "--index", other], env,
                      tmp_path).json()
    assert snap["index"] == local_index.url.rstrip("/")
    # the default port and the other spellings of the issue are one key
    assert snapshot_key("HTTP://Example.org:80/simple//", "Demo_Pkg", "1.0.0") == \
        snapshot_key("http://example.org/simple", "demo-pkg", "1.0") == \
        ("http://example.org/simple", "demo-pkg", "1")


# -- watch and installs share the snapshots -------------------------------------------------------


def _watch(args, env, tmp_path, store, day, t0):
    out, err = io.StringIO(), io.StringIO()
    code = tool_main(["watch", *args, "--store", store, "--now",
                      (t0 + timedelta(days=day)).isoformat()],
                     environ=env, stdout=out, stderr=err, cwd=str(tmp_path))
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_an_install_snapshot_makes_watch_report_the_added_file(local_index, tmp_path, t0,
                                                               clean_pip_env, make_venv):
    store = str(tmp_path / "state.sqlite3")
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    assert run_cli(["--python", str(make_venv()), "-i", local_index.url, "demo==1.0"], env,
                   tmp_path).code == 0
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
                     offset=timedelta(hours=3), payload="other")
    # the first watch run of this set: the release is not new to the store
    code, lines, err = _watch(["demo==1.0", "-i", local_index.url], env, tmp_path, store, 1, t0)
    assert [(x["kind"], x["filename"]) for x in lines] == [("new-file", native.filename)], err
    assert lines[0]["selected_by"] == ["current"] and lines[0]["severity"] == "warning"
    assert code == 0  # on time (3h): a warning for watch, a refusal for an install
    code, lines, _ = _watch(["demo==1.0", "-i", local_index.url], env, tmp_path, store, 2, t0)
    assert (code, lines) == (0, [])


def test_a_watch_snapshot_makes_an_install_report_the_added_file(local_index, tmp_path, t0,
                                                                 clean_pip_env, make_venv):
    store = str(tmp_path / "state.sqlite3")
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    code, lines, err = _watch(["demo==1.0", "-i", local_index.url.rstrip("/")], env, tmp_path,
                              store, 0.01, t0)
    assert (code, lines) == (0, []) and "1 recorded for the first time" in err
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
                     offset=timedelta(hours=2), payload="other")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo==1.0"], env, tmp_path)
    assert run.code == 1 and native.filename in \
        _finding(run, "demo", "release-changed")["message"], run.stderr
    # the install recorded the new file; watch still reports it, once
    code, lines, _ = _watch(["demo==1.0", "-i", local_index.url], env, tmp_path, store, 1, t0)
    assert [x["filename"] for x in lines] == [native.filename]
    assert _watch(["demo==1.0", "-i", local_index.url], env, tmp_path, store, 2, t0)[1] == []


# -- the store ------------------------------------------------------------------------------------


def _current_schema_store(url, tmp_path, now):
    """A store written by the schema before snapshots (migrations 1 and 2), with data."""
    with open_store(url, cwd=str(tmp_path), now=now, migrate=False) as store:
        store.migrate(now=now, migrations=MIGRATIONS[:2])
        t = format_time
        with store.transaction() as tx:
            day0, day1, day5 = t(now), t(now + timedelta(days=1)), t(now + timedelta(days=5))
            # two spellings of one index, in two watch sets
            for ws, index in (("default", "http://idx.example/simple/"),
                              ("other", "HTTP://idx.example:80/simple")):
                tx.execute("INSERT INTO watch_releases VALUES (?, ?, ?, ?, ?, ?)",
                           (ws, index, "demo", "1.0", day0, day1))
            tx.execute("INSERT INTO watch_releases VALUES (?, ?, ?, ?, ?, ?)",
                       ("default", "http://idx.example/simple", "demo", "1.0", day1, day5))
            rows = [("default", "http://idx.example/simple/", "demo", "1.0",
                     "demo-1.0-py3-none-any.whl", "a" * 64, 10, day0, day0, 1, None, None),
                    ("other", "HTTP://idx.example:80/simple", "demo", "1.0",
                     "demo-1.0-py3-none-any.whl", "a" * 64, 10, day0, day0, 1, None, None),
                    ("default", "http://idx.example/simple/", "demo", "1.0",
                     "demo-1.0-cp312-cp312-win_amd64.whl", "b" * 64, 11, day1, day5, 0, day5,
                     None)]
            for r in rows:
                tx.execute("INSERT INTO watch_files (watch_set, index_url, project, version, "
                           "filename, sha256, size, upload_time, first_seen, baseline, "
                           "alerted_at, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           r)
            tx.execute("INSERT INTO trust_selections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       ("https://priv.example/simple/", "Other_Pkg", "2.0", "cp312-x",
                        "other_pkg-2.0-py3-none-any.whl", "c" * 64, day0, day1, None, None))
            tx.execute("INSERT INTO trust_selections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       ("http://idx.example/simple", "demo", "1.0", "cp312-x",
                        "demo-1.0-py3-none-any.whl", "a" * 64, day1, day5, None, None))
        assert store.schema_version() == 2


def test_migration_from_a_store_written_by_the_current_schema(store_url, tmp_path):
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    _current_schema_store(store_url, tmp_path, now)
    with open_store(store_url, cwd=str(tmp_path), now=now + timedelta(days=9)) as store:
        assert store.schema_version() == len(MIGRATIONS) >= 3
        with store.transaction() as tx:
            snaps = sorted(tx.query("SELECT index_url, project, version, first_seen, "
                                    "complete FROM release_snapshots"))
            files = sorted(tx.query("SELECT index_url, filename, sha256, baseline "
                                    "FROM release_files"))
            news = tx.query("SELECT watch_set, index_url, filename, alerted_at FROM "
                            "watch_news")
            sets = sorted(tx.query("SELECT watch_set, index_url, first_seen, last_checked "
                                   "FROM watch_releases"))
            tables = "trust_selections", "watch_files"
            for table in tables:
                if store.dialect == "sqlite":
                    gone = tx.query("SELECT name FROM sqlite_master WHERE name = ?", (table,))
                else:
                    gone = tx.query("SELECT to_regclass(?) WHERE to_regclass(?) IS NOT NULL",
                                    (table, table))
                assert gone == [], table
    idx = "http://idx.example/simple"
    assert snaps == [(idx, "demo", "1", format_time(now), 1),
                     ("https://priv.example/simple", "other-pkg", "2", format_time(now), 0)]
    assert files == [(idx, "demo-1.0-cp312-cp312-win_amd64.whl", "b" * 64, 0),
                     (idx, "demo-1.0-py3-none-any.whl", "a" * 64, 1),
                     ("https://priv.example/simple", "other_pkg-2.0-py3-none-any.whl",
                      "c" * 64, 1)]
    assert news == [("default", idx, "demo-1.0-cp312-cp312-win_amd64.whl",
                     format_time(now + timedelta(days=5)))]
    assert sets == [("default", idx, format_time(now), format_time(now + timedelta(days=5))),
                    ("other", idx, format_time(now), format_time(now + timedelta(days=1)))]


def test_a_store_from_a_newer_safe_install_is_refused_by_every_command(
        local_index, tmp_path, t0, clean_pip_env, make_venv):
    path = tmp_path / "state.sqlite3"
    env = {k: v for k, v in _env(clean_pip_env, tmp_path).items()
           if k != "SAFE_INSTALL_TRUST_STORE"}
    env.update(SAFE_INSTALL_STORE=str(path), SAFE_INSTALL_TRUST_STORE="")
    publish(local_index, tmp_path, t0, "demo", "1.0")
    with open_store(str(path), cwd=str(tmp_path), now=t0) as store, \
            store.transaction() as tx:
        tx.execute("INSERT INTO safe_install_migrations (version, name, applied_at) "
                   "VALUES (?, ?, ?)", (999, "from the future", format_time(t0)))
    for args in (["trust", "list"], ["trust", "list", "--format", "json"],
                 ["trust", "forget", "--all"], ["watch", "demo==1.0", "-i", local_index.url]):
        run = run_tool(args, env, tmp_path)
        assert run.code == 2, (args, run.stderr)
        assert "schema version 999" in run.stderr and str(path) in run.stderr
    venv = make_venv()
    for extra in ([], ["--dry-run"]):  # the default store: refused, not silently skipped
        run = run_cli(["--python", str(venv), "-i", local_index.url, *extra, "demo"], env,
                      tmp_path)
        assert run.code == 2 and "schema version 999" in run.stderr, run.stderr
    assert pip_list(venv, env) == {}


def test_rows_of_unexpected_types_are_an_error_naming_the_store(local_index, tmp_path, t0,
                                                                clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    venv = make_venv()
    assert run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"], env,
                   tmp_path).code == 0
    db = sqlite3.connect(tmp_path / "state.sqlite3")
    db.execute("UPDATE release_files SET first_seen = 'yesterday', sha256 = 42")
    db.commit()
    db.close()
    for args in (["trust", "list"], ["trust", "list", "--format", "json"]):
        run = run_tool(args, env, tmp_path)
        assert run.code == 2 and "state.sqlite3" in run.stderr, run.stderr
        assert "release_files" in run.stderr
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 2 and "release_files" in run.stderr, run.stderr
    assert pip_list(venv, env) == {}


def test_dry_runs_and_disabled_store(local_index, tmp_path, t0, clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--no-trust-store", "demo"],
                  env, tmp_path)
    assert run.code == 0 and pip_list(venv, env) == {"demo": "1.0"}
    assert not (tmp_path / "state.sqlite3").exists()
    off = dict(env, SAFE_INSTALL_TRUST_STORE="off")
    run = run_cli(["--python", str(make_venv("v2")), "-i", local_index.url, "--dry-run",
                   "demo"], off, tmp_path)
    assert run.code == 0 and not (tmp_path / "state.sqlite3").exists()
    # trust list does not create a store
    assert "no release snapshots" in run_tool(["trust", "list"], env, tmp_path).stderr
    assert not (tmp_path / "state.sqlite3").exists()
    # --trust-store names another store for one run
    run = run_cli(["--python", str(make_venv("v3")), "-i", local_index.url, "--trust-store",
                   str(tmp_path / "other.sqlite3"), "demo"], off, tmp_path)
    assert run.code == 0 and (tmp_path / "other.sqlite3").exists()
    listed = run_tool(["trust", "list", "--store", str(tmp_path / "other.sqlite3")], env,
                      tmp_path)
    assert "demo 1  1 file(s)  from " + local_index.url.rstrip("/") in listed.stdout
    assert run_tool(["trust", "forget"], env, tmp_path).code == 2


_WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    sys.path.insert(0, sys.argv[1])
    from safeinstall.snapshots import SeenFile, snapshot_key
    from safeinstall.trust import open_trust

    store, who, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    now = datetime.now(timezone.utc)
    trust = open_trust(store, environ={}, cwd=".", now=now, write=True)
    for i in range(n):
        # each writer has its own releases, and both write the same shared ones, with the
        # same file (common) and one file of their own
        releases = {}
        for project in (f"own-{who}-{i}", f"shared-{i}"):
            key = snapshot_key("https://example.invalid/simple/", project, "1.0")
            releases[key] = [SeenFile(f"{project}-1.0-common.whl", "c" * 64),
                             SeenFile(f"{project}-1.0-{who}.whl", who * 64)]
        trust.observe(releases, now=now)
    trust.close()
""")


def test_two_processes_writing_snapshots_at_once(store_url, tmp_path):
    n = 60
    for code, _out, err in run_concurrently(
            _WRITER, [[store_url, who, str(n)] for who in ("a", "b")], timeout=300):
        assert code == 0, err
    with open_store(store_url, cwd=str(tmp_path), now=datetime.now(timezone.utc)) as store, \
            store.transaction() as tx:
        snaps = tx.query("SELECT project FROM release_snapshots")
        files = tx.query("SELECT project, filename, baseline FROM release_files")
    assert len(snaps) == len({p for (p,) in snaps}) == 3 * n
    shared = [(p, f, b) for p, f, b in files if p.startswith("shared")]
    assert len(shared) == 3 * n  # a, and each writer's own file, once per release
    # in each shared release, the first writer's files are the baseline and the other's own
    # file was added later
    for i in range(n):
        rows = {f: b for p, f, b in shared if p == f"shared-{i}"}
        assert rows[f"shared-{i}-1.0-common.whl"] == 1
        assert sorted(v for k, v in rows.items() if not k.endswith("-common.whl")) == [0, 1]
    if parse_store_url(store_url, cwd=str(tmp_path)).dialect == "sqlite":
        db = sqlite3.connect(parse_store_url(store_url, cwd=str(tmp_path)).path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            db.close()


def test_a_migrated_trust_record_keeps_its_file_checked(local_index, tmp_path, t0,
                                                        clean_pip_env, make_venv):
    """A record of the old schema (one file per release and target) becomes an incomplete
    snapshot: the files it did not know are not reported, its own sha256 is still checked."""
    env = _env(clean_pip_env, tmp_path)
    path = tmp_path / "state.sqlite3"
    publish(local_index, tmp_path, t0, "demo", "1.0", kind="sdist")
    pure = publish(local_index, tmp_path, t0, "demo", "1.0", offset=timedelta(minutes=3))
    now = datetime.now(timezone.utc)
    with open_store(str(path), cwd=str(tmp_path), now=now, migrate=False) as store:
        store.migrate(now=now, migrations=MIGRATIONS[:2])
        with store.transaction() as tx:
            tx.execute("INSERT INTO trust_selections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (local_index.url.rstrip("/"), "demo", "1.0", native_tag(),
                        pure.filename, pure.sha256, format_time(now), format_time(now),
                        None, None))
    run = run_cli(["--python", str(make_venv("a")), "-i", local_index.url, "--dry-run",
                   "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert not _kinds(run, "demo") & {"release-changed", "replaced-file"}
    [snap] = run_tool(["trust", "list", "--format", "json"], env, tmp_path).json()
    assert snap["complete"] is True and len(snap["files"]) == 2
    assert not any(f["added"] for f in snap["files"])
    evil = local_index.add(build_wheel(tmp_path / "evil", "demo", "1.0", payload="evil"),
                           upload_time=t0 + timedelta(minutes=3), replace=True)
    run = run_cli(["--python", str(make_venv("b")), "-i", local_index.url, "demo"], env,
                  tmp_path)
    assert run.code == 1 and evil.sha256 in _finding(run, "demo", "replaced-file")["message"]


def test_a_default_store_that_fails_to_record_warns_and_goes_on(local_index, tmp_path, t0,
                                                                clean_pip_env, make_venv,
                                                                monkeypatch):
    import safeinstall.snapshots
    from safeinstall.store import StoreError

    def failing(*_args, **_kwargs):  # e.g. a read-only or full disk under the default store
        raise StoreError("cannot write the state store sqlite:///x: disk I/O error")

    monkeypatch.setattr(safeinstall.snapshots, "observe", failing)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    env = {k: v for k, v in clean_pip_env.items() if k != "SAFE_INSTALL_STORE"}
    env.update(SAFE_INSTALL_TRUST_STORE="", XDG_DATA_HOME=str(tmp_path / "data"))
    run = run_cli(["--python", str(make_venv()), "-i", local_index.url, "--dry-run", "demo"],
                  env, tmp_path)
    assert run.code == 0, run.stderr
    assert "trust on first use is off for this run" in run.stderr
    # a store the user named must work
    run = run_cli(["--python", str(make_venv("v2")), "-i", local_index.url, "--trust-store",
                   str(tmp_path / "named.sqlite3"), "--dry-run", "demo"], env, tmp_path)
    assert run.code == 3 and "disk I/O error" in run.stderr
