"""Issue 15: guard judges every hash a lock change adds, and hostile or broken locks fail
(exit 1) or are usage errors naming the file and entry (exit 2): never "ok", never a
traceback."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest

from clihelp import run_cli
from lockhelp import publish, run_tool
from support.artifacts import build_sdist
from support.piprun import pip_list

LATE = timedelta(days=90)
WIN = "cp312-cp312-win_amd64"


def _guard(old: Path, new: Path, index: str, env, tmp_path, *extra: str):
    return run_tool(["guard", str(old), str(new), "-i", index, "--targets",
                     "current,3.12:win_amd64", *extra], env, tmp_path)


@pytest.fixture
def demo(local_index, tmp_path, t0):
    """demo 1.0 (on time), demo 2.0 whose Windows wheel came 90 days late, dep 1.0 (on time)
    and dep 2.0 whose only file is late."""
    return {
        "1.0": publish(local_index, tmp_path, t0, "demo", "1.0"),
        "2.0": publish(local_index, tmp_path, t0, "demo", "2.0", offset=timedelta(days=30)),
        "2.0-win": publish(local_index, tmp_path, t0, "demo", "2.0", tag=WIN,
                           offset=timedelta(days=30) + LATE, payload="malicious"),
        "dep": publish(local_index, tmp_path, t0, "dep", "1.0"),
        "dep-late": publish(local_index, tmp_path, t0, "newdep", "1.0", tag=WIN,
                            offset=timedelta(days=400)),
        "newdep-any": publish(local_index, tmp_path, t0, "newdep", "1.0",
                              offset=timedelta(days=0)),
    }


def _write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_an_upgrade_whose_new_file_is_late_fails_in_text_json_and_sarif(demo, local_index,
                                                                      tmp_path, clean_pip_env):
    old = _write(tmp_path / "old.txt", f"demo==1.0 --hash=sha256:{demo['1.0'].sha256}")
    new = _write(tmp_path / "new.txt", f"demo==2.0 --hash=sha256:{demo['2.0'].sha256} "
                 f"--hash=sha256:{demo['2.0-win'].sha256}")
    run = _guard(old, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout
    late = demo["2.0-win"].filename
    line = next(x for x in run.stdout.splitlines() if "LATE" in x)
    assert f"demo 2.0 [new release; upgrade from 1.0]: {late}" in line
    assert "installed by: cp312-win_amd64" in line
    assert demo["2.0"].filename not in run.stdout  # on time: not listed by default
    assert "2 hash(es) of 1 newly locked release(s) (upgrades, new dependencies), 1 late" in \
        run.stdout
    assert "0 hash(es) added to already-locked releases" in run.stdout
    doc = _guard(old, new, local_index.url, clean_pip_env, tmp_path, "--format", "json")
    assert doc.code == 1
    data = doc.json()
    item = next(h for h in data["hashes"] if h["status"] == "late")
    assert (item["filename"], item["change"], item["previous_versions"]) == \
        (late, "new-release", ["1.0"])
    assert data["summary"]["new-release"]["late"] == 1
    assert data["summary"]["added-file"]["hashes"] == 0
    sarif = _guard(old, new, local_index.url, clean_pip_env, tmp_path, "--format", "sarif")
    assert sarif.code == 1
    (result,) = json.loads(sarif.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "safe-install/late-artifact" and late in \
        result["message"]["text"]


def test_a_new_dependency_with_a_late_file_fails(demo, local_index, tmp_path, clean_pip_env):
    old = _write(tmp_path / "old.txt", f"demo==1.0 --hash=sha256:{demo['1.0'].sha256}")
    new = _write(tmp_path / "new.txt", f"demo==1.0 --hash=sha256:{demo['1.0'].sha256}",
                 f"newdep==1.0 --hash=sha256:{demo['dep-late'].sha256} "
                 f"--hash=sha256:{demo['newdep-any'].sha256}")
    run = _guard(old, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout
    assert f"LATE      newdep 1.0 [new release; new dependency]: {demo['dep-late'].filename}" \
        in run.stdout


def test_an_upgrade_to_an_on_time_release_passes(demo, local_index, tmp_path, clean_pip_env):
    old = _write(tmp_path / "old.txt", f"demo==1.0 --hash=sha256:{demo['1.0'].sha256}")
    new = _write(tmp_path / "new.txt", f"demo==2.0 --hash=sha256:{demo['2.0'].sha256}",
                 f"dep==1.0 --hash=sha256:{demo['dep'].sha256}")
    run = _guard(old, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 0, run.stdout
    assert "2 hash(es) of 2 newly locked release(s)" in run.stdout and "; ok" in run.stdout


def test_respelling_the_version_does_not_make_a_release_new(demo, local_index, tmp_path,
                                                            t0, clean_pip_env):
    late = publish(local_index, tmp_path, t0, "demo", "1.0", tag=WIN, offset=LATE)
    old = _write(tmp_path / "old.txt", f"demo==1.0 --hash=sha256:{demo['1.0'].sha256}")
    new = _write(tmp_path / "new.txt", f"Demo==1.0.0 --hash=sha256:{demo['1.0'].sha256} "
                 f"--hash=sha256:{late.sha256}")
    run = _guard(old, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout
    assert f"[new file in a locked release]: {late.filename}" in run.stdout
    assert "1 hash(es) added to already-locked releases, 1 late" in run.stdout


@pytest.mark.parametrize("line", ["demo==1.0", "demo>=1.0", "demo", "demo==1.0 --hash=sha512:"
                                  + "0" * 128])
def test_a_change_that_loses_hash_checking_fails(line, demo, local_index, tmp_path,
                                                 clean_pip_env):
    old = _write(tmp_path / "old.txt", f"demo==1.0 --hash=sha256:{demo['1.0'].sha256}",
                 f"dep==1.0 --hash=sha256:{demo['dep'].sha256}")
    new = _write(tmp_path / "new.txt", line, f"dep==1.0 --hash=sha256:{demo['dep'].sha256}")
    run = _guard(old, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout
    assert "UNHASHED  demo" in run.stdout and "turns hash checking off for it" in run.stdout
    assert "FAILED" in run.stdout
    sarif = _guard(old, new, local_index.url, clean_pip_env, tmp_path, "--format", "sarif")
    (result,) = json.loads(sarif.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "safe-install/hash-checking-lost"
    assert result["level"] == "error" and result["locations"][0]["physicalLocation"][
        "region"]["startLine"] == 1


def test_a_new_entry_that_cannot_be_checked_fails_guard(demo, local_index, tmp_path,
                                                        clean_pip_env):
    old = _write(tmp_path / "old.txt", f"dep==1.0 --hash=sha256:{demo['dep'].sha256}")
    new = _write(tmp_path / "new.txt", f"dep==1.0 --hash=sha256:{demo['dep'].sha256}",
                 "evil @ https://example.invalid/evil-1.0.tar.gz")
    run = _guard(old, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 1 and "UNCHECKED evil" in run.stdout
    # unchanged, it is reported and does not fail again
    run = _guard(new, new, local_index.url, clean_pip_env, tmp_path)
    assert run.code == 0 and "unchecked evil" in run.stdout


# -- broken and type-confused locks --------------------------------------------------------------

DEEP = 100_000

MALFORMED = {
    "poetry-package-string": ("poetry.lock", 'package = "demo"\n', "package"),
    "poetry-files-table": ("poetry.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                           '[package.files]\nfile = "x"\n', "package demo.files"),
    "poetry-hash-number": ("poetry.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                           'files = [{file = "demo-1.0.tar.gz", hash = 7}]\n',
                           "package demo.files[0].hash"),
    "uv-wheels-table": ("uv.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                        'source = { registry = "https://pypi.org/simple" }\n'
                        '[package.wheels]\nurl = "x"\n', "package demo.wheels"),
    "uv-bad-version": ("uv.lock", '[[package]]\nname = "demo"\nversion = "not a version"\n'
                       'source = { registry = "https://pypi.org/simple" }\n',
                       "package demo.version"),
    "pipfile-meta-list": ("Pipfile.lock", '{"_meta": [], "default": {}}', "_meta"),
    "pipfile-entry-string": ("Pipfile.lock", '{"default": {"demo": "==1.0"}}', "default.demo"),
    "pipfile-hashes-string": ("Pipfile.lock", '{"default": {"demo": {"version": "==1.0", '
                              '"hashes": "sha256:' + "a" * 64 + '"}}}', "default.demo.hashes"),
    "pipfile-short-sha": ("Pipfile.lock", '{"default": {"demo": {"version": "==1.0", '
                          '"hashes": ["sha256:abc"]}}}', "default.demo.hashes"),
    "pipfile-deep": ("Pipfile.lock", "[" * DEEP + "]" * DEEP, "Pipfile.lock"),
    "poetry-deep": ("poetry.lock", "x = " + "[" * DEEP + "]" * DEEP + "\n", "poetry.lock"),
    "pylock-hashes-string": ("pylock.toml", 'lock-version = "1.0"\ncreated-by = "x"\n'
                             '[[packages]]\nname = "demo"\nversion = "1.0"\n'
                             '[[packages.wheels]]\nname = "demo-1.0-py3-none-any.whl"\n'
                             'url = "https://example.invalid/demo-1.0-py3-none-any.whl"\n'
                             'hashes = "sha256:' + "a" * 64 + '"\n', "pylock.toml"),
    "uv-hash-number": ("uv.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                       'source = { registry = "https://pypi.org/simple" }\n'
                       'wheels = [{ url = "https://x.invalid/demo-1.0-py3-none-any.whl", '
                       'hash = 1 }]\n', "package demo.wheels[0].hash"),
    "pylock-no-files": ("pylock.toml", 'lock-version = "1.0"\ncreated-by = "x"\n'
                        '[[packages]]\nname = "demo"\nversion = "1.0"\n', "packages[0]"),
    "pylock-package-string": ("pylock.toml", 'lock-version = "1.0"\ncreated-by = "x"\n'
                              'packages = "demo"\n', "pylock.toml"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_lock_is_a_usage_error_naming_file_and_entry(case, tmp_path,
                                                                 clean_pip_env):
    name, content, entry = MALFORMED[case]
    (tmp_path / name).write_text(content)
    run = run_tool(["audit", name, "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 2, run.stdout + run.stderr
    assert name in run.stderr and entry in run.stderr and "ok" not in run.stdout
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / name).write_text("" if name != "Pipfile.lock" else "{}")
    run = run_tool(["guard", f"old/{name}", name, "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 2 and entry in run.stderr


UNCHECKABLE = {
    "poetry-no-files": ("poetry.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                        'files = []\n', "lists no file with a sha256"),
    "poetry-md5-only": ("poetry.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                        'files = [{file = "demo-1.0.tar.gz", hash = "md5:' + "0" * 32 + '"}]\n',
                        "lists no file with a sha256"),
    "requirements-sha512-only": ("requirements.txt", "demo==1.0 --hash=sha512:" + "0" * 128,
                                 "has no sha256 --hash (only sha512)"),
    "requirements-no-hash": ("requirements.txt", "demo==1.0", "has no sha256 --hash"),
    "pipfile-no-hashes": ("Pipfile.lock", '{"default": {"demo": {"version": "==1.0", '
                          '"hashes": []}}}', "has no sha256 hash"),
    "uv-no-files": ("uv.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
                    'source = { registry = "https://pypi.org/simple" }\n',
                    "lists no file with a sha256"),
    "uv-git": ("uv.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
               'source = { git = "https://example.invalid/demo.git" }\n',
               "does not come from a registry"),
}


@pytest.mark.parametrize("case", sorted(UNCHECKABLE))
def test_entries_that_cannot_be_checked_are_reported_and_fail_strict_and_guard(
        case, tmp_path, clean_pip_env):
    name, content, why = UNCHECKABLE[case]
    (tmp_path / name).write_text(content + "\n")
    run = run_tool(["audit", name, "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stdout + run.stderr  # documented: only --strict fails on them
    assert why in run.stdout and "1 entr(y/ies) NOT CHECKED" in run.stdout
    assert "0 hash(es) audited" in run.stdout and "UNCHECKED" not in run.stdout
    run = run_tool(["audit", name, "--no-index", "--strict"], clean_pip_env, tmp_path)
    assert run.code == 1 and "UNCHECKED demo" in run.stdout and "FAILED" in run.stdout
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / name).write_text("" if name != "Pipfile.lock" else "{}")
    run = run_tool(["guard", f"old/{name}", name, "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 1 and "UNCHECKED demo" in run.stdout


# -- pylock.toml archives and paths ---------------------------------------------------------------


def _archive_lock(tmp_path: Path, path: str, sha256: str) -> Path:
    lock = tmp_path / "proj" / "pylock.toml"
    lock.parent.mkdir(exist_ok=True)
    lock.write_text('lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\n'
                    'name = "evil"\nversion = "1.0"\n\n[packages.archive]\n'
                    f'path = "{path}"\nhashes = {{sha256 = "{sha256}"}}\n')
    return lock


def test_a_pylock_archive_with_a_wrong_sha256_is_refused_before_anything_is_built(
        tmp_path, clean_pip_env, make_venv, local_index):
    sdist = build_sdist(tmp_path / "proj", "evil", "1.0", static_metadata=False)
    lock = _archive_lock(tmp_path, sdist.name, "ab" * 32)
    venv = make_venv()
    for extra in (["--dry-run"], []):
        run = run_cli(["--python", str(venv), "-i", local_index.url, *extra, "-r",
                       str(lock)], clean_pip_env, tmp_path, report=False)
        assert run.code == 2, run.stderr
        assert "not the file that was locked" in run.stderr and "evil" in run.stderr
        assert pip_list(venv, clean_pip_env) == {}
    # audit and guard check it too: not the locked file, whatever --strict says
    run = run_tool(["audit", str(lock), "--no-index", "--format", "sarif"], clean_pip_env,
                   tmp_path)
    assert run.code == 1
    (result,) = json.loads(run.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "safe-install/archive-mismatch" and result["level"] == "error"
    run = run_tool(["audit", str(lock), "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 1 and "MISMATCH  evil 1.0" in run.stdout
    assert "not the file that was locked" in run.stdout
    old = tmp_path / "old" / "pylock.toml"
    old.parent.mkdir()
    old.write_text('lock-version = "1.0"\ncreated-by = "test"\npackages = []\n')
    run = run_tool(["guard", str(old), str(lock), "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 1 and "MISMATCH  evil 1.0" in run.stdout
    # the right archive: installed from the lock (hash verified), reported by audit as an
    # entry that cannot be dated (failing only with --strict)
    _archive_lock(tmp_path, sdist.name, hashlib.sha256(sdist.read_bytes()).hexdigest())
    run = run_tool(["audit", str(lock), "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 0 and "unchecked evil 1.0" in run.stdout, run.stdout
    run = run_tool(["audit", str(lock), "--no-index", "--strict"], clean_pip_env, tmp_path)
    assert run.code == 1 and "UNCHECKED evil 1.0" in run.stdout
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "-r",
                   str(lock)], clean_pip_env, tmp_path, report=False)
    assert "not the file that was locked" not in run.stderr


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/passwd", "../outside.tar.gz"])
def test_a_pylock_path_outside_the_lock_directory_is_refused(path, tmp_path, clean_pip_env,
                                                             local_index):
    (tmp_path / "outside.tar.gz").write_bytes(b"x")
    lock = _archive_lock(tmp_path, path, "ab" * 32)
    run = run_cli(["--dry-run", "-i", local_index.url, "-r", str(lock)], clean_pip_env,
                  tmp_path, report=False)
    assert run.code == 2 and "points outside the lock's directory" in run.stderr
    audit = run_tool(["audit", str(lock), "--no-index"], clean_pip_env, tmp_path)
    assert audit.code == 1 and "points outside the lock's directory" in audit.stdout
    env = dict(clean_pip_env, SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE="1")
    run = run_cli(["--dry-run", "-i", local_index.url, "-r", str(lock)], env, tmp_path,
                  report=False)
    assert run.code == 2 and "points outside" not in run.stderr  # allowed; then verified
    assert "not the file that was locked" in run.stderr or "No such file" in run.stderr


def test_a_pylock_naming_a_friendly_mirror_is_dated_on_the_configured_index(
        local_index, tmp_path, t0, clean_pip_env, make_venv):
    """The lock's index dates the late native wheel 20 minutes after the release: guard,
    audit and the checked install date it on the configured index instead."""
    from support.index import LocalIndex
    from support.scenarios import native_tag

    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    late = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(), offset=LATE,
                   payload="malicious")
    with LocalIndex(tmp_path / "mirror") as mirror:
        mirror.add(pure.path, upload_time=t0)
        mirror.add(late.path, upload_time=t0 + timedelta(minutes=20))
        before, after = tmp_path / "before", tmp_path / "after"
        before.mkdir()
        after.mkdir()
        (before / "pylock.toml").write_text(
            'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "demo"\n'
            f'version = "1.0"\nindex = "{local_index.url}"\n\n[[packages.wheels]]\n'
            f'name = "{pure.filename}"\nurl = "{pure.url}"\n'
            f'hashes = {{sha256 = "{pure.sha256}"}}\n')
        made = run_tool(["lock", "-i", mirror.url, "demo", "--output-requirements", ""],
                        clean_pip_env, tmp_path, cwd=after)
        assert made.code == 0, made.stderr
        assert late.sha256 in (after / "pylock.toml").read_text()  # the mirror let it in
        run = run_tool(["guard", str(before / "pylock.toml"), str(after / "pylock.toml"), "-i",
                        local_index.url], clean_pip_env, tmp_path)
        assert run.code == 1 and f"LATE      demo 1.0 [new file in a locked release]: " \
            f"{late.filename}" in run.stdout
        assert f"names index {mirror.url}, which is not a configured index" in run.stdout
        run = run_tool(["audit", str(after / "pylock.toml"), "-i", local_index.url],
                       clean_pip_env, tmp_path)
        assert run.code == 1 and late.filename in run.stdout
        venv = make_venv()
        run = run_cli(["--python", str(venv), "-i", local_index.url, "-r",
                       str(after / "pylock.toml")], clean_pip_env, tmp_path)
        assert run.code == 1, run.stderr
        assert ("late", "error") in run.kinds("demo")
        assert pip_list(venv, clean_pip_env) == {}
