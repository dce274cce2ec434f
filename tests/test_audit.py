"""Issue 4: `safe-install-tool audit` dates every hash of an existing lock, in every format."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lockhelp import generate_lock, lock_tools, publish, run_tool
from safeinstall.locks.reader import read_lock
from support.index import LocalIndex
from support.scenarios import native_tag
from test_guard import SAMPLES, sample_scenario

LATE = timedelta(days=90)
FORMATS = {"requirements.txt": "requirements", "pylock.toml": "pylock",
           "Pipfile.lock": "pipfile", "poetry.lock": "poetry", "uv.lock": "uv"}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_audit_of_each_tool_generated_sample_flags_the_late_file(name, scenario, local_index,
                                                                 tmp_path, clean_pip_env):
    """The samples were written by pip-compile, uv (lock, and export to pylock.toml), poetry
    and pipenv after the late upload (tests/data/locks/regenerate.py)."""
    files = sample_scenario(scenario)
    path = SAMPLES / "after" / name
    lock = read_lock(str(path))
    assert lock.format == FORMATS[name]
    assert {r.name for r in lock.releases} == {"demo", "dep"}
    run = run_tool(["audit", str(path), "-i", local_index.url, "--targets",
                    "current,3.12:win_amd64", "--format", "json"], clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout + run.stderr
    doc = run.json()
    by_sha = {h["sha256"]: h for h in doc["hashes"]}
    expected = {f.sha256 for key, f in files.items()}
    assert set(by_sha) == expected  # every hash of the lock was dated
    win = by_sha[files["win"].sha256]
    assert (win["status"], win["filename"], win["selected_by"]) == \
        ("late", files["win"].filename, ["cp312-win_amd64"])
    assert win["lateness_seconds"] == LATE.total_seconds()
    assert win["line"] is not None and files["win"].sha256 in \
        path.read_text().splitlines()[win["line"] - 1]
    others = [h for s, h in by_sha.items() if s != files["win"].sha256]
    assert {h["status"] for h in others} == {"on-time"}
    assert by_sha[files["pure"].sha256]["selected_by"] == ["current"]
    assert by_sha[files["dep"].sha256]["selected_by"] == ["current", "cp312-win_amd64"]
    # text output names the late file and its targets
    text = run_tool(["audit", str(path), "-i", local_index.url, "--targets",
                     "3.12:win_amd64"], clean_pip_env, tmp_path)
    assert text.code == 1
    assert f"LATE      demo 1.0: {files['win'].filename} was uploaded 2024-07-23 19:31:22Z, " \
        "90d after the release began" in text.stdout
    assert "installed by: cp312-win_amd64" in text.stdout


def test_audit_of_the_lock_before_the_late_upload_passes(scenario, local_index, tmp_path,
                                                         clean_pip_env):
    sample_scenario(scenario)
    run = run_tool(["audit", str(SAMPLES / "before" / "requirements.txt"), "-i",
                    local_index.url, "--all"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stdout
    assert "2 hash(es) audited, 0 late" in run.stdout and "ok        demo 1.0" in run.stdout


def test_the_index_a_lock_names_is_data_not_authority(local_index, tmp_path, t0,
                                                     clean_pip_env):
    """A lock naming a mirror that dates the late wheel 20 minutes after the release: its
    files are dated on the configured index, the lock's index is reported, and two indexes
    that disagree on one file's upload time fail."""
    pure = publish(local_index, tmp_path, t0, "demo", "1.0")
    late = publish(local_index, tmp_path, t0, "demo", "1.0", tag="cp312-cp312-win_amd64",
                   offset=LATE)
    with LocalIndex(tmp_path / "mirror") as mirror:
        mirror.add(pure.path, upload_time=t0)
        mirror.add(late.path, upload_time=t0 + timedelta(minutes=20))
        lock = tmp_path / "requirements.txt"
        lock.write_text(f"--index-url {mirror.url}\n"
                        f"demo==1.0 --hash=sha256:{pure.sha256} --hash=sha256:{late.sha256}\n")
        run = run_tool(["audit", str(lock), "-i", local_index.url, "--format", "sarif"],
                       clean_pip_env, tmp_path)
        assert run.code == 1
        doc = json.loads(run.stdout)
        (result,) = doc["runs"][0]["results"]
        assert result["ruleId"] == "safe-install/late-artifact"
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
        assert result["properties"]["filename"] == late.filename
        text = run_tool(["audit", str(lock), "-i", local_index.url], clean_pip_env, tmp_path)
        assert text.code == 1 and f"LATE      demo 1.0: {late.filename}" in text.stdout
        assert f"names index {mirror.url}, which is not a configured index" in text.stdout
        # both configured: they disagree on the late wheel's upload time
        both = run_tool(["audit", str(lock), "-i", local_index.url, "--extra-index-url",
                         mirror.url, "--format", "json"], clean_pip_env, tmp_path)
        assert both.code == 1
        item = next(h for h in both.json()["hashes"] if h["sha256"] == late.sha256)
        assert item["status"] == "conflicting-times" and item["fails"]
        assert "disagree" in item["note"]
        # and the mirror's word alone is what a user who configures it gets
        guard_old = tmp_path / "old.txt"
        guard_old.write_text(f"demo==1.0 --hash=sha256:{pure.sha256}\n")
        run = run_tool(["guard", str(guard_old), str(lock), "-i", local_index.url],
                       clean_pip_env, tmp_path)
        assert run.code == 1 and "LATE" in run.stdout and mirror.url in run.stdout


