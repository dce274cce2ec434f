"""Issue 4: trust on first use. The file installed per (index, release, target) is recorded;
a later install that would select another file for it is a `selection-changed` finding."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta

from clihelp import run_cli
from lockhelp import publish, run_tool
from support.piprun import pip_list
from support.scenarios import native_tag


def _env(clean_pip_env, tmp_path):
    return dict(clean_pip_env, SAFE_INSTALL_TRUST_STORE=str(tmp_path / "state.sqlite3"))


def test_a_new_file_between_two_installs_is_a_selection_change(local_index, tmp_path, t0,
                                                               clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    first = make_venv("first")
    run = run_cli(["--python", str(first), "-i", local_index.url, "demo==1.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    listed = run_tool(["trust", "list", "--format", "json"], env, tmp_path).json()
    assert [(r["name"], r["version"], r["filename"], r["sha256"], r["index"]) for r in listed] \
        == [("demo", "1.0", pure.filename, pure.sha256, local_index.url)]

    # two hours later (on time: not late) a wheel pip prefers on this machine is added
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
                     offset=timedelta(hours=2), payload="other")
    second = make_venv("second")
    run = run_cli(["--python", str(second), "-i", local_index.url, "demo==1.0"], env,
                  tmp_path)
    assert run.code == 1
    assert ("selection-changed", "error") in run.kinds("demo")
    finding = next(f for f in run.package("demo")["findings"]
                   if f["kind"] == "selection-changed")
    assert native.filename in finding["message"] and pure.filename in finding["message"]
    assert "safe-install-tool trust forget 'demo==1.0'" in finding["hint"]
    assert "REFUSED demo 1.0" in run.stderr
    assert pip_list(second, env) == {}

    # a dry run reads the store (and refuses) but writes nothing
    run = run_cli(["--python", str(second), "-i", local_index.url, "--dry-run", "demo==1.0"],
                  env, tmp_path)
    assert run.code == 1
    # the policy of late files applies: warn installs, and the record follows the new file
    run = run_cli(["--python", str(second), "-i", local_index.url, "--on-late", "warn",
                   "demo==1.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("selection-changed", "warning") in run.kinds("demo")
    (rec,) = run_tool(["trust", "list", "--format", "json"], env, tmp_path).json()
    assert (rec["filename"], rec["replaced_filename"]) == (native.filename, pure.filename)
    # ... and then a third environment installs the new file without a finding
    third = make_venv("third")
    run = run_cli(["--python", str(third), "-i", local_index.url, "demo==1.0"], env, tmp_path)
    assert run.code == 0 and "selection-changed" not in {k for k, _ in run.kinds("demo")}


def test_allow_late_exception_and_forget(local_index, tmp_path, t0, clean_pip_env, make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    assert run_cli(["--python", str(make_venv("a")), "-i", local_index.url, "demo"], env,
                   tmp_path).code == 0
    publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(),
            offset=timedelta(minutes=30), payload="other")
    venv = make_venv("b")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "--allow-late",
                   "demo==1.0", "demo"], env, tmp_path)
    assert run.code == 0 and ("selection-changed", "info") in run.kinds("demo")
    forgot = run_tool(["trust", "forget", "demo==1.0"], env, tmp_path)
    assert forgot.code == 0 and "forgot 1 record(s)" in forgot.stderr
    assert run_tool(["trust", "list", "--format", "json"], env, tmp_path).json() == []
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr  # a new first use
    assert run_tool(["trust", "forget"], env, tmp_path).code == 2


def test_dry_runs_and_disabled_store_write_nothing(local_index, tmp_path, t0, clean_pip_env,
                                                   make_venv):
    env = _env(clean_pip_env, tmp_path)
    publish(local_index, tmp_path, t0, "demo", "1.0")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"], env,
                  tmp_path)
    assert run.code == 0
    assert not (tmp_path / "state.sqlite3").exists()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--no-trust-store", "demo"],
                  env, tmp_path)
    assert run.code == 0 and pip_list(venv, env) == {"demo": "1.0"}
    assert not (tmp_path / "state.sqlite3").exists()
    off = dict(env, SAFE_INSTALL_TRUST_STORE="off")
    run = run_cli(["--python", str(make_venv("v2")), "-i", local_index.url, "demo"], off,
                  tmp_path)
    assert run.code == 0 and not (tmp_path / "state.sqlite3").exists()
    # --trust-store names another store for one run
    run = run_cli(["--python", str(make_venv("v3")), "-i", local_index.url, "--trust-store",
                   str(tmp_path / "other.sqlite3"), "demo"], off, tmp_path)
    assert run.code == 0 and (tmp_path / "other.sqlite3").exists()
    listed = run_tool(["trust", "list", "--store", str(tmp_path / "other.sqlite3")], env,
                      tmp_path)
    assert "demo 1.0  demo-1.0-py3-none-any.whl" in listed.stdout


_WRITER = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from safeinstall.trust import TrustRecord, open_trust

    store, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    now = datetime.now(timezone.utc)
    trust = open_trust(store, environ={}, cwd=".", now=now, write=True)
    for i in range(n):
        # each writer has its own releases, and both write the same shared ones
        for project in (f"own-{who}-{i}", f"shared-{i}"):
            note = trust.put(TrustRecord("https://example.invalid/simple/", project, "1.0",
                                         "cp312-cp312-manylinux_2_28_x86_64",
                                         f"{project}-1.0-{who}.whl", who * 64, now, now),
                             now=now)
            if note and project.startswith("own"):
                raise SystemExit(note)
    trust.close()
""")


def test_two_processes_writing_the_store_at_once(tmp_path):
    store = tmp_path / "state.sqlite3"
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(store), who, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    db = sqlite3.connect(store)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = db.execute("SELECT project, sha256 FROM trust_selections").fetchall()
    finally:
        db.close()
    projects = {p for p, _ in rows}
    assert len(rows) == len(projects) == 3 * n
    assert {f"own-a-{i}" for i in range(n)} | {f"own-b-{i}" for i in range(n)} <= projects
    # each shared release keeps the record of whichever process was first
    assert {s for p, s in rows if p.startswith("shared")} <= {"a" * 64, "b" * 64}


def test_an_unusable_default_store_warns_and_installs(local_index, tmp_path, t0, clean_pip_env,
                                                      make_venv):
    publish(local_index, tmp_path, t0, "demo", "1.0")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = {k: v for k, v in clean_pip_env.items() if k != "SAFE_INSTALL_STORE"}
    env.update(SAFE_INSTALL_TRUST_STORE="", XDG_DATA_HOME=str(blocker))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert "trust on first use is off for this run" in run.stderr
    assert pip_list(venv, env) == {"demo": "1.0"}
    # a store the user named must work
    run = run_cli(["--python", str(make_venv("v2")), "-i", local_index.url, "--trust-store",
                   str(blocker / "x.sqlite3"), "demo"], env, tmp_path)
    assert run.code == 3 and "cannot open the state store" in run.stderr
