"""Builds and hashed locks against the real PyPI (issue 14; marked ``network``)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from clihelp import run_cli
from lockhelp import run_tool
from support.piprun import pip_dry_run_report, pip_list, run_pip

pytestmark = pytest.mark.network

# the smallest repro of the real Pyramid lock: an sdist whose build needs setuptools>=40.8,
# next to a hashed runtime pin of an older setuptools
ZXCVBN = """\
zxcvbn==4.4.28 \\
    --hash=sha256:151bd816817e645e9064c354b13544f85137ea3320ca3be1fb6873ea75ef7dc1
setuptools==70.0.0 \\
    --hash=sha256:54faa7f2e8d2d11bcd2c07bed282eef1046b5c080d1c32add737d7b5817b1ad4 \\
    --hash=sha256:f211a66637b8fa059bb28183da127d4e86396c991a942b028c6650d4319c3fd0
"""


def _pip_selection(report):
    return {(canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"],
             i["download_info"]["url"].rsplit("/", 1)[1]) for i in report["install"]}


def _runtime(run):
    return {(p["name"], p["version"], p["filename"]) for p in run.report["packages"]
            if not p["build_time"]}


def test_hashed_runtime_pin_of_setuptools_next_to_an_sdist_matches_pip(clean_pip_env,
                                                                       tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(ZXCVBN)
    run = run_cli(["--dry-run", "-I", "-r", str(reqs)], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert _runtime(run) == _pip_selection(pip_dry_run_report(["-r", str(reqs)],
                                                              clean_pip_env))
    builds = [p for p in run.report["packages"] if p["build_time"]]
    assert [p["name"] for p in builds] == ["setuptools"]
    assert builds[0]["required_by"] == ["build of zxcvbn"]
    kinds = {(f["kind"], f["severity"]) for f in builds[0]["findings"]}
    assert ("untrusted-hash", "warning") in kinds and ("hash-mismatch", "error") not in kinds


@pytest.mark.parametrize("requirement", ["sgmllib3k==1.0.0", "Flask-Script==2.0.6"])
def test_lock_of_a_set_with_an_sdist_installs_with_plain_pip(requirement, clean_pip_env,
                                                             tmp_path, make_venv):
    work = tmp_path / "work"
    work.mkdir()
    run = run_tool(["lock", requirement], clean_pip_env, tmp_path, cwd=work)
    assert run.code == 0, run.stderr
    assert "setuptools" in (work / "build-constraints.txt").read_text()
    venv = make_venv()
    run_pip(["install", "--require-hashes", "-r", str(work / "requirements.lock"),
             "--build-constraint", str(work / "build-constraints.txt")], clean_pip_env,
            python=venv)
    name, _, version = requirement.partition("==")
    assert pip_list(venv, clean_pip_env)[canonicalize_name(name)] == version
    # and safe-install installs the same lock, building from the locked build files
    venv2 = make_venv("venv2")
    again = run_cli(["--python", str(venv2), "-r", str(work / "requirements.lock"),
                     "--build-constraint", str(work / "build-constraints.txt")],
                    clean_pip_env, tmp_path)
    assert again.code == 0, again.stderr
    assert pip_list(venv2, clean_pip_env) == pip_list(venv, clean_pip_env)


def test_real_hashed_lock_with_sdists_dry_run_matches_pip(clean_pip_env, tmp_path):
    """A real pip-compile --generate-hashes --allow-unsafe lock (104 packages, 4 sdists whose
    builds need setuptools, packaging and wheel, packaging also hash-pinned by the lock):
    exit 0, and the same files as pip 26.3's dry run."""
    from pathlib import Path

    lock = Path(__file__).parent / "data" / "locks" / "netbox-hashed.txt"
    run = run_cli(["--dry-run", "-I", "-r", str(lock)], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    ours = _runtime(run)
    assert len(ours) == 104
    assert ours == _pip_selection(pip_dry_run_report(["-r", str(lock)], clean_pip_env))
    sdists = {p["name"] for p in run.report["packages"]
              if not p["build_time"] and p["filename"].endswith(".tar.gz")}
    assert {"django-pglocks", "promise", "psycopg-c", "sgmllib3k"} <= sdists
    assert any(p["build_time"] and p["name"] == "setuptools" for p in run.report["packages"])


def test_lock_of_the_django_netbox_set_installs_with_plain_pip(clean_pip_env, tmp_path,
                                                               make_venv):
    """The corpus set with four sdists (one, psycopg-c, compiles against libpq): the lock
    succeeds, its build constraints hold several setuptools versions, and plain pip installs
    the lock building from those files only."""
    import os
    import shutil
    from pathlib import Path

    corpus = Path(os.environ.get("SAFE_INSTALL_CORPUS",
                                 Path(__file__).resolve().parent / "data" / "corpus" / "pypi"))
    if not (corpus / "django-netbox.txt").is_file():
        pytest.fail(f"corpus set {corpus / 'django-netbox.txt'} is missing "
                    "(set SAFE_INSTALL_CORPUS)")
    if shutil.which("pg_config") is None:
        pytest.fail("pg_config (libpq development files) is needed to build psycopg-c")
    work = tmp_path / "work"
    work.mkdir()
    run = run_tool(["lock", "-r", str(corpus / "django-netbox.txt")], clean_pip_env, tmp_path,
                   cwd=work)
    assert run.code == 0, run.stderr
    bc = (work / "build-constraints.txt").read_text()
    assert "setuptools" in bc and "# via build of psycopg-c" in bc
    venv = make_venv()
    run_pip(["install", "--require-hashes", "-r", str(work / "requirements.lock"),
             "--build-constraint", str(work / "build-constraints.txt")], clean_pip_env,
            python=venv)
    installed = pip_list(venv, clean_pip_env)
    assert {"django-pglocks", "promise", "psycopg-c", "sgmllib3k"} <= set(installed)
