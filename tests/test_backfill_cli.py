"""Issue 19 end to end: ``--on-late verify`` installs a late wheel only when its content is
proven to be that of an on-time file of its release (``late-verified``), on the local index
with real wheels and sdists built here. Without the option nothing changes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from clihelp import run_cli
from lockhelp import run_tool
from safeinstall.locks.reader import read_lock
from support.artifacts import build_sdist, build_wheel
from support.index import LocalIndex
from support.piprun import pip_list
from support.scenarios import native_tag

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LATE = timedelta(days=90)


def _publish(local_index: LocalIndex, tmp_path: Path, t0: datetime, *, late_payload: str,
             late_tag: str = "py3-none-any", on_time_wheel: bool = False,
             late_sdist: bool = False) -> dict[str, str]:
    """demo 1.0: an on-time sdist (and, if asked, an on-time pure wheel), then a wheel
    ``late_tag`` 90 days later with ``late_payload`` (benign: the same content).
    ``late_sdist``: the sdist is the late file instead, after an on-time pure wheel."""
    out = tmp_path / "dists"
    sdist = build_sdist(out, "demo", "1.0", payload="benign")
    names = {"sdist": sdist.name}
    if late_sdist:
        pure = build_wheel(out, "demo", "1.0", payload="benign")
        local_index.add(pure, upload_time=t0)
        local_index.add(sdist, upload_time=t0 + LATE)
        names["pure"] = pure.name
        return names
    local_index.add(sdist, upload_time=t0)
    if on_time_wheel:
        pure = build_wheel(out, "demo", "1.0", payload="benign")
        local_index.add(pure, upload_time=t0 + timedelta(minutes=5))
        names["pure"] = pure.name
    late = build_wheel(out / "late", "demo", "1.0", tag=late_tag, payload=late_payload)
    local_index.add(late, upload_time=t0 + LATE)
    names["late"] = late.name
    return names


def _payload(venv: Path) -> str:
    out = subprocess.run([str(venv), "-c", "import demo; print(demo.PAYLOAD)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _finding(run, kind: str) -> dict:  # type: ignore[no-untyped-def]
    found = [f for f in run.package("demo")["findings"] if f["kind"] == kind]
    assert len(found) == 1, run.package("demo")["findings"]
    return found[0]


def test_an_identical_pure_backfill_installs_as_late_verified(local_index, make_venv,
                                                              clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--on-late", "verify",
                   "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    pkg = run.package("demo")
    assert (pkg["filename"], pkg["decision"]) == (names["late"], "install")
    assert pkg["lateness_seconds"] == LATE.total_seconds()
    finding = _finding(run, "late-verified")
    assert finding["severity"] == "info" and finding["filename"] == names["late"]
    assert f"proven a benign backfill of the on-time {names['sdist']}" in finding["message"]
    assert not [f for f in pkg["findings"] if f["kind"] == "late"]
    sdist_sha = next(f.sha256 for f in local_index.files() if f.filename == names["sdist"])
    assert pkg["proof"] == {"kind": "sdist-content", "reference": names["sdist"],
                            "reference_sha256": sdist_sha, "files_compared": 1,
                            "normalisations": []}
    assert run.report["policy"]["on_late"] == "verify"
    assert not run.report["policy"]["relaxations"]
    # the info line names the on-time file it was proven against
    assert "info demo 1.0:" in run.stderr and f"on-time {names['sdist']}" in run.stderr
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}
    assert _payload(venv) == "benign"


def test_without_verify_nothing_changes(local_index, clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    for extra in ([], ["--on-late", "refuse"]):
        local_index.clear_requests()
        run = run_cli(["--dry-run", "-i", local_index.url, *extra, "demo==1.0"],
                      clean_pip_env, tmp_path)
        assert run.code == 1, run.stderr
        assert _finding(run, "late")["severity"] == "error"
        assert run.package("demo")["proof"] is None
        assert "not proven a benign backfill" not in run.stderr
        assert names["sdist"] not in local_index.downloaded()  # no proof was tried
    warn = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "warn", "demo==1.0"],
                   clean_pip_env, tmp_path)
    assert warn.code == 0 and _finding(warn, "late")["severity"] == "warning"
    assert warn.package("demo")["proof"] is None


def test_a_dry_run_verifies_too_and_the_setting_comes_from_config_or_environment(
        local_index, clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    run = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "verify", "demo==1.0"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert _finding(run, "late-verified")["severity"] == "info"
    # both files were downloaded (and checked against the index's sha256) to be compared
    assert {names["late"], names["sdist"]} <= set(local_index.downloaded())
    env = dict(clean_pip_env, SAFE_INSTALL_ON_LATE="verify")
    run = run_cli(["--dry-run", "-i", local_index.url, "demo==1.0"], env, tmp_path)
    assert run.code == 0 and run.report["policy"]["on_late"] == "verify", run.stderr
    work = tmp_path / "work"
    work.mkdir()
    (work / "safe-install.toml").write_text('on-late = "verify"\n')
    run = run_cli(["--dry-run", "-i", local_index.url, "demo==1.0"], clean_pip_env, tmp_path,
                  cwd=work)
    assert run.code == 0 and _finding(run, "late-verified"), run.stderr
    (work / "safe-install.toml").write_text('on-late = "verified"\n')
    run = run_cli(["--dry-run", "-i", local_index.url, "demo==1.0"], clean_pip_env, tmp_path,
                  cwd=work)
    assert run.code == 2 and "on-late" in run.stderr and "'verify'" in run.stderr


def test_a_tampered_pure_backfill_is_refused_with_the_first_difference(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="malicious")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--on-late", "verify",
                   "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    late = _finding(run, "late")
    assert late["severity"] == "error" and run.package("demo")["proof"] is None
    assert late["hint"].startswith(
        "not proven a benign backfill (--on-late verify): compared with the on-time "
        f"{names['sdist']}: demo/__init__.py differs from the sdist's demo/__init__.py")
    assert "demo/__init__.py differs" in run.stderr
    assert "--allow-late 'demo==1.0'" in run.stderr  # the usual ways out stay
    assert pip_list(venv, clean_pip_env) == {}


def test_a_binary_wheel_identical_to_an_on_time_wheel_is_late_verified(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign", late_tag=native_tag(),
                     on_time_wheel=True)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--on-late", "verify",
                   "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    pkg = run.package("demo")
    assert pkg["filename"] == names["late"]
    proof = pkg["proof"]
    assert (proof["kind"], proof["reference"]) == ("wheel-record", names["pure"])
    assert proof["files_compared"] == 2  # demo/__init__.py and METADATA
    assert f"on-time {names['pure']}" in _finding(run, "late-verified")["message"]
    assert _payload(venv) == "benign"


def test_a_binary_wheel_one_byte_different_stays_refused(local_index, clean_pip_env,
                                                         tmp_path, t0):
    # "benigm": one byte of demo/__init__.py differs from the on-time files'
    names = _publish(local_index, tmp_path, t0, late_payload="benigm", late_tag=native_tag(),
                     on_time_wheel=True)
    run = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "verify", "demo==1.0"],
                  clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert _finding(run, "late")["hint"].startswith(
        "not proven a benign backfill (--on-late verify): compared with the on-time "
        f"{names['pure']}: demo/__init__.py differs from {names['pure']}'s")
    # a binary wheel is compared with wheels only: the sdist was not downloaded
    assert names["sdist"] not in local_index.downloaded()


def test_a_late_sdist_is_never_verified(local_index, clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign", late_sdist=True)
    run = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "verify", "--no-binary",
                   "demo", "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert run.package("demo")["filename"] == names["sdist"]
    assert "a late sdist is never verified" in run.stderr


def test_an_exception_is_not_replaced_by_a_proof(local_index, clean_pip_env, tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    run = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "verify", "--allow-late",
                   "demo==1.0", "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert _finding(run, "late")["severity"] == "info"
    assert run.package("demo")["proof"] is None
    assert names["sdist"] not in local_index.downloaded()


def test_a_pure_wheel_without_an_on_time_sdist_is_compared_with_the_on_time_wheels(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    first = build_wheel(out, "demo", "1.0", tag="cp39-cp39-win_amd64", payload="other")
    local_index.add(first, upload_time=t0)
    late = build_wheel(out, "demo", "1.0", payload="benign")
    local_index.add(late, upload_time=t0 + LATE)
    run = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "verify", "demo==1.0"],
                  clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert f"compared with the on-time {first.name}: demo/__init__.py differs" in \
        _finding(run, "late")["hint"]


# -- safe-install-tool lock --on-late verify ----------------------------------------------------


def _lock(args, env, tmp_path, work):  # type: ignore[no-untyped-def]
    work.mkdir(exist_ok=True)
    run = run_tool(["lock", *args, "--report", "report.json"], env, tmp_path, cwd=work)
    report = json.loads((work / "report.json").read_text()) \
        if (work / "report.json").exists() else None
    return run, report


def test_lock_with_verify_records_a_late_verified_file_with_its_proof(local_index,
                                                                     clean_pip_env, tmp_path,
                                                                     t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    late_sha = next(f.sha256 for f in local_index.files() if f.filename == names["late"])
    sdist_sha = next(f.sha256 for f in local_index.files() if f.filename == names["sdist"])
    # without verify the late wheel is left out and the sdist locked
    run, _ = _lock(["-i", local_index.url, "demo==1.0"], clean_pip_env, tmp_path,
                   tmp_path / "plain")
    assert run.code == 0, run.stderr
    assert {r.name: set(r.hashes) for r in read_lock(
        str(tmp_path / "plain" / "requirements.lock")).releases}["demo"] == {sdist_sha}
    work = tmp_path / "verify"
    run, report = _lock(["-i", local_index.url, "--on-late", "verify", "demo==1.0"],
                        clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    assert "1 late-verified file(s)" in run.stderr
    text = (work / "requirements.lock").read_text()
    assert f"--hash=sha256:{late_sha}" in text
    assert f"(late-verified, 90d late: every installed file is byte-identical to the on-time " \
        f"sdist's (1 file(s) compared against {names['sdist']}); {names['sdist']} has " \
        f"sha256 {sdist_sha})" in text
    pylock = tomllib.loads((work / "pylock.toml").read_text())
    table = pylock["packages"][0]["tool"]["safe-install"]["late-verified"]
    assert table == {names["late"]: {"kind": "sdist-content", "reference": names["sdist"],
                                     "reference-sha256": sdist_sha, "files-compared": 1,
                                     "normalisations": []}}
    (locked,) = report["packages"][0]["files"]
    assert locked["filename"] == names["late"] and locked["proof"]["reference"] == names["sdist"]


def test_lock_with_verify_leaves_out_an_unproven_late_file_and_says_why(local_index,
                                                                        clean_pip_env,
                                                                        tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="malicious", late_tag=native_tag(),
                     on_time_wheel=True)
    pure_sha = next(f.sha256 for f in local_index.files() if f.filename == names["pure"])
    work = tmp_path / "verify"
    run, report = _lock(["-i", local_index.url, "--on-late", "verify", "demo==1.0"],
                        clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    assert {r.name: set(r.hashes) for r in read_lock(
        str(work / "requirements.lock")).releases}["demo"] == {pure_sha}
    (left,) = [lo for lo in report["left_out"] if lo["filename"] == names["late"]]
    assert left["kind"] == "late"
    assert "not proven a benign backfill (--on-late verify): compared with the on-time " \
        f"{names['pure']}: demo/__init__.py differs" in left["reason"]
    assert f"left out {names['late']}" in run.stderr and "not proven" in run.stderr


def test_a_reference_altered_on_the_index_proves_nothing(local_index, clean_pip_env, tmp_path,
                                                         t0):
    """The on-time sdist is served with other bytes than the index lists: it is no reference
    (the download fails its sha256, twice), and the late wheel stays refused with that said."""
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    served = local_index.files_dir / names["sdist"]
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 1
    served.write_bytes(bytes(data))
    run = run_cli(["--dry-run", "-i", local_index.url, "--on-late", "verify", "demo==1.0"],
                  clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    hint = _finding(run, "late")["hint"]
    assert f"the on-time {names['sdist']} could not be downloaded to compare with: " in hint
    assert "sha256" in hint and run.package("demo")["proof"] is None


# -- guard and audit --on-late verify -----------------------------------------------------------


def _sha(local_index: LocalIndex, filename: str) -> str:
    return next(f.sha256 for f in local_index.files() if f.filename == filename)


def _requirements_lock(path: Path, *hashes: str) -> Path:
    path.write_text("demo==1.0 \\\n" + " \\\n".join(f"    --hash=sha256:{h}" for h in hashes)
                    + "\n")
    return path


def test_audit_and_guard_report_a_late_verified_hash_as_such(local_index, clean_pip_env,
                                                             tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="benign")
    sdist, late = _sha(local_index, names["sdist"]), _sha(local_index, names["late"])
    old = _requirements_lock(tmp_path / "old.txt", sdist)
    new = _requirements_lock(tmp_path / "new.txt", sdist, late)
    base = ["-i", local_index.url]
    refused = run_tool(["audit", str(new), *base], clean_pip_env, tmp_path)
    assert refused.code == 1 and "LATE" in refused.stdout
    run = run_tool(["audit", str(new), *base, "--on-late", "verify"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert f"verified  demo 1.0: {names['late']} was uploaded" in run.stdout
    assert f"late-verified against the on-time {names['sdist']} (--on-late verify)" in run.stdout
    assert "0 late, 1 late-verified" in run.stdout
    doc = run_tool(["audit", str(new), *base, "--on-late", "verify", "--format", "json"],
                   clean_pip_env, tmp_path).json()
    (item,) = [h for h in doc["hashes"] if h["sha256"] == late]
    assert (item["status"], item["fails"]) == ("late-verified", False)
    assert item["proof"]["reference"] == names["sdist"]
    assert item["proof"]["reference_sha256"] == sdist
    sarif = run_tool(["audit", str(new), *base, "--on-late", "verify", "--format", "sarif"],
                     clean_pip_env, tmp_path).json()
    (result,) = sarif["runs"][0]["results"]
    assert (result["ruleId"], result["level"]) == ("safe-install/late-verified-artifact", "note")
    # guard: the hash added to a locked release is late-verified, the change passes
    run = run_tool(["guard", str(old), str(new), *base], clean_pip_env, tmp_path)
    assert run.code == 1
    run = run_tool(["guard", str(old), str(new), *base, "--on-late", "verify"], clean_pip_env,
                   tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert "1 hash(es) added to already-locked releases, 0 late (1 more late-verified)" in \
        run.stdout


def test_audit_with_verify_still_fails_an_unproven_late_hash_and_says_why(local_index,
                                                                          clean_pip_env,
                                                                          tmp_path, t0):
    names = _publish(local_index, tmp_path, t0, late_payload="malicious")
    new = _requirements_lock(tmp_path / "new.txt", _sha(local_index, names["sdist"]),
                             _sha(local_index, names["late"]))
    run = run_tool(["audit", str(new), "-i", local_index.url, "--on-late", "verify"],
                   clean_pip_env, tmp_path)
    assert run.code == 1
    assert f"LATE      demo 1.0: {names['late']}" in run.stdout
    assert "not proven a benign backfill (--on-late verify): compared with the on-time " \
        f"{names['sdist']}: demo/__init__.py differs" in run.stdout


# -- trust on first use ---------------------------------------------------------------------------


def test_a_backfill_added_after_the_release_was_seen_is_late_verified_against_a_seen_file(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    sdist = build_sdist(out, "demo", "1.0", payload="benign")
    local_index.add(sdist, upload_time=t0)
    args = ["--dry-run", "-i", local_index.url, "demo==1.0"]
    assert run_cli(args, clean_pip_env, tmp_path).code == 0  # the store sees the release
    late = build_wheel(out, "demo", "1.0", payload="benign")
    local_index.add(late, upload_time=t0 + LATE)
    refused = run_cli(args, clean_pip_env, tmp_path)
    assert refused.code == 1 and ("release-changed", "error") in refused.kinds("demo")
    run = run_cli(["--on-late", "verify", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    changed = _finding(run, "release-changed")
    assert changed["severity"] == "info"
    assert f"late-verified against the on-time {sdist.name}, which was in the release when " \
        "this store first saw it" in changed["message"]


def test_a_proof_against_a_file_added_since_the_release_was_seen_is_no_proof(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "demo", "1.0", payload="benign"), upload_time=t0)
    args = ["--dry-run", "-i", local_index.url, "demo==1.0"]
    assert run_cli(args, clean_pip_env, tmp_path).code == 0  # the store sees the release
    # an sdist dated (falsely) within the threshold, and a late wheel identical to it that pip
    # prefers (a build tag)
    sdist = build_sdist(out, "demo", "1.0", payload="evil")
    local_index.add(sdist, upload_time=t0 + timedelta(minutes=5))
    late = build_wheel(out / "late", "demo", "1.0", payload="evil", build_tag="1")
    local_index.add(late, upload_time=t0 + LATE)
    run = run_cli(["--on-late", "verify", *args], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert run.package("demo")["filename"] == late.name
    assert run.package("demo")["proof"]["reference"] == sdist.name  # the content proof holds
    changed = _finding(run, "release-changed")  # but its reference is new to the release
    assert changed["severity"] == "error" and sdist.name in changed["message"]
