"""Issue 19 against the real PyPI (marked ``network``; run with ``pytest -m network``):
late wheels of real releases that are benign backfills become ``late-verified`` with
``--on-late verify``; binary ones that differ from every on-time wheel stay refused."""

from __future__ import annotations

import platform
import sys

import pytest

from clihelp import run_cli
from support.piprun import pip_list

pytestmark = pytest.mark.network


def _late_verified(run, name: str) -> dict:  # type: ignore[no-untyped-def]
    pkg = run.package(name)
    kinds = {(f["kind"], f["severity"]) for f in pkg["findings"]}
    assert ("late-verified", "info") in kinds and ("late", "error") not in kinds, kinds
    return pkg


@pytest.mark.parametrize("pin, wheel, sdist, days", [
    ("aiobotocore==2.1.2", "aiobotocore-2.1.2-py3-none-any.whl", "aiobotocore-2.1.2.tar.gz",
     489),
    ("click==6.6", "click-6.6-py2.py3-none-any.whl", "click-6.6.tar.gz", 230),
    ("rsa==3.2", "rsa-3.2-py2.py3-none-any.whl", "rsa-3.2.tar.gz", 33),
])
def test_pure_backfills_are_late_verified(pin, wheel, sdist, days, clean_pip_env, tmp_path):
    args = ["--dry-run", "-I", "--no-deps", pin]
    refused = run_cli(args, clean_pip_env, tmp_path)
    assert refused.code == 1, refused.stderr  # the default policy refuses the late wheel
    run = run_cli(["--on-late", "verify", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    pkg = _late_verified(run, pin.split("==")[0])
    assert pkg["filename"] == wheel and pkg["decision"] == "install"
    assert pkg["lateness_seconds"] > days * 86400
    proof = pkg["proof"]
    assert (proof["kind"], proof["reference"]) == ("sdist-content", sdist)
    assert len(proof["reference_sha256"]) == 64 and proof["files_compared"] > 10
    assert f"proven a benign backfill of the on-time {sdist}" in run.stderr


def test_click_6_6_installs_late_verified(clean_pip_env, tmp_path, make_venv):
    venv = make_venv()
    run = run_cli(["--python", str(venv), "--no-deps", "--on-late", "verify", "click==6.6"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    _late_verified(run, "click")
    assert pip_list(venv, clean_pip_env) == {"click": "6.6"}


@pytest.mark.skipif(sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11)
                    or sys.platform != "linux" or platform.machine() != "x86_64",
                    reason="the selected wheel is cp311 manylinux x86_64's")
@pytest.mark.parametrize("pin, why", [
    ("pyyaml==6.0", "PyYAML-6.0.dist-info/METADATA differs"),
    ("bcrypt==3.2.0", "bcrypt/_bcrypt.abi3.so differs"),
])
def test_binary_late_wheels_that_differ_stay_refused(pin, why, clean_pip_env, tmp_path):
    run = run_cli(["--dry-run", "-I", "--no-deps", "--on-late", "verify", pin], clean_pip_env,
                  tmp_path)
    assert run.code == 1, run.stderr
    pkg = run.package(pin.split("==")[0])
    late = [f for f in pkg["findings"] if f["kind"] == "late"]
    assert late and late[0]["severity"] == "error" and pkg["proof"] is None
    assert late[0]["hint"].startswith("not proven a benign backfill (--on-late verify)")
    assert why in late[0]["hint"]
