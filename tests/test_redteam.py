"""Attacks on the merged hardening work (issues 13, 16, 17, 18), tried as an attacker would:
a find-links page, a config file in a parent directory, an index that stops publishing hashes,
version spellings. Each test is an attack that got through (fixed since) or a regression test
of one that held; docs/threat-model.md and docs/faults.md name them."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from clihelp import run_cli
from support.artifacts import build_sdist, build_wheel
from support.hostile_values import dependency_confusion, page_of, serve_page
from support.index import LocalIndex
from support.piprun import pip_list


def _dry(url: str, *extra: str) -> list[str]:
    return ["-i", url, "--dry-run", "--ignore-installed", *extra]


# -- a remote find-links page is another origin of a name -----------------------------------------


def test_remote_find_links_page_with_upload_times_is_not_a_way_around_multiple_indexes(
        local_index, clean_pip_env, tmp_path, t0, make_venv):
    """Private index as -i; the attacker's PEP 691 page (with upload times, so 99.0 is "on
    time") given as a find-links URL (or in a machine-wide PIP_FIND_LINKS): pip merges it like
    an extra index. It used to install 99.0 with no multiple-indexes finding."""
    venv = make_venv()
    with LocalIndex(tmp_path / "attacker") as attacker:
        dependency_confusion(local_index, attacker, tmp_path / "build", t0)
        links = attacker.project_url("corp-utils")
        run = run_cli(["--python", str(venv), "-i", local_index.url, "-f", links,
                       "corp-utils"], clean_pip_env, tmp_path)
        assert run.code == 1, run.stderr
        assert ("multiple-indexes", "error") in run.kinds("corp-utils")
        assert "99.0" in run.stderr and links in run.stderr
        assert pip_list(venv, clean_pip_env) == {}
        # declaring where the name comes from is the way to install it
        run = run_cli(["--python", str(venv), "-i", local_index.url, "-f", links,
                       "--index-for", f"corp-utils={local_index.url}", "corp-utils"],
                      clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"corp-utils": "1.0"}


def test_a_pin_matches_its_index_under_another_spelling(local_index, clean_pip_env, tmp_path,
                                                        t0):
    """``--index-for NAME=HTTP://host:port/simple`` pins the index configured as
    ``http://host:port/simple/`` (it used to be a usage error: not a configured index)."""
    with LocalIndex(tmp_path / "attacker") as attacker:
        dependency_confusion(local_index, attacker, tmp_path / "build", t0)
        other = local_index.url.replace("http://", "HTTP://").rstrip("/")
        run = run_cli(_dry(local_index.url, "--extra-index-url", attacker.url, "--index-for",
                           f"corp-utils={other}", "corp-utils"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("corp-utils")["version"] == "1.0"


def test_local_find_links_directory_is_still_the_users_own(local_index, clean_pip_env,
                                                           tmp_path, t0):
    """A wheelhouse on disk holding copies of index files is not a second origin (its copies
    are dated through the index, as before)."""
    wheel = local_index.add(build_wheel(tmp_path / "w", "demo", "1.0"), upload_time=t0)
    house = tmp_path / "wheelhouse"
    house.mkdir()
    (house / wheel.filename).write_bytes(wheel.path.read_bytes())
    run = run_cli(_dry(local_index.url, "-f", str(house), "demo"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert "multiple-indexes" not in [k for k, _ in run.kinds("demo")]


def test_a_file_index_on_this_machine_is_the_users_own(local_index, clean_pip_env, tmp_path,
                                                      t0):
    """An extra index that is a directory on this machine (``file://``, as machine-wide pip
    configurations set up) holding copies of the remote index's files is not a second origin,
    like a find-links directory: no one else publishes there. Its copies are dated through the
    identical file on the remote index."""
    wheel = local_index.add(build_wheel(tmp_path / "w", "demo", "1.0"), upload_time=t0)
    disk = LocalIndex(tmp_path / "disk-index")  # never started: read from disk only
    disk.add(wheel.path, upload_time=None)
    file_url = (tmp_path / "disk-index" / "simple").as_uri() + "/"
    run = run_cli(_dry(local_index.url, "--extra-index-url", file_url, "demo"),
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert "multiple-indexes" not in [k for k, _ in run.kinds("demo")]
    # a second index on a server with the same copies is still a second origin
    with LocalIndex(tmp_path / "served-copy") as copy:
        copy.add(wheel.path, upload_time=t0)
        run = run_cli(_dry(local_index.url, "--extra-index-url", copy.url, "demo"),
                      clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert "multiple-indexes" in [k for k, _ in run.kinds("demo")]


# -- a config file someone else wrote ------------------------------------------------------------


RELAXING = 'on-late = "warn"\n'


@pytest.mark.parametrize("how", ["world-writable", "foreign-owner"])
def test_config_in_a_parent_directory_someone_else_controls_is_not_read(
        scenario, local_index, clean_pip_env, tmp_path, how):
    """The CVE-2022-24765 shape: /tmp (anyone can write there) gets a ``.git`` and a
    safe-install.toml that relaxes the policy; a user working in /tmp/work (no repository of
    their own) used to run under it, and the late wheel passed."""
    scenario("attack")
    shared = tmp_path / "shared"
    work = shared / "work"
    work.mkdir(parents=True)
    (shared / ".git").mkdir()
    (shared / "safe-install.toml").write_text(RELAXING)
    if how == "world-writable":
        shared.chmod(0o1777)
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file to another user")
        os.chown(shared / "safe-install.toml", 54321, 54321)
        os.chown(shared, 54321, 54321)
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path, cwd=work)
    assert run.code == 1, run.stderr
    assert ("late", "error") in run.kinds("demo")


def test_config_file_in_the_working_directory_someone_else_controls_is_refused(
        scenario, local_index, clean_pip_env, tmp_path):
    """Working in a directory anyone can write to (such as /tmp itself): a safe-install.toml
    there is not the user's, so it is refused by name rather than applied."""
    scenario("attack")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "safe-install.toml").write_text(RELAXING)
    shared.chmod(0o1777)
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path, cwd=shared)
    assert run.code == 2, run.stderr
    assert str(shared / "safe-install.toml") in run.stderr
    assert "--config" in run.stderr
    # named explicitly, it is the user's choice
    run = run_cli(_dry(local_index.url, "--config", str(shared / "safe-install.toml"),
                       "demo==1.0"), clean_pip_env, tmp_path, cwd=shared)
    assert run.code == 0, run.stderr
    # a pyproject.toml without a [tool.safe-install] table there is nobody's config
    (shared / "safe-install.toml").unlink()
    (shared / "pyproject.toml").write_text('[project]\nname = "x"\n')
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path, cwd=shared)
    assert run.code == 1 and ("late", "error") in run.kinds("demo"), run.stderr


def test_own_repository_config_still_applies(scenario, local_index, clean_pip_env, tmp_path):
    scenario("attack")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    (repo / "safe-install.toml").write_text(RELAXING)
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path,
                  cwd=repo / "sub")
    assert run.code == 0, run.stderr
    assert ("late", "warning") in run.kinds("demo")


# -- trust on first use when the index stops publishing hashes ------------------------------------


@pytest.mark.parametrize("metadata", [False, True], ids=["wheel-read", "pep658"])
def test_swapped_file_is_replaced_file_even_when_the_index_drops_its_hash(
        local_index, clean_pip_env, tmp_path, t0, make_venv, metadata):
    """Run 1 installs demo 1.0 and records its release. Then the index serves other bytes under
    the same file name, and leaves the sha256 out of its page, so that the listing does not
    show the change. The swapped file used to install as known (a weak-hash warning only)."""
    first = local_index.add(build_wheel(tmp_path / "a", "demo", "1.0"), upload_time=t0,
                            advertise_metadata=metadata)
    run = run_cli(["--python", str(make_venv("one")), "-i", local_index.url, "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    evil = build_wheel(tmp_path / "b", "demo", "1.0", payload="evil")
    local_index.add(evil, upload_time=t0, replace=True, advertise_metadata=metadata)
    page = page_of(local_index, "demo")
    for entry in page["files"]:
        entry["hashes"] = {}
    serve_page(local_index, "demo", page)
    venv = make_venv("two")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 1, run.stderr
    assert ("replaced-file", "error") in run.kinds("demo")
    assert first.sha256 in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


# -- version spellings --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["1.0.0", "1.0.0.0", "01.0"])
def test_late_file_under_another_spelling_of_the_version_is_in_the_same_release(
        local_index, clean_pip_env, tmp_path, t0, spelling):
    """``demo==1.0`` is satisfied by ``1.0.0``: a late wheel spelled so is late in 1.0's
    release, not the start of a release of its own."""
    local_index.add(build_sdist(tmp_path / "s", "demo", "1.0"), upload_time=t0)
    late = build_wheel(tmp_path / "w", "demo", spelling, payload="evil")
    local_index.add(late, upload_time=t0 + timedelta(days=30))
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("late", "error") in run.kinds("demo")
    assert run.package("demo")["filename"] == late.name


def test_trust_records_one_release_under_every_spelling_of_its_version(
        local_index, clean_pip_env, tmp_path, t0):
    """A snapshot of 1.0 is the snapshot of 1.0.0: a file added as ``demo-1.0.0-...`` within
    the threshold is release-changed."""
    local_index.add(build_sdist(tmp_path / "s", "demo", "1.0"), upload_time=t0)
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    added = build_wheel(tmp_path / "w", "demo", "1.0.0", payload="evil")
    local_index.add(added, upload_time=t0 + timedelta(hours=2))
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("release-changed", "error") in run.kinds("demo")
    assert json.dumps(run.report).count(added.name) >= 1


# -- lock and trust on first use ------------------------------------------------------------------


def test_lock_never_locks_a_file_added_after_the_store_saw_the_release(
        local_index, clean_pip_env, tmp_path, t0):
    """A CI dry run records demo 1.0 (an sdist). Two hours later (within --late-after) a wheel
    is added, which pip now prefers. ``safe-install`` refuses it (release-changed); ``lock``
    used to lock it, and plain pip then installs it from the lock."""
    from lockhelp import run_tool

    local_index.add(build_sdist(tmp_path / "s", "demo", "1.0"), upload_time=t0)
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    added = local_index.add(build_wheel(tmp_path / "w", "demo", "1.0", payload="evil"),
                            upload_time=t0 + timedelta(hours=2))
    run = run_cli(_dry(local_index.url, "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 1 and ("release-changed", "error") in run.kinds("demo"), run.stderr
    work = tmp_path / "lockwork"
    work.mkdir()
    locked = run_tool(["lock", "-i", local_index.url, "demo==1.0"], clean_pip_env, tmp_path,
                      cwd=work)
    assert locked.code == 1, locked.stderr
    assert "release-changed" in locked.stderr and added.filename in locked.stderr
    assert not (work / "requirements.lock").exists()


# -- input that used to crash ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["http://[::1", "http://host:port/simple/"])
def test_times_from_that_is_not_a_url_is_a_usage_error(clean_pip_env, tmp_path, value):
    run = run_cli(["--times-from", value, "--dry-run", "demo"], clean_pip_env, tmp_path,
                  report=False)
    assert run.code == 2, run.stderr
    assert "--times-from value" in run.stderr and "is not an index URL" in run.stderr


# -- a find-links page that never ends -------------------------------------------------------------


def test_a_find_links_page_that_is_not_a_regular_file_is_an_error_not_a_hang(
        local_index, clean_pip_env, tmp_path, t0):
    """A named pipe called ``links.html`` in a find-links directory: reading it used to block
    for ever (nothing writes to it)."""
    import threading

    local_index.add(build_wheel(tmp_path / "w", "demo", "1.0"), upload_time=t0)
    house = tmp_path / "wheelhouse"
    house.mkdir()
    fifo = house / "links.html"
    os.mkfifo(fifo)
    hung = threading.Event()
    done = threading.Event()

    def unblock() -> None:  # after 30 s, give a blocked reader its end of file
        if not done.wait(30):
            hung.set()
            with open(fifo, "wb"):
                pass

    guard = threading.Thread(target=unblock, daemon=True)
    guard.start()
    try:
        run = run_cli(_dry(local_index.url, "-f", str(house), "demo"), clean_pip_env, tmp_path)
    finally:
        done.set()
    assert not hung.is_set(), "safe-install blocked reading a named pipe in find-links"
    assert run.code == 3, run.stderr
    assert "links.html" in run.stderr and "not a regular file" in run.stderr
