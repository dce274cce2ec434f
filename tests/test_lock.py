"""Issue 4: `safe-install-tool lock` writes locks of checked files only; `safe-install -r
pylock.toml` checks what it would install."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
from packaging.pylock import Pylock
from tomli_w import dumps as dumps_toml  # the pylock writer's TOML library

from clihelp import run_cli
from lockhelp import publish, run_tool
from safeinstall.locks.reader import read_lock
from support.index import LocalIndex
from support.piprun import pip_list, run_pip
from support.scenarios import native_tag

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LATE = timedelta(days=90)


def _release(index, work, t0, *, late_native=False):
    files = {
        "sdist": publish(index, work, t0, "demo", "1.0", kind="sdist", requires_dist=("dep>=1",)),
        "pure": publish(index, work, t0, "demo", "1.0", requires_dist=("dep>=1",)),
        "dep": publish(index, work, t0, "dep", "1.0"),
    }
    if late_native:
        files["native"] = publish(index, work, t0, "demo", "1.0", tag=native_tag(),
                                  offset=LATE, payload="malicious", requires_dist=("dep>=1",))
    return files


def _hashes(path):
    lock = read_lock(str(path))
    return {r.name: set(r.hashes) for r in lock.releases}


def _lock(args, env, tmp_path, work):
    work.mkdir(exist_ok=True)
    run = run_tool(["lock", *args, "--report", "report.json"], env, tmp_path, cwd=work)
    report = json.loads((work / "report.json").read_text()) if (work / "report.json").exists() \
        else None
    return run, report


def test_lock_records_checked_files_and_refuses_a_later_late_file(local_index, tmp_path, t0,
                                                                  clean_pip_env):
    files = _release(local_index, tmp_path, t0)
    work = tmp_path / "before"
    run, report = _lock(["-i", local_index.url, "demo"], clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    # only the file pip selects for the target, not every file of the release
    assert _hashes(work / "requirements.lock") == {"demo": {files["pure"].sha256},
                                                   "dep": {files["dep"].sha256}}
    assert _hashes(work / "pylock.toml") == _hashes(work / "requirements.lock")
    lock = Pylock.from_dict(tomllib.loads((work / "pylock.toml").read_text()))
    demo = next(p for p in lock.packages if p.name == "demo")
    assert demo.index == local_index.url
    assert demo.wheels[0].upload_time == t0
    assert demo.wheels[0].url == files["pure"].url and demo.wheels[0].size == files["pure"].size
    left = {(x["filename"], x["kind"]) for x in report["left_out"]}
    assert left == {(files["sdist"].filename, "not-selected")}

    # a native wheel is added 90 days later; pip would now prefer it
    late = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(), offset=LATE,
                   payload="malicious", requires_dist=("dep>=1",))
    after = tmp_path / "after"
    run, report = _lock(["-i", local_index.url, "demo"], clean_pip_env, tmp_path, after)
    assert run.code == 0, run.stderr
    assert _hashes(after / "requirements.lock") == _hashes(work / "requirements.lock")
    assert late.sha256 not in (after / "requirements.lock").read_text()
    assert late.sha256 not in (after / "pylock.toml").read_text()
    assert f"left out {late.filename}: late: uploaded 90d" in run.stderr
    assert f"# left out {late.filename}: late" in (after / "requirements.lock").read_text()
    late_left = [x for x in report["left_out"] if x["kind"] == "late"]
    assert [(x["filename"], x["lateness_seconds"]) for x in late_left] == \
        [(late.filename, LATE.total_seconds())]
    pylock = tomllib.loads((after / "pylock.toml").read_text())
    assert {x["file"] for x in pylock["tool"]["safe-install"]["left-out"]} == \
        {late.filename, files["sdist"].filename}
    # and our guard sees no new hash in the regenerated lock
    guard = run_tool(["guard", str(work / "requirements.lock"),
                      str(after / "requirements.lock"), "-i", local_index.url], clean_pip_env,
                     tmp_path)
    assert guard.code == 0, guard.stdout + guard.stderr


def test_plain_pip_installs_the_lock_and_never_the_late_file(local_index, tmp_path, t0,
                                                             clean_pip_env, make_venv):
    _release(local_index, tmp_path, t0, late_native=True)
    work = tmp_path / "w"
    run, _ = _lock(["-i", local_index.url, "demo"], clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    venv = make_venv()
    run_pip(["install", "--require-hashes", "-i", local_index.url, "-r",
             str(work / "requirements.lock")], clean_pip_env, python=venv)
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}
    payload = subprocess.run([str(venv), "-c", "import demo; print(demo.PAYLOAD)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert payload == "benign"
    # pip 26 accepts our pylock.toml as it is
    report = run_pip(["install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
                      "-r", str(work / "pylock.toml")], clean_pip_env).stdout
    chosen = {i["metadata"]["name"]: i["download_info"]["url"].rsplit("/", 1)[1]
              for i in json.loads(report)["install"]}
    assert chosen == {"demo": "demo-1.0-py3-none-any.whl", "dep": "dep-1.0-py3-none-any.whl"}


def test_lock_for_several_targets_records_each_targets_file(local_index, tmp_path, t0,
                                                            clean_pip_env):
    _release(local_index, tmp_path, t0)
    win_ok = publish(local_index, tmp_path, t0, "demo", "1.0", tag="cp312-cp312-win_amd64",
                     offset=timedelta(hours=2), requires_dist=("dep>=1",))
    mac_late = publish(local_index, tmp_path, t0, "demo", "1.0",
                       tag="cp312-cp312-macosx_11_0_arm64", offset=LATE,
                       requires_dist=("dep>=1",))
    work = tmp_path / "w"
    run, report = _lock(["-i", local_index.url, "demo", "--targets",
                         "current,3.12:win_amd64,3.12:macos_arm64"], clean_pip_env, tmp_path,
                        work)
    assert run.code == 0, run.stderr
    demo = next(p for p in report["packages"] if p["name"] == "demo")
    by_file = {f["filename"]: f["selected_by"] for f in demo["files"]}
    current = report["targets"][0]
    assert by_file == {"demo-1.0-py3-none-any.whl": [current, "cp312-macos_arm64"],
                       win_ok.filename: ["cp312-win_amd64"]}
    assert [x["filename"] for x in report["left_out"] if x["kind"] == "late"] == \
        [mac_late.filename]
    lock = Pylock.from_dict(tomllib.loads((work / "pylock.toml").read_text()))
    demo_pkg = next(p for p in lock.packages if p.name == "demo")
    assert {w.name for w in demo_pkg.wheels} == set(by_file)
    text = (work / "requirements.lock").read_text()
    assert win_ok.sha256 in text and mac_late.sha256 not in text


def test_targets_that_resolve_to_different_versions_get_one_entry_each_with_a_marker(
        local_index, tmp_path, t0, clean_pip_env):
    one = publish(local_index, tmp_path, t0, "demo", "1.0")
    two = publish(local_index, tmp_path, t0, "demo", "2.0", requires_python=">=3.99")
    work = tmp_path / "w"
    run, report = _lock(["-i", local_index.url, "demo", "--targets", "current,3.99:win_amd64"],
                        clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    text = (work / "requirements.lock").read_text()
    assert f'demo==1.0 ; sys_platform == "{sys.platform}"' in text and one.sha256 in text
    assert 'demo==2.0 ; sys_platform == "win32"' in text and two.sha256 in text
    lock = Pylock.from_dict(tomllib.loads((work / "pylock.toml").read_text()))
    assert {(str(p.version), str(p.marker)) for p in lock.packages} == \
        {("1.0", f'sys_platform == "{sys.platform}"'), ("2.0", 'sys_platform == "win32"')}
    # guard and audit read both entries, and each is installed by its own target only
    audit = run_tool(["audit", str(work / "requirements.lock"), "-i", local_index.url,
                      "--targets", "current,3.99:win_amd64", "--format", "json"],
                     clean_pip_env, tmp_path)
    assert audit.code == 0, audit.stdout
    by_file = {h["filename"]: h["selected_by"] for h in audit.json()["hashes"]}
    assert by_file == {one.filename: ["current"], two.filename: ["cp399-win_amd64"]}


def test_targets_no_marker_can_tell_apart_are_an_error_that_says_why(local_index, tmp_path,
                                                                      t0, clean_pip_env):
    publish(local_index, tmp_path, t0, "demo", "1.0")
    publish(local_index, tmp_path, t0, "demo", "2.0", tag="cp312-cp312-musllinux_1_2_x86_64")
    work = tmp_path / "w"
    run, _ = _lock(["-i", local_index.url, "demo", "--targets",
                    "3.12:manylinux_x86_64,3.12:musllinux_x86_64"], clean_pip_env, tmp_path,
                   work)
    assert run.code == 2
    assert "no environment marker can tell these two apart" in run.stderr
    assert "1.0 for cp312-manylinux_x86_64" in run.stderr
    assert "2.0 for cp312-musllinux_x86_64" in run.stderr
    assert not (work / "requirements.lock").exists()


def test_a_lock_for_two_targets_is_right_on_both(local_index, tmp_path, t0, clean_pip_env):
    """click 8.1.7 needs colorama on Windows only: the lock for current + 3.12:win_amd64 holds
    colorama with a marker, and pip accepts it (hash-checking mode) on both targets."""
    publish(local_index, tmp_path, t0, "click", "8.1.7",
            requires_dist=('colorama; platform_system == "Windows"',))
    colorama = publish(local_index, tmp_path, t0, "colorama", "0.4.6")
    work = tmp_path / "w"
    run, report = _lock(["-i", local_index.url, "click==8.1.7", "--targets",
                         "current,3.12:win_amd64"], clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    text = (work / "requirements.lock").read_text()
    assert 'colorama==0.4.6 ; sys_platform == "win32" \\' in text
    assert "click==8.1.7 \\" in text  # every target: no marker
    lock = Pylock.from_dict(tomllib.loads((work / "pylock.toml").read_text()))
    assert {p.name: str(p.marker) if p.marker else None for p in lock.packages} == \
        {"click": None, "colorama": 'sys_platform == "win32"'}
    common = ["install", "--dry-run", "--ignore-installed", "--require-hashes", "--quiet",
              "--report", "-", "-i", local_index.url, "-r", str(work / "requirements.lock")]
    here = json.loads(run_pip(common, clean_pip_env).stdout)
    assert {i["metadata"]["name"] for i in here["install"]} == {"click"}
    # pip evaluates markers for the interpreter it runs on, even with --platform: on Linux the
    # Windows-only line is skipped, on Windows it is installed (the selection below proves
    # the files exist for that target and the hashes match)
    win = json.loads(run_pip([*common, "--platform", "win_amd64", "--python-version", "3.12",
                              "--only-binary", ":all:", "--target", str(tmp_path / "t")],
                             clean_pip_env).stdout)
    assert "click" in {i["metadata"]["name"] for i in win["install"]}
    windows = tmp_path / "win.lock"
    windows.write_text(text.replace('; sys_platform == "win32"', ""))
    win = json.loads(run_pip([*common[:-1], str(windows), "--platform", "win_amd64",
                              "--python-version", "3.12", "--only-binary", ":all:",
                              "--target", str(tmp_path / "t")], clean_pip_env).stdout)
    assert {i["metadata"]["name"] for i in win["install"]} == {"click", "colorama"}
    assert win["install"][0]["download_info"]["archive_info"]["hashes"]["sha256"] in text
    assert colorama.sha256 in text
    # from the pylock.toml, as pip 26 selects: colorama on Windows only
    from packaging.markers import default_environment
    from packaging.tags import compatible_tags, cpython_tags, sys_tags

    windows_env = {**default_environment(), "sys_platform": "win32", "os_name": "nt",
                   "platform_system": "Windows", "platform_machine": "AMD64",
                   "python_version": "3.12", "python_full_version": "3.12.0"}
    picked = {p.name for p, _ in lock.select(
        environment=windows_env,
        tags=[*cpython_tags((3, 12), platforms=["win_amd64"]),
              *compatible_tags((3, 12), platforms=["win_amd64"])])}
    assert picked == {"click", "colorama"}
    picked = {p.name for p, _ in lock.select(tags=list(sys_tags()))}
    assert picked == {"click"}


def test_lock_refuses_files_it_cannot_date(local_index, tmp_path, t0, clean_pip_env):
    publish(local_index, tmp_path, t0, "demo", "1.0", upload_time=False)
    work = tmp_path / "w"
    run, report = _lock(["-i", local_index.url, "demo"], clean_pip_env, tmp_path, work)
    assert run.code == 1
    assert "unknown-upload-time" in run.stderr and "no lock was written" in run.stderr
    assert report["outcome"] == "refused"
    assert not (work / "requirements.lock").exists() and not (work / "pylock.toml").exists()


def test_allow_late_puts_a_reviewed_late_file_in_the_lock(local_index, tmp_path, t0,
                                                          clean_pip_env):
    files = _release(local_index, tmp_path, t0, late_native=True)
    work = tmp_path / "w"
    run, report = _lock(["-i", local_index.url, "demo", "--allow-late", "demo==1.0"],
                        clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    assert _hashes(work / "requirements.lock")["demo"] == {files["native"].sha256}
    assert "allowed late" in (work / "requirements.lock").read_text()


def test_install_from_pylock_checks_every_file(local_index, tmp_path, t0, clean_pip_env,
                                               make_venv):
    files = _release(local_index, tmp_path, t0, late_native=True)
    good, bad = tmp_path / "good", tmp_path / "bad"
    assert _lock(["-i", local_index.url, "demo"], clean_pip_env, tmp_path, good)[0].code == 0
    # a lock that trusts the late file (made with an exception, then used without one)
    assert _lock(["-i", local_index.url, "demo", "--allow-late", "demo==1.0"], clean_pip_env,
                 tmp_path, bad)[0].code == 0
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r",
                   str(bad / "pylock.toml")], clean_pip_env, tmp_path)
    assert run.code == 1
    assert run.package("demo")["filename"] == files["native"].filename
    assert ("late", "error") in run.kinds("demo")
    assert pip_list(venv, clean_pip_env) == {}
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r",
                   str(good / "pylock.toml")], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["filename"] == files["pure"].filename
    assert run.package("demo")["trusted_hashes"] == [files["pure"].sha256]
    assert run.report["target"]["hash_checking_mode"] is True
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_install_from_pylock_dates_files_on_the_configured_indexes_only(local_index, tmp_path,
                                                                        t0, clean_pip_env,
                                                                        make_venv):
    """An index named by the lock is data, not an authority: it is not searched."""
    _release(local_index, tmp_path, t0)
    work = tmp_path / "w"
    assert _lock(["-i", local_index.url, "demo"], clean_pip_env, tmp_path, work)[0].code == 0
    venv = make_venv()
    with LocalIndex(tmp_path / "empty") as empty:
        run = run_cli(["--python", str(venv), "--dry-run", "-i", empty.url, "-r",
                       str(work / "pylock.toml")], clean_pip_env, tmp_path)
    assert run.code == 2 and "demo is not on any configured index" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}
    run = run_cli(["--python", str(venv), "--dry-run", "-i", local_index.url, "-r",
                   str(work / "pylock.toml")], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["index"] == local_index.url
    assert not any("not configured" in n for n in run.report["notes"])


def test_invalid_pylock_is_a_requirement_error(tmp_path, clean_pip_env):
    bad = tmp_path / "pylock.toml"
    bad.write_text("this is not toml")
    run = run_cli(["--dry-run", "-r", str(bad)], clean_pip_env, tmp_path)
    assert run.code == 2 and "not valid TOML" in run.stderr
    (tmp_path / "pylock.dev.toml").write_text('lock-version = "1.0"\n')
    run = run_cli(["--dry-run", "-r", str(tmp_path / "pylock.dev.toml")], clean_pip_env,
                  tmp_path)
    assert run.code == 2 and "not a valid pylock.toml" in run.stderr


@pytest.mark.parametrize("data", [
    {"a": 1, "b": "x\"y\\z\n", "t": {"k": [1, 2], "inline": {"sha256": "ab"}},
     "arr": [{"n": "1", "sub": {"h": {"x": "y"}}}, {"n": "2"}]},
    {"lock-version": "1.0", "packages": [{"name": "a", "wheels": [{"name": "a.whl",
                                                                  "hashes": {"sha256": "0"}}]}]},
])
def test_toml_writer_round_trips(data):
    assert tomllib.loads(dumps_toml(data)) == data


def test_lock_requires_requirements(tmp_path, clean_pip_env):
    run = run_tool(["lock"], clean_pip_env, tmp_path)
    assert run.code == 2 and "no requirements given" in run.stderr


def test_locks_are_written_readable_with_paths_relative_to_the_lock(local_index, tmp_path, t0,
                                                                    clean_pip_env):
    _release(local_index, tmp_path, t0)
    work = tmp_path / "w"
    (work / "in").mkdir(parents=True)
    (work / "in" / "requirements.in").write_text("demo\n")
    run = run_tool(["lock", "-i", local_index.url, "-r", "in/requirements.in",
                    "--output-requirements", "out/requirements.lock", "--output-pylock",
                    "out/pylock.toml", "-q"], clean_pip_env, tmp_path, cwd=work)
    assert run.code == 0, run.stderr
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("requirements.lock", "pylock.toml"):
        mode = stat.S_IMODE((work / "out" / name).stat().st_mode)
        assert mode == 0o666 & ~umask and mode & 0o044  # not 0600: others can read it
    text = (work / "out" / "requirements.lock").read_text()
    assert "# via the user (../in/requirements.in:1)" in text
    assert str(tmp_path) not in text


def test_markers_name_the_targets_of_an_entry_as_simply_as_they_can():
    from safeinstall.errors import ResolutionError
    from safeinstall.locks.targets import marker_for

    def env(py, plat="linux", machine="x86_64"):
        return {"sys_platform": plat, "python_version": py, "platform_machine": machine,
                "implementation_name": "cpython"}

    pys = {f"cp3{m}": env(f"3.{m}") for m in range(10, 15)}
    assert marker_for(list(pys), pys, what="x") is None
    assert marker_for(["cp310"], pys, what="x") == 'python_version == "3.10"'
    assert marker_for(["cp311", "cp312", "cp313", "cp314"], pys, what="x") == \
        'python_version >= "3.11"'
    assert marker_for(["cp310", "cp312"], pys, what="x") == \
        'python_version == "3.10" or python_version == "3.12"'
    mixed = {"lin": env("3.12"), "win": env("3.12", "win32", "AMD64"),
             "lin311": env("3.11"), "arm": env("3.12", machine="aarch64")}
    assert marker_for(["win"], mixed, what="x") == 'sys_platform == "win32"'
    assert marker_for(["arm"], mixed, what="x") == 'platform_machine == "aarch64"'
    assert marker_for(["lin", "lin311"], mixed, what="x") == 'platform_machine == "x86_64"'
    grid = {"lin": env("3.12"), "lin311": env("3.11"), "win": env("3.12", "win32", "AMD64"),
            "win311": env("3.11", "win32", "AMD64")}
    assert marker_for(["lin", "win311"], grid, what="x") == \
        '(sys_platform == "linux" and python_version == "3.12" and platform_machine == ' \
        '"x86_64") or (sys_platform == "win32" and python_version == "3.11" and ' \
        'platform_machine == "AMD64")'
    twins = {"many": env("3.12"), "musl": env("3.12")}
    with pytest.raises(ResolutionError, match="no environment marker can tell"):
        marker_for(["many"], twins, what="demo 1.0", versions={"many": "1.0", "musl": "2.0"})
