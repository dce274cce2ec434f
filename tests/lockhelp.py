"""Helpers for the lock, guard, audit and trust tests (issue 4).

* :func:`publish` builds one wheel or sdist and adds it to a :class:`LocalIndex` at
  ``t0 + offset``, so a test can add a late file between two runs;
* :func:`run_tool` runs ``safe-install-tool`` in-process with a hermetic environment;
* :func:`lock_tools` gives a virtual environment with pip-tools, pipenv, poetry and uv,
  installed once per test session from PyPI with the clean pip environment (tests that need it
  are marked ``network``); ``SAFE_INSTALL_TEST_LOCK_TOOLS=/path/to/venv`` reuses one.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from safeinstall.tool import main as tool_main
from support.artifacts import build_sdist, build_wheel
from support.index import IndexedFile, LocalIndex
from support.piprun import clean_pip_environ

TOOLS = ("pip-tools", "pipenv", "poetry", "uv")


def publish(index: LocalIndex, work: Path, t0: datetime, name: str, version: str, *,
            kind: str = "wheel", tag: str = "py3-none-any", offset: timedelta = timedelta(0),
            payload: str = "benign", requires_dist: tuple[str, ...] = (),
            requires_python: str | None = None, upload_time: bool = True) -> IndexedFile:
    out = work / "artifacts" / f"{name}-{version}-{kind}-{tag}-{payload}"
    if kind == "wheel":
        path = build_wheel(out, name, version, tag=tag, payload=payload,
                           requires_dist=requires_dist, requires_python=requires_python)
    else:
        path = build_sdist(out, name, version, payload=payload, requires_dist=requires_dist,
                           requires_python=requires_python)
    return index.add(path, upload_time=t0 + offset if upload_time else None,
                     requires_python=requires_python)


@dataclass
class ToolRun:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def tool_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = dict(env)
    env.setdefault("SAFE_INSTALL_CACHE_DIR", str(tmp_path / "si-cache"))
    env.setdefault("SAFE_INSTALL_TRUST_STORE", str(tmp_path / "si-trust.sqlite3"))
    return env


def run_tool(args: list[str], env: dict[str, str], tmp_path: Path, *,
             cwd: Path | None = None) -> ToolRun:
    out, err = io.StringIO(), io.StringIO()
    code = tool_main(list(args), environ=tool_env(env, tmp_path), stdout=out, stderr=err,
                     cwd=str(cwd or tmp_path))
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return ToolRun(code, out.getvalue(), err.getvalue())


_TOOLS_VENV: Path | None = None


def lock_tools(base: Path) -> Path:
    """The ``bin`` directory of a venv holding pip-tools, pipenv, poetry and uv (from PyPI)."""
    global _TOOLS_VENV
    if os.environ.get("SAFE_INSTALL_TEST_LOCK_TOOLS"):
        return Path(os.environ["SAFE_INSTALL_TEST_LOCK_TOOLS"]) / "bin"
    if _TOOLS_VENV is None:
        venv = base / "lock-tools"
        env = clean_pip_environ(cache_dir=base / "pip-cache")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True)
        proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                               "--upgrade", "pip", *TOOLS], env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        if proc.returncode != 0:
            pytest.fail(f"cannot install {', '.join(TOOLS)} from PyPI:\n{proc.stderr[-2000:]}")
        _TOOLS_VENV = venv
    return _TOOLS_VENV / "bin"


def tool_environ(env: dict[str, str], home: Path) -> dict[str, str]:
    """A hermetic environment for the lockers: no PIP_*/UV_* configuration, caches in ``home``."""
    out = {k: v for k, v in env.items() if not k.startswith(("UV_", "POETRY_", "PIPENV_"))}
    out.update({
        "UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(home / "uv-cache"),
        "POETRY_CACHE_DIR": str(home / "poetry-cache"),
        "POETRY_CONFIG_DIR": str(home / "poetry-config"),
        "POETRY_DATA_DIR": str(home / "poetry-data"),
        "PIPENV_VENV_IN_PROJECT": "1", "PIPENV_CACHE_DIR": str(home / "pipenv-cache"),
        "PIPENV_NOSPIN": "1", "PIPENV_YES": "1", "PIPENV_IGNORE_VIRTUALENVS": "1",
        "WORKON_HOME": str(home / "workon"), "VIRTUAL_ENV": "",
        "XDG_CACHE_HOME": str(home / "xdg-cache"), "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_DATA_HOME": str(home / "xdg-data"),
    })
    return out


def run_locker(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def generate_lock(tool: str, bin_dir: Path, index_url: str, name: str, spec: str, work: Path,
                  env: dict[str, str]) -> Path:
    """Have ``tool`` lock ``name`` ``spec`` (e.g. ``==1.0``) from ``index_url`` in ``work``;
    return the lock file it wrote."""
    requirement = name + spec
    work.mkdir(parents=True, exist_ok=True)
    env = tool_environ(env, work / ".home")
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if tool == "pip-tools":
        (work / "requirements.in").write_text(requirement + "\n")
        run_locker([str(bin_dir / "pip-compile"), "--quiet", "--generate-hashes",
                    "--no-emit-index-url", "--index-url", index_url, "--output-file",
                    "requirements.txt", "requirements.in"], env, work)
        return work / "requirements.txt"
    if tool == "uv":
        (work / "pyproject.toml").write_text(
            f'[project]\nname = "app"\nversion = "0.1"\nrequires-python = ">={py}"\n'
            f'dependencies = ["{requirement}"]\n')
        run_locker([str(bin_dir / "uv"), "lock", "--quiet", "--default-index", index_url,
                    "--python", sys.executable], env, work)
        return work / "uv.lock"
    if tool == "poetry":
        (work / "pyproject.toml").write_text(
            f'[project]\nname = "app"\nversion = "0.1"\nrequires-python = ">={py}"\n'
            f'dependencies = ["{requirement}"]\n\n[tool.poetry]\npackage-mode = false\n\n'
            f'[[tool.poetry.source]]\nname = "local"\nurl = "{index_url}"\n'
            'priority = "primary"\n')
        run_locker([str(bin_dir / "poetry"), "lock", "--no-interaction"], env, work)
        return work / "poetry.lock"
    if tool == "pipenv":
        (work / "Pipfile").write_text(
            f'[[source]]\nurl = "{index_url}"\nverify_ssl = false\nname = "local"\n\n'
            f'[packages]\n{name} = "{spec or "*"}"\n\n'
            f'[requires]\npython_version = "{py}"\n')
        run_locker([str(bin_dir / "pipenv"), "lock"], env, work)
        return work / "Pipfile.lock"
    raise ValueError(tool)