def test_audit_of_our_own_lock_passes_after_a_late_upload(local_index, tmp_path, t0,
                                                          clean_pip_env):
    publish(local_index, tmp_path, t0, "demo", "1.0")
    publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(), offset=LATE)
    assert run_tool(["lock", "-i", local_index.url, "demo"], clean_pip_env, tmp_path).code == 0
    for name in ("requirements.lock", "pylock.toml"):
        run = run_tool(["audit", name, "-i", local_index.url], clean_pip_env, tmp_path)
        assert run.code == 0, run.stdout
        assert "1 hash(es) audited, 0 late" in run.stdout


def test_audit_reports_undatable_files_per_policy(local_index, tmp_path, t0, clean_pip_env):
    undated = publish(local_index, tmp_path, t0, "demo", "1.0", upload_time=False)
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"demo==1.0 --hash=sha256:{undated.sha256}\nunpinned>=1\n")
    run = run_tool(["audit", str(lock), "-i", local_index.url], clean_pip_env, tmp_path)
    assert run.code == 1 and "UNDATED" in run.stdout
    assert "'unpinned>=1' is not pinned to one version: not checked" in run.stdout
    assert "1 entr(y/ies) NOT CHECKED (--strict makes them fail)" in run.stdout
    run = run_tool(["audit", str(lock), "-i", local_index.url, "--on-unknown-upload-time",
                    "warn"], clean_pip_env, tmp_path)
    assert run.code == 0 and "undated" in run.stdout
    run = run_tool(["audit", str(lock), "-i", local_index.url, "--on-unknown-upload-time",
                    "warn", "--strict"], clean_pip_env, tmp_path)
    assert run.code == 1 and "UNCHECKED unpinned" in run.stdout


def test_audit_of_an_unreadable_lock_is_a_usage_error(tmp_path, clean_pip_env):
    (tmp_path / "poetry.lock").write_text("[[package]\n")
    run = run_tool(["audit", "poetry.lock", "--no-index"], clean_pip_env, tmp_path)
    assert run.code == 2 and "poetry.lock is not valid TOML" in run.stderr


@pytest.mark.network
@pytest.mark.parametrize("tool", ["pip-tools", "uv", "poetry", "pipenv"])
def test_audit_of_a_lock_each_tool_regenerated_after_a_late_upload(tool, local_index, tmp_path,
                                                                   t0, clean_pip_env,
                                                                   tmp_path_factory):
    """The lockers installed from PyPI, run offline against the local index."""
    bin_dir = lock_tools(tmp_path_factory.getbasetemp())
    publish(local_index, tmp_path, t0, "demo", "1.0", kind="sdist", requires_dist=("dep",))
    publish(local_index, tmp_path, t0, "demo", "1.0", requires_dist=("dep",))
    publish(local_index, tmp_path, t0, "dep", "1.0")
    native = publish(local_index, tmp_path, t0, "demo", "1.0", tag=native_tag(), offset=LATE,
                     payload="malicious", requires_dist=("dep",))
    lock = generate_lock(tool, bin_dir, local_index.url, "demo", "==1.0", tmp_path / tool,
                         clean_pip_env)
    assert native.sha256 in lock.read_text()
    run = run_tool(["audit", str(lock), "-i", local_index.url, "--format", "json"],
                   clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout + run.stderr
    late = [h for h in run.json()["hashes"] if h["status"] == "late"]
    assert [(h["filename"], h["selected_by"]) for h in late] == [(native.filename, ["current"])]
    # the index the lock names is not used to date its files (pip-compile's lock names none:
    # --no-emit-index-url): without a configured index, every hash is unknown and fails
    if tool != "pip-tools":
        run = run_tool(["audit", str(lock), "--no-index"], clean_pip_env, tmp_path)
        assert run.code == 1 and "which is not a configured index" in run.stdout


def test_audit_quiet_and_all(local_index, tmp_path, t0, clean_pip_env):
    ok = publish(local_index, tmp_path, t0, "demo", "1.0")
    late = publish(local_index, tmp_path, t0, "demo", "1.0", tag="cp312-cp312-win_amd64",
                   offset=LATE)
    good = tmp_path / "good.txt"
    good.write_text(f"demo==1.0 --hash=sha256:{ok.sha256}\n")
    bad = tmp_path / "bad.txt"
    bad.write_text(f"demo==1.0 --hash=sha256:{ok.sha256} --hash=sha256:{late.sha256}\n"
                   "other==1.0\n")
    run = run_tool(["audit", str(good), "-i", local_index.url, "-q"], clean_pip_env, tmp_path)
    assert (run.code, run.stdout, run.stderr) == (0, "", "")
    run = run_tool(["audit", str(bad), "-i", local_index.url, "-q"], clean_pip_env, tmp_path)
    assert run.code == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"  LATE      demo 1.0: {late.filename}")
    assert lines[1].startswith("2 hash(es) audited, 1 late")
    run = run_tool(["audit", str(bad), "-i", local_index.url], clean_pip_env, tmp_path)
    assert ok.filename not in run.stdout and "unchecked other" in run.stdout
    run = run_tool(["audit", str(bad), "-i", local_index.url, "-v"], clean_pip_env, tmp_path)
    assert f"ok        demo 1.0: {ok.filename}" in run.stdout
