"""Run the real pip (``sys.executable -m pip``) hermetically.

This machine has machine-wide pip configuration (``/etc/pip.conf``, ``/etc/xdg/pip``, the
user's ``pip.conf``: extra ``file://`` indexes, ``find-links = /opt/wheels``, a constraints
file) and ``PIP_*`` variables such as ``PIP_FIND_LINKS``. Every pip subprocess of the tests
must therefore run with :func:`clean_pip_environ`: ``PIP_CONFIG_FILE=/dev/null`` (pip then
skips *all* configuration files, global and user ones included) and no other ``PIP_*``
variable except the few set here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

__all__ = [
    "PipFailed",
    "clean_pip_environ",
    "pip_dry_run_report",
    "pip_list",
    "run_pip",
    "venv_python",
]

_LOCAL_HOSTS = ("127.0.0.1", "localhost")

#: Generous, but finite: a hung pip must fail the test, not the CI job.
PIP_TIMEOUT = 180


class PipFailed(AssertionError):
    """pip exited with a non-zero status; carries its output for the test report."""

    def __init__(self, args: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.args_used = list(args)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"pip {' '.join(args)} exited with {returncode}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        )


def clean_pip_environ(
    base: Mapping[str, str] | None = None, *, cache_dir: Path | None = None
) -> dict[str, str]:
    """Return a copy of ``base`` (default ``os.environ``) fit for a hermetic pip.

    Every ``PIP_*`` variable (and ``VIRTUAL_ENV``) is dropped, then ``PIP_CONFIG_FILE=/dev/null``,
    ``PIP_DISABLE_PIP_VERSION_CHECK=1`` and ``PIP_NO_INPUT=1`` are set. ``PIP_NO_CACHE_DIR``
    is deliberately not set; ``cache_dir`` sets ``PIP_CACHE_DIR`` (the fixture gives each test
    its own, so no HTTP or wheel cache is shared between tests or with the user).
    ``127.0.0.1`` and ``localhost`` are added to ``NO_PROXY``/``no_proxy`` so that a proxy
    configured on a CI machine never sees requests meant for the local index.
    """
    env = dict(os.environ if base is None else base)
    for key in [k for k in env if k.upper().startswith("PIP_")]:
        del env[key]
    # safe-install targets the active virtual environment: a test names its target itself
    env.pop("VIRTUAL_ENV", None)
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    if cache_dir is not None:
        env["PIP_CACHE_DIR"] = str(cache_dir)
    # Never send requests for the local index through a proxy a CI machine may define.
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in env.get(key, "").split(",") if h.strip()]
        env[key] = ",".join([*hosts, *(h for h in _LOCAL_HOSTS if h not in hosts)])
    return env


def run_pip(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    python: Path | None = None,
    check: bool = True,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``sys.executable -m pip [--python PYTHON] ARGS`` with ``env``; return the result.

    With ``python``, pip acts on that interpreter's environment (it needs no pip of its own).
    Raises :class:`PipFailed` on a non-zero exit when ``check`` is true.
    """
    command = [sys.executable, "-m", "pip"]
    if python is not None:
        command += ["--python", str(python)]
    command += list(args)
    result = subprocess.run(
        command,
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    if check and result.returncode != 0:
        raise PipFailed(command[3:], result.returncode, result.stdout, result.stderr)
    return result


def pip_dry_run_report(args: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Return pip's installation report (``--dry-run --ignore-installed --report``) for ``args``.

    Runs ``sys.executable -m pip install --dry-run --ignore-installed --report <tmp> --quiet
    ARGS``: what pip would select for the running interpreter. ``report["install"]`` lists
    the selected items; each has ``metadata["name"]``, ``metadata["version"]``,
    ``download_info["url"]`` and ``download_info["archive_info"]["hashes"]["sha256"]``.
    """
    with tempfile.TemporaryDirectory(prefix="pip-report-") as tmp:
        report = Path(tmp) / "report.json"
        run_pip(
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--report",
                str(report),
                "--quiet",
                *args,
            ],
            env,
        )
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data


def pip_list(venv_python: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``{normalized name: version}`` of what is installed for ``venv_python``.

    Runs ``sys.executable -m pip --python VENV_PYTHON list --format json`` with ``env``
    (default: :func:`clean_pip_environ` of ``os.environ``).
    """
    result = run_pip(
        ["list", "--format", "json"],
        clean_pip_environ() if env is None else env,
        python=venv_python,
    )
    return {canonicalize_name(item["name"]): item["version"] for item in json.loads(result.stdout)}


def venv_python(venv_dir: Path) -> Path:
    """Path of the interpreter of the virtual environment at ``venv_dir``."""
    if sys.platform == "win32":  # pragma: no cover
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"
