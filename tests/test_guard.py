"""Issues 4 and 15: `safe-install-tool guard` catches a lock change that trusts a late file."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from lockhelp import generate_lock, lock_tools, publish, run_tool
from support.scenarios import native_tag

SAMPLES = Path(__file__).parent / "data" / "locks"
LATE = timedelta(days=90)


def sample_scenario(scenario):
    """Publish the scenario of the checked-in samples; skip if this machine builds different
    bytes (the samples' hashes would then name other files)."""
    files = scenario(SAMPLES / "late_wheel.toml")
    text = (SAMPLES / "after" / "requirements.txt").read_text()
    if any(f.sha256 not in text for f in files.values()):
        pytest.skip("the test artifacts are not byte-identical to the ones the samples were "
                    "made from on this machine (regenerate tests/data/locks)")
    return files


def test_guard_flags_the_late_hash_pip_compile_added(scenario, local_index, tmp_path,
                                                     clean_pip_env):
    files = sample_scenario(scenario)
    old, new = SAMPLES / "before" / "requirements.txt", SAMPLES / "after" / "requirements.txt"
    args = ["guard", str(old), str(new), "-i", local_index.url, "--targets",
            "current,3.12:win_amd64"]
    run = run_tool(args, clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout + run.stderr
    win = files["win"]
    line = next(x for x in run.stdout.splitlines() if "LATE" in x)
    assert "demo 1.0" in line and win.filename in line and "90d" in line
    assert "2024-07-23 19:31:22Z" in line and "installed by: cp312-win_amd64" in line
    assert "1 hash(es) added to already-locked releases, 1 late" in run.stdout

    data = run_tool([*args, "--format", "json"], clean_pip_env, tmp_path)
    assert data.code == 1
    doc = data.json()
    assert doc["exit_code"] == 1
    (item,) = doc["hashes"]
    assert item["sha256"] == win.sha256 and item["status"] == "late" and item["fails"]
    assert item["lateness_seconds"] == LATE.total_seconds()
    assert item["upload_time"] == "2024-07-23T19:31:22.123456Z"
    assert item["release_start"] == "2024-04-24T19:31:22.123456Z"
    assert item["selected_by"] == ["cp312-win_amd64"]
    hash_line = next(i for i, x in enumerate(new.read_text().splitlines(), 1)
                     if win.sha256 in x)
    assert item["line"] == hash_line

    sarif = run_tool([*args, "--format", "sarif", "-o", "guard.sarif"], clean_pip_env,
                     tmp_path)
    assert sarif.code == 1
    doc = json.loads((tmp_path / "guard.sarif").read_text())
    assert doc["version"] == "2.1.0"
    (result,) = doc["runs"][0]["results"]
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert result["ruleId"] == "safe-install/late-artifact" == rules[result["ruleIndex"]]["id"]
    assert result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    # relative to the repository root, whatever path was typed
    assert loc["artifactLocation"] == {"uri": "tests/data/locks/after/requirements.txt",
                                       "uriBaseId": "SRCROOT"}
    root = doc["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"]
    assert root.startswith("file:///") and root.endswith("/")
    assert loc["region"]["startLine"] == hash_line
    assert "1 late" in sarif.stderr


def test_guard_compares_the_working_copy_with_git_head(scenario, local_index, tmp_path,
                                                       clean_pip_env):
    files = sample_scenario(scenario)
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t",
                        "-c", "commit.gpgsign=false", *args], cwd=repo, check=True,
                       capture_output=True)

    git("init", "-q")
    shutil.copy(SAMPLES / "before" / "requirements.txt", repo / "requirements.txt")
    git("add", "requirements.txt")
    git("commit", "-q", "-m", "lock")
    run = run_tool(["guard", "requirements.txt", "-i", local_index.url], clean_pip_env,
                   tmp_path, cwd=repo)
    assert run.code == 0, run.stdout + run.stderr  # nothing changed
    shutil.copy(SAMPLES / "after" / "requirements.txt", repo / "requirements.txt")
    run = run_tool(["guard", "requirements.txt", "-i", local_index.url], clean_pip_env,
                   tmp_path, cwd=repo)
    assert run.code == 1
    assert files["win"].filename in run.stdout
    assert "requirements.txt@HEAD -> requirements.txt" in run.stdout
    # the pre-commit hook's form: --rev with several files, one of them new
    shutil.copy(SAMPLES / "after" / "uv.lock", repo / "uv.lock")
    run = run_tool(["guard", "--rev", "HEAD", "requirements.txt", "uv.lock", "-i",
                    local_index.url], clean_pip_env, tmp_path, cwd=repo)
    assert run.code == 1
    assert "uv.lock did not exist in HEAD" in run.stdout
    # outside a git work tree the error says what to do
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SAMPLES / "after" / "requirements.txt", outside / "requirements.txt")
    run = run_tool(["guard", "requirements.txt"], clean_pip_env, tmp_path, cwd=outside)
    assert run.code == 2 and "guard OLD NEW" in run.stderr


