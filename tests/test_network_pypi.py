"""Against the real PyPI (marked ``network``; run with ``pytest -m network``)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from clihelp import run_cli
from support.piprun import pip_dry_run_report

pytestmark = pytest.mark.network


def _pip_selection(report):
    return {(canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"],
             i["download_info"]["url"].rsplit("/", 1)[1]) for i in report["install"]}


def test_black_24_4_0_selects_what_pip_selects_and_is_on_time(clean_pip_env, tmp_path):
    args = ["--no-deps", "black==24.4.0"]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    black = run.package("black")
    assert {(black["name"], black["version"], black["filename"])} == \
        _pip_selection(pip_dry_run_report(args, clean_pip_env))
    assert black["release_files"] == 22  # one sdist and 21 wheels
    assert 0 <= black["lateness_seconds"] < 3600
    assert black["release_start"].startswith("2024-04-")
    assert not [f for f in black["findings"] if f["kind"] == "late"]


def test_small_tree_matches_pip(clean_pip_env, tmp_path):
    args = ["requests[socks]==2.32.3", "black==24.4.0"]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    ours = {(p["name"], p["version"], p["filename"]) for p in run.report["packages"]}
    assert ours == _pip_selection(pip_dry_run_report(args, clean_pip_env))


def test_six_no_binary_then_wheel_is_not_a_trust_finding(clean_pip_env, tmp_path, make_venv):
    """Issue 16: a selection that differs only by --no-binary is not a change of the release."""
    from support.piprun import pip_list

    env = dict(clean_pip_env, SAFE_INSTALL_TRUST_STORE=str(tmp_path / "state.sqlite3"))
    first = make_venv("a")
    run = run_cli(["--python", str(first), "--no-binary", "six", "six==1.16.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("six")["filename"] == "six-1.16.0.tar.gz"
    second = make_venv("b")
    run = run_cli(["--python", str(second), "six==1.16.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("six")["filename"] == "six-1.16.0-py2.py3-none-any.whl"
    assert not {f["kind"] for f in run.package("six")["findings"]} & \
        {"release-changed", "replaced-file"}
    assert pip_list(second, env) == {"six": "1.16.0"}
