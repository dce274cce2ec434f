"""Issue 2 end to end: the late-artifact attack, policies, exceptions, dependencies, hashes."""

from __future__ import annotations

from pathlib import Path

from clihelp import run_cli
from support.piprun import pip_list


def _venv_module_payload(venv_python: Path, module: str) -> str:
    import subprocess

    out = subprocess.run([str(venv_python), "-c", f"import {module}; print({module}.PAYLOAD)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_late_native_wheel_is_refused_and_nothing_installed(scenario, local_index, make_venv,
                                                            clean_pip_env, tmp_path):
    files = scenario("attack")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo==1.0"],
                  clean_pip_env, tmp_path)
    assert run.code == 1
    native, pure = files["native"].filename, files["pure"].filename
    assert native in run.stderr
    assert "90d" in run.stderr  # its lateness
    assert f"on-time alternative for this target: {pure}" in run.stderr
    assert "--allow-late 'demo==1.0'" in run.stderr
    assert "nothing was installed" in run.stderr
    pkg = run.package("demo")
    assert pkg["filename"] == native and pkg["decision"] == "refuse"
    assert pkg["lateness_seconds"] == 90 * 86400
    assert ("late", "error") in run.kinds("demo")
    assert run.report["outcome"] == "refused" and run.report["exit_code"] == 1
    assert pip_list(venv, clean_pip_env) == {}


def test_on_late_warn_installs_exactly_the_checked_file(scenario, local_index, make_venv,
                                                        clean_pip_env, tmp_path):
    scenario("attack")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--on-late", "warn",
                   "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("late", "warning") in run.kinds("demo")
    assert "policy relaxed" in run.stderr
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}
    assert _venv_module_payload(venv, "demo") == "malicious"  # the checked (native) file


def test_allow_late_for_the_release_installs(scenario, local_index, make_venv, clean_pip_env,
                                             tmp_path):
    scenario("attack")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--allow-late", "demo==1.0",
                   "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("late", "info") in run.kinds("demo")
    assert "allowed by exception demo==1.0" in run.package("demo")["findings"][0]["message"]
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_allow_late_by_sha256_is_scoped_to_that_file(scenario, local_index, make_venv,
                                                     clean_pip_env, tmp_path):
    files = scenario("attack")
    venv = make_venv()
    other = "0" * 64
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--allow-late",
                   f"sha256:{other}", "--dry-run", "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 1  # an exception for another file does not cover this one
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--allow-late",
                   f"sha256:{files['native'].sha256}", "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_exception_from_committed_config_file_needs_reason(scenario, local_index, make_venv,
                                                           clean_pip_env, tmp_path):
    scenario("attack")
    venv = make_venv()
    work = tmp_path / "project"
    work.mkdir()
    (work / "safe-install.toml").write_text('[[allow-late]]\nrelease = "demo==1.0"\n')
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo==1.0"], clean_pip_env,
                  tmp_path, cwd=work)
    assert run.code == 2 and "every exception needs a reason" in run.stderr
    (work / "safe-install.toml").write_text(
        '[[allow-late]]\nrelease = "demo==1.0"\nreason = "reviewed: cp wheel diffed"\n')
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo==1.0"], clean_pip_env,
                  tmp_path, cwd=work)
    assert run.code == 0, run.stderr
    assert "reviewed: cp wheel diffed" in run.package("demo")["findings"][0]["message"]


def test_environment_variables_set_policy(scenario, local_index, make_venv, clean_pip_env,
                                          tmp_path):
    scenario("attack")
    venv = make_venv()
    env = dict(clean_pip_env, SAFE_INSTALL_LATE_AFTER="100d")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo==1.0"],
                  env, tmp_path)
    assert run.code == 0, run.stderr
    # the command line wins over the environment
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "--late-after",
                   "36h", "demo==1.0"], env, tmp_path)
    assert run.code == 1
    assert run.report["policy"]["late_after_seconds"] == 36 * 3600


def test_late_wheel_for_another_platform_is_information_only(scenario, local_index, make_venv,
                                                             clean_pip_env, tmp_path):
    files = scenario("foreign_late")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo==1.0"], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    findings = run.package("demo")["findings"]
    late = [f for f in findings if f["kind"] == "late-unselected"]
    assert [f["filename"] for f in late] == [files["foreign"].filename]
    assert late[0]["severity"] == "info"
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_on_time_release_installs_exactly_the_checked_set(scenario, local_index, make_venv,
                                                          clean_pip_env, tmp_path):
    scenario("ontime")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    checked = {p["name"]: p["version"] for p in run.report["packages"]
               if p["decision"] == "install"}
    assert checked == {"demo": "1.0", "dep": "1.0"}
    assert pip_list(venv, clean_pip_env) == checked
    assert run.package("dep")["required_by"] == ["demo 1.0"]
    # a second run finds everything already installed and installs nothing
    again = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                    tmp_path)
    assert again.code == 0
    assert {p["decision"] for p in again.report["packages"]} == {"already-satisfied"}


def test_late_artifact_in_a_transitive_dependency_refuses(scenario, local_index, make_venv,
                                                          clean_pip_env, tmp_path):
    files = scenario("transitive_attack")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "app"], clean_pip_env,
                  tmp_path)
    assert run.code == 1
    assert run.package("lib")["filename"] == files["lib-native"].filename
    assert run.package("lib")["required_by"] == ["app 1.0"]
    assert run.package("app")["decision"] == "install"
    assert pip_list(venv, clean_pip_env) == {}


def test_hash_pinned_requirement_selects_the_pinned_on_time_file(scenario, local_index,
                                                                 make_venv, clean_pip_env,
                                                                 tmp_path):
    files = scenario("attack")
    venv = make_venv()
    req = tmp_path / "requirements.txt"
    req.write_text(f"demo==1.0 \\\n    --hash=sha256:{files['pure'].sha256}\n")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(req)],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["filename"] == files["pure"].filename
    assert run.package("demo")["trusted_hashes"] == [files["pure"].sha256]
    assert not [f for f in run.package("demo")["findings"] if f["severity"] != "info"]
    assert _venv_module_payload(venv, "demo") == "benign"


def test_hash_that_matches_no_file_is_refused(scenario, local_index, make_venv, clean_pip_env,
                                              tmp_path):
    scenario("attack")
    venv = make_venv()
    req = tmp_path / "requirements.txt"
    req.write_text("demo==1.0 --hash=sha256:" + "ab" * 32 + "\n")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(req)],
                  clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("hash-mismatch", "error") in run.kinds("demo")
    assert pip_list(venv, clean_pip_env) == {}


def test_hash_mode_refuses_unhashed_dependencies(scenario, local_index, make_venv,
                                                 clean_pip_env, tmp_path):
    files = scenario("ontime")
    venv = make_venv()
    req = tmp_path / "requirements.txt"
    req.write_text(f"demo==1.0 --hash=sha256:{files['wheel'].sha256}\n")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(req)],
                  clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("untrusted-hash", "error") in run.kinds("dep")
    assert run.package("demo")["decision"] == "install"
    assert pip_list(venv, clean_pip_env) == {}


def test_untrusted_hash_is_a_warning_without_hash_mode(scenario, local_index, clean_pip_env,
                                                       tmp_path, make_venv):
    scenario("ontime")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 0
    assert ("untrusted-hash", "warning") in run.kinds("demo")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run",
                   "--on-untrusted-hash", "refuse", "demo"], clean_pip_env, tmp_path)
    assert run.code == 1
