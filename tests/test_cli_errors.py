"""Bad input and failing indexes: a clear message naming the input, the right exit code, no
traceback (checked by run_cli), nothing installed."""

from __future__ import annotations

import socket

import pytest

from clihelp import run_cli
from support.artifacts import build_wheel
from support.index import LocalIndex
from support.piprun import pip_dry_run_report, pip_list


def test_malformed_requirement_exit_2(local_index, make_venv, clean_pip_env, tmp_path):
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo=>1"], clean_pip_env,
                  tmp_path)
    assert run.code == 2
    assert "'demo=>1'" in run.stderr and "invalid requirement" in run.stderr
    assert run.report["outcome"] == "error" and run.report["exit_code"] == 2


def test_malformed_line_in_requirement_file_names_file_and_line(local_index, make_venv,
                                                                clean_pip_env, tmp_path):
    venv = make_venv()
    req = tmp_path / "reqs.txt"
    req.write_text("# ok\n\ndemo[=1\n")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(req)],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert "reqs.txt:3" in run.stderr


def test_unknown_package_exit_2(scenario, local_index, make_venv, clean_pip_env, tmp_path):
    scenario("ontime")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "no-such-project"],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert "no-such-project" in run.stderr and "none found" in run.stderr
    assert "not on any configured index" in run.stderr
    run = run_cli(["--python", str(venv), "-i", local_index.url, "dep>=2"], clean_pip_env,
                  tmp_path)
    assert run.code == 2 and "versions found: 1.0" in run.stderr


def test_unreachable_index_exit_3(make_venv, clean_pip_env, tmp_path):
    venv = make_venv()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/simple/"
    run = run_cli(["--python", str(venv), "-i", url, "demo"], clean_pip_env, tmp_path)
    assert run.code == 3
    assert f"127.0.0.1:{port}" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


def test_index_page_that_is_not_json_exit_3(scenario, local_index, make_venv, clean_pip_env,
                                            tmp_path):
    scenario("ontime")
    local_index.break_project("demo")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 3
    assert "not valid PEP 691 JSON" in run.stderr and "/simple/demo/" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


def test_server_error_is_not_mistaken_for_not_found(scenario, local_index, make_venv,
                                                    clean_pip_env, tmp_path):
    scenario("ontime")
    local_index.break_project("dep", body=b"oops", content_type="text/plain", status=500)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 3
    assert "HTTP 500" in run.stderr and "/simple/dep/" in run.stderr


def test_conflicting_requirements_exit_2_and_explain(scenario, local_index, make_venv,
                                                     clean_pip_env, tmp_path, t0):
    scenario("ontime")
    local_index.add(build_wheel(tmp_path / "extra", "dep", "0.5"), upload_time=t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo", "dep<1"],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert "demo 1.0 requires dep>=1" in run.stderr
    assert "the user requires dep<1" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


def test_refused_option_is_never_ignored(local_index, make_venv, clean_pip_env, tmp_path):
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--only-deps", "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert "--only-deps is not supported by safe-install yet" in run.stderr
    # pip's own rules for foreign targets, with pip's message
    run = run_cli(["-i", local_index.url, "--platform", "win_amd64", "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 2 and "--only-binary=:all: must be set" in run.stderr
    run = run_cli(["-i", local_index.url, "--platform", "win_amd64", "--only-binary", ":all:",
                   "demo"], clean_pip_env, tmp_path)
    assert run.code == 2 and "unless installing via '--target'" in run.stderr


def test_unknown_option_and_bad_duration(local_index, clean_pip_env, tmp_path):
    run = run_cli(["--frobnicate", "demo"], clean_pip_env, tmp_path)
    assert run.code == 2 and "'--frobnicate'" in run.stderr
    run = run_cli(["--late-after", "7", "demo"], clean_pip_env, tmp_path)
    assert run.code == 2 and "invalid duration '7'" in run.stderr


def test_no_upload_time_fails_closed(scenario, local_index, make_venv, clean_pip_env,
                                     tmp_path):
    scenario("ontime")
    local_index.mode = "html-only"
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 1
    assert ("unknown-upload-time", "error") in run.kinds("demo")
    assert "gives no upload time" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--on-unknown-upload-time",
                   "warn", "demo"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_mirror_without_times_is_dated_by_identical_file_on_other_index(
        scenario, local_index, make_venv, clean_pip_env, tmp_path, t0):
    """An HTML mirror (no upload times) holding the very same file as the index: pip takes the
    mirror's copy (the last of equal candidates); we date it by the identical file."""
    files = scenario("attack")
    venv = make_venv()
    with LocalIndex(tmp_path / "mirror", mode="html-only") as mirror:
        for key in ("sdist", "pure", "native"):
            mirror.add(files[key].path, upload_time=None)
        args = ["--python", str(venv), "-i", local_index.url, "--extra-index-url", mirror.url,
                "--dry-run", "demo==1.0"]
        run = run_cli(args, clean_pip_env, tmp_path)
        pip = pip_dry_run_report(args[2:-2] + ["demo==1.0"],
                                 clean_pip_env)
    assert run.code == 1
    pkg = run.package("demo")
    assert pkg["url"] == pip["install"][0]["download_info"]["url"]
    assert pkg["index"] == mirror.url  # pip takes the mirror's copy ...
    assert pkg["lateness_seconds"] == 90 * 86400  # ... dated by the identical file on the index
    assert any("dated by the identical file" in n for n in pkg["notes"])


@pytest.mark.parametrize(("script", "expected"), [
    (None, "cannot run the target interpreter"),  # no such file
    ("echo 'not a python' >&2\nexit 3", "failed to report its tags: not a python"),
    ("echo 'hello'", "did not report its tags (it printed 'hello')"),
])
def test_a_target_interpreter_that_cannot_run_or_report_is_a_usage_error(
        local_index, clean_pip_env, tmp_path, script, expected):
    python = tmp_path / "python"
    if script is not None:
        python.write_text(f"#!/bin/sh\n{script}\n")
        python.chmod(0o755)
    run = run_cli(["--python", str(python), "--dry-run", "-i", local_index.url, "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert expected in run.stderr and repr(str(python)) in run.stderr
    assert "--python" in run.stderr or "3.9 and newer" in run.stderr  # a hint


def test_modules_in_the_working_directory_never_run(scenario, local_index, make_venv,
                                                    clean_pip_env, tmp_path, monkeypatch):
    # `python -m pip` and `python -c` put the working directory first on sys.path: a
    # checked-out repository with a textwrap.py (pip imports it) or json.py (the listing of
    # what is installed imports it) would run code before anything was checked
    scenario("ontime")
    work = tmp_path / "repo"
    work.mkdir()
    marker = tmp_path / "ran"
    for module in ("textwrap", "json", "re", "optparse", "logging"):
        (work / f"{module}.py").write_text(
            f"open({str(marker)!r}, 'a').write('{module}\\n')\n")
    conf = tmp_path / "pip.conf"  # a real file: pip config list runs
    conf.write_text(f"[global]\nindex-url = {local_index.url}\n")
    env = dict(clean_pip_env, PIP_CONFIG_FILE=str(conf))
    venv = make_venv()
    monkeypatch.chdir(work)
    dry = run_cli(["--python", str(venv), "--dry-run", "demo"], env, tmp_path, cwd=work)
    assert dry.code == 0, dry.stderr
    run = run_cli(["--python", str(venv), "demo"], env, tmp_path, cwd=work)
    assert run.code == 0, run.stderr
    assert not marker.exists(), marker.read_text()
    monkeypatch.chdir(tmp_path)  # the test's own pip runs are not protected
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}
