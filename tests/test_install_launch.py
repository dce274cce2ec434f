"""Issue 21: how the final ``pip install`` is started.

``pip --python PY ARGS`` starts pip in safe-install's interpreter only to re-run itself under
``PY`` (``PY .../pip/__pip-runner__.py --python PY ARGS`` with ``_PIP_RUNNING_IN_SUBPROCESS``
set). safe-install starts that re-run directly: the same pip, interpreter, arguments and
environment, one pip start-up fewer. Where ``PY`` cannot be run that way, the plain
``pip --python`` is run, and pip says what is wrong, as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import run_cli
from safeinstall.installer import EarlyInstall, pip_calls, start_install
from safeinstall.pipconfig import PIP_COMMAND
from safeinstall.pipoptions import PipSettings
from support.artifacts import build_wheel


def _pips_runner() -> str:
    """The ``__pip-runner__.py`` of the pip that ``PIP_COMMAND`` runs, as pip finds it."""
    code = ("import os, pip; print(os.path.join(os.path.dirname(os.path.realpath("
            "pip.__file__)), '__pip-runner__.py'))")
    out = subprocess.run([*PIP_COMMAND[:-2], "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(sys.executable))
    return out.stdout.strip()


def test_the_final_pip_is_pips_own_re_run_under_the_target(make_venv, clean_pip_env):
    venv = make_venv()
    direct, plain = pip_calls(str(venv), clean_pip_env)
    assert direct.cmd == (str(venv), _pips_runner(), "--python", str(venv))
    assert direct.env == {**clean_pip_env, "_PIP_RUNNING_IN_SUBPROCESS": "1"}
    assert plain.cmd == (*PIP_COMMAND, "--python", str(venv)) and plain.env == clean_pip_env
    # without --python, pip runs in safe-install's own interpreter, as it always did
    assert [c.cmd for c in pip_calls(None, clean_pip_env)] == [PIP_COMMAND]


def test_a_venv_directory_is_run_as_pip_runs_it(make_venv, clean_pip_env):
    venv = make_venv()
    root = venv.parent.parent
    direct, _plain = pip_calls(str(root), clean_pip_env)
    assert direct.cmd[0] == str(root / "bin" / "python")
    assert direct.cmd[2:] == ("--python", str(root))  # pip gets the value as given


def test_an_interpreter_that_cannot_be_started_is_left_to_pip(tmp_path, clean_pip_env):
    broken = tmp_path / "python"
    broken.write_bytes(b"\x00\x01 not a program\n")
    broken.chmod(0o755)  # executable, but no format the system can start: ENOEXEC
    missing = tmp_path / "nowhere" / "python"
    unreadable = tmp_path / "plain-file"
    unreadable.write_text("")
    for python in (missing, unreadable):
        assert [c.cmd[0] for c in pip_calls(str(python), clean_pip_env)] == [sys.executable]
    early = start_install(str(broken), PipSettings(python=str(broken)), clean_pip_env, [])
    assert isinstance(early, EarlyInstall) and early.proc is not None
    try:
        assert early.proc.args[:len(PIP_COMMAND)] == list(PIP_COMMAND)  # the plain pip
    finally:
        early.cancel()
    assert early.proc.returncode is not None


@pytest.mark.parametrize("mode", [0o644, 0o755])
def test_a_target_that_is_no_interpreter_is_a_clear_error(mode, local_index, clean_pip_env,
                                                          tmp_path, t0):
    """--python naming a file that is no interpreter (executable or not): an error that names
    it, no traceback, and the pip started early is stopped."""
    local_index.add(build_wheel(tmp_path / "dists", "alpha", "1.0"), upload_time=t0)
    fake = tmp_path / "python"
    fake.write_bytes(b"\x00\x01 not a program\n")
    fake.chmod(mode)
    run = run_cli(["--python", str(fake), "-i", local_index.url, "alpha"], clean_pip_env,
                  tmp_path)
    assert run.code == 2, run.stderr
    assert f"cannot run the target interpreter '{fake}'" in run.stderr


def test_the_dist_info_is_a_plain_pip_installs(local_index, make_venv, clean_pip_env, tmp_path,
                                               t0):
    """INSTALLER, REQUESTED and direct_url.json as ``pip install WHEEL`` writes them."""
    wheel = build_wheel(tmp_path / "dists", "alpha", "1.0", extra_files={"alpha/m.py": b""})
    local_index.add(wheel, upload_time=t0)
    ours, theirs = make_venv("ours"), make_venv("pips")
    run = run_cli(["--python", str(ours), "-i", local_index.url, "alpha"], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    subprocess.run([*PIP_COMMAND, "--python", str(theirs), "install", "--no-index",
                    "--no-deps", str(wheel)], env=clean_pip_env, check=True,
                   capture_output=True)

    def info(venv: Path) -> Path:
        (site,) = (venv.parent.parent / "lib").glob("python*/site-packages")
        return site / "alpha-1.0.dist-info"

    mine, pips = info(ours), info(theirs)
    assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in pips.iterdir())
    for name in ("INSTALLER", "REQUESTED", "METADATA", "WHEEL"):
        assert (mine / name).read_bytes() == (pips / name).read_bytes()
    # the same record of the same file, each naming where its install took it from
    a, b = (json.loads((d / "direct_url.json").read_text()) for d in (mine, pips))
    assert a["archive_info"] == b["archive_info"] and a.keys() == b.keys()
    assert a["url"].startswith("file:///") and a["url"].endswith("/" + wheel.name)
    assert b["url"] == wheel.as_uri()