def test_guard_accepts_a_reviewed_exception(scenario, local_index, tmp_path, clean_pip_env):
    files = sample_scenario(scenario)
    run = run_tool(["guard", str(SAMPLES / "before" / "requirements.txt"),
                    str(SAMPLES / "after" / "requirements.txt"), "-i", local_index.url,
                    "--allow-late", f"sha256:{files['win'].sha256}", "--format", "json"],
                   clean_pip_env, tmp_path)
    assert run.code == 0
    (item,) = run.json()["hashes"]
    assert item["status"] == "allowed-late" and not item["fails"]


def test_guard_passes_on_time_hashes_and_on_time_upgrades(local_index, tmp_path, t0,
                                                       clean_pip_env):
    a = publish(local_index, tmp_path, t0, "demo", "1.0")
    b = publish(local_index, tmp_path, t0, "demo", "1.0", kind="sdist",
                offset=timedelta(hours=3))
    c = publish(local_index, tmp_path, t0, "demo", "2.0", offset=timedelta(days=30))
    old = tmp_path / "old.txt"
    new = tmp_path / "new.txt"
    old.write_text(f"demo==1.0 --hash=sha256:{a.sha256}\n")
    new.write_text(f"demo==1.0 --hash=sha256:{a.sha256} --hash=sha256:{b.sha256}\n")
    run = run_tool(["guard", str(old), str(new), "-i", local_index.url], clean_pip_env,
                   tmp_path)
    assert run.code == 0, run.stdout
    assert b.filename not in run.stdout  # on time: only in the summary by default
    assert "1 hash(es) added to already-locked releases, 0 late" in run.stdout
    for flag in ("--all", "-v"):
        run = run_tool(["guard", str(old), str(new), "-i", local_index.url, flag],
                       clean_pip_env, tmp_path)
        assert f"ok        demo 1.0 [new file in a locked release]: {b.filename}" in \
            run.stdout and "3h after" in run.stdout
    run = run_tool(["guard", str(old), str(new), "-i", local_index.url, "-q"], clean_pip_env,
                   tmp_path)
    assert run.code == 0 and run.stdout == ""
    # an upgrade to an on-time release passes, and is dated
    new.write_text(f"demo==2.0 --hash=sha256:{c.sha256}\n")
    run = run_tool(["guard", str(old), str(new), "-i", local_index.url, "--all"],
                   clean_pip_env, tmp_path)
    assert run.code == 0, run.stdout
    assert "1 hash(es) of 1 newly locked release(s)" in run.stdout
    assert f"ok        demo 2.0 [new release; upgrade from 1.0]: {c.filename}" in run.stdout


def test_guard_fails_closed_on_a_hash_the_index_does_not_have(local_index, tmp_path, t0,
                                                              clean_pip_env):
    a = publish(local_index, tmp_path, t0, "demo", "1.0")
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text(f"demo==1.0 --hash=sha256:{a.sha256}\n")
    new.write_text(f"demo==1.0 --hash=sha256:{a.sha256} --hash=sha256:{'ab' * 32}\n")
    args = ["guard", str(old), str(new), "-i", local_index.url]
    run = run_tool(args, clean_pip_env, tmp_path)
    assert run.code == 1 and "UNKNOWN" in run.stdout and "not found" in run.stdout
    run = run_tool([*args, "--on-unknown-upload-time", "warn"], clean_pip_env, tmp_path)
    assert run.code == 0


@pytest.mark.network
def test_pip_compile_regenerated_after_a_late_upload_is_flagged_and_our_lock_is_not(
        local_index, tmp_path, t0, clean_pip_env, tmp_path_factory):
    """pip-compile (pip-tools from PyPI) before and after a late native wheel: guard flags the
    regenerated lock; our own lock, regenerated the same way, does not take the late file."""
    bin_dir = lock_tools(tmp_path_factory.getbasetemp())
    publish(local_index, tmp_path, t0, "demo", "1.0", kind="sdist")
    publish(local_index, tmp_path, t0, "demo", "1.0")
    before = generate_lock("pip-tools", bin_dir, local_index.url, "demo", "",
                           tmp_path / "pc-before", clean_pip_env)
    ours_before = tmp_path / "ours-before"
    ours_before.mkdir()
    assert run_tool(["lock", "-i", local_index.url, "demo"], clean_pip_env, tmp_path,
                    cwd=ours_before).code == 0
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(), offset=LATE,
                     payload="malicious")
    after = generate_lock("pip-tools", bin_dir, local_index.url, "demo", "",
                          tmp_path / "pc-after", clean_pip_env)
    assert native.sha256 in after.read_text()  # pip-compile trusts it silently
    run = run_tool(["guard", str(before), str(after), "-i", local_index.url, "--format",
                    "json"], clean_pip_env, tmp_path)
    assert run.code == 1
    (item,) = run.json()["hashes"]
    assert (item["filename"], item["status"], item["selected_by"]) == \
        (native.filename, "late", ["current"])

    ours_after = tmp_path / "ours-after"
    ours_after.mkdir()
    made = run_tool(["lock", "-i", local_index.url, "demo"], clean_pip_env, tmp_path,
                    cwd=ours_after)
    assert made.code == 0 and f"left out {native.filename}: late" in made.stderr
    assert native.sha256 not in (ours_after / "requirements.lock").read_text()
    run = run_tool(["guard", str(ours_before / "requirements.lock"),
                    str(ours_after / "requirements.lock"), "-i", local_index.url],
                   clean_pip_env, tmp_path)
    assert run.code == 0, run.stdout
