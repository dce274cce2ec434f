"""The shipped lock of safe-install's own dependencies (install/requirements.lock): it parses,
pins every runtime dependency of pyproject.toml by hash, and (marked ``network``) is refreshed
by its own ``safe-install-tool lock`` and ``guard``, and installs safe-install into a new
virtual environment with plain ``pip install --require-hashes``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from safeinstall.reqfile import parse_requirement_files
from support.piprun import clean_pip_environ, venv_python

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "install" / "requirements.lock"
LOCK_INPUT = REPO / "install" / "requirements.in"
#: the Pythons the lock is written for (scripts/refresh-tool-lock.sh)
LOCKED_PYTHONS = ("3.11", "3.12", "3.13", "3.14")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _locked() -> dict[str, tuple[str, tuple[str, ...]]]:
    parsed = parse_requirement_files([str(LOCK)], [], environ={})
    out = {}
    for line in parsed.requirements:
        req = Requirement(line.text)
        (spec,) = req.specifier
        assert spec.operator == "==", line.text
        out[canonicalize_name(req.name)] = (spec.version, tuple(line.hashes))
    return out


def _wanted() -> list[Requirement]:
    data = _pyproject()
    return [Requirement(t) for t in [*data["project"]["dependencies"],
                                     *data["build-system"]["requires"]]]


def test_the_lock_pins_every_runtime_dependency_by_hash():
    locked = _locked()
    assert locked
    for name, (_version, hashes) in locked.items():
        assert hashes and all(h.startswith("sha256:") and len(h) == 71 for h in hashes), name
    for req in _wanted():
        applies = req.marker is None or any(
            req.marker.evaluate({"python_version": v, "python_full_version": f"{v}.0"})
            for v in LOCKED_PYTHONS)
        if not applies:
            continue
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in {LOCK.name}: run scripts/refresh-tool-lock.sh"
        assert req.specifier.contains(locked[name][0], prereleases=True), \
            f"{LOCK.name} pins {name} {locked[name][0]}, pyproject wants {req}"


def test_the_lock_input_is_pyprojects_requirements():
    lines = [line for line in LOCK_INPUT.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert [str(Requirement(x)) for x in lines] == [str(r) for r in _wanted()], \
        "pyproject.toml changed: run scripts/refresh-tool-lock.sh"


def test_readme_and_dockerfile_install_the_tool_from_the_lock():
    readme = (REPO / "README.md").read_text()
    usage = (REPO / "docs" / "usage.md").read_text()
    assert "pip install --require-hashes -r install/requirements.lock" in readme
    assert "--no-build-isolation" in readme
    assert "install/requirements.lock" in usage and "--python" in usage
    name = _pyproject()["project"]["name"]
    assert name != "safe-install"
    for text in (readme, usage, (REPO / "docs" / "reference.md").read_text()):
        lines = text.splitlines()
        # the only mention is the warning against it
        assert [x for x in lines if "pip install safe-install" in x
                and "never" not in text[text.index(x) - 12:text.index(x) + len(x)]] == []
        assert not any("safe-install[postgres]" in x for x in lines)


# -- against the real PyPI -----------------------------------------------------------------------


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = clean_pip_environ(cache_dir=tmp_path / "pip-cache")
    env["SAFE_INSTALL_CACHE_DIR"] = str(tmp_path / "si-cache")
    env["SAFE_INSTALL_TRUST_STORE"] = "off"
    return env


@pytest.mark.network
def test_refresh_writes_a_lock_that_its_own_guard_accepts(tmp_path):
    # the script locks pyproject's requirements with safe-install-tool lock, then guards the
    # new lock against the one it replaces (here: a copy of the shipped lock)
    lock, lock_input = tmp_path / "requirements.lock", tmp_path / "requirements.in"
    shutil.copy(LOCK, lock)
    env = dict(_clean_env(tmp_path), LOCK=str(lock), LOCK_INPUT=str(lock_input),
               VENV=str(Path(sys.executable).parent.parent))
    run = subprocess.run(["bash", str(REPO / "scripts" / "refresh-tool-lock.sh")], env=env,
                         capture_output=True, text=True, check=False, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "0 late" in run.stdout + run.stderr  # the guard of the new lock against the old
    assert lock_input.read_text() == LOCK_INPUT.read_text()
    fresh = parse_requirement_files([str(lock)], [], environ={}).requirements
    assert {canonicalize_name(Requirement(r.text).name) for r in fresh} == set(_locked())


@pytest.mark.network
def test_the_tool_installs_from_the_lock_with_plain_pip(tmp_path):
    env = _clean_env(tmp_path)
    tool = tmp_path / "tool"
    subprocess.run([sys.executable, "-m", "venv", str(tool)], check=True, capture_output=True)
    python = venv_python(tool)
    pip = [str(python), "-m", "pip"]
    run = subprocess.run([*pip, "install", "--require-hashes", "-r", str(LOCK)], env=env,
                         capture_output=True, text=True, check=False, timeout=600)
    assert run.returncode == 0, run.stderr
    # safe-install itself, from a copy of this checkout, with nothing fetched
    source = tmp_path / "src-copy"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", ".work", "tests",
        "benchmarks"))
    run = subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "--no-index",
                          str(source)], env=env, capture_output=True, text=True, check=False,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    check = subprocess.run([*pip, "check"], env=env, capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout
    bindir = python.parent
    version = subprocess.run([str(bindir / "safe-install"), "--version"], env=env,
                             capture_output=True, text=True, check=False)
    assert version.returncode == 0 and version.stdout.startswith("safe-install "), version
    # the isolated layout: the tool in its own environment, aimed at a project's
    project = tmp_path / "project"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project)], check=True)
    dry = subprocess.run([str(bindir / "safe-install"), "--python", str(project), "--dry-run",
                          "idna==3.10"], env=env, capture_output=True, text=True,
                         check=False, cwd=tmp_path, timeout=600)
    assert dry.returncode == 0, dry.stderr
    assert str(project) in dry.stderr
    assert os.path.isdir(project)
