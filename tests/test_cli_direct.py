"""Direct URL, VCS, local-path and editable requirements: reported as unverifiable sources,
their dependencies still resolved and checked."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from clihelp import run_cli
from support.artifacts import build_sdist
from support.piprun import pip_list


def _project(tmp_path: Path, name: str, requires_dist: list[str]) -> Path:
    sdist = build_sdist(tmp_path / "src-dists", name, "0.1", requires_dist=requires_dist)
    with tarfile.open(sdist) as tf:
        tf.extractall(tmp_path / "projects", filter="data")
    return next((tmp_path / "projects").iterdir())


def _git_repo(path: Path) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return f"git+{path.as_uri()}"


def test_editable_project_dependencies_are_checked(scenario, local_index, make_venv,
                                                   clean_pip_env, tmp_path):
    scenario("transitive_attack")  # lib 2.0 has a late native wheel
    project = _project(tmp_path, "mine", ["lib"])
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-e", str(project)],
                  clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("unverifiable-source", "info") in run.kinds("mine")
    assert ("late", "error") in run.kinds("lib")
    assert pip_list(venv, clean_pip_env) == {}
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--allow-late", "lib==2.0",
                   "-e", str(project)], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"mine": "0.1", "lib": "2.0"}


def test_vcs_requirement_is_refused_unless_allowed_and_its_deps_checked(
        scenario, local_index, make_venv, clean_pip_env, tmp_path):
    scenario("ontime")
    url = _git_repo(_project(tmp_path, "vcsproj", ["dep>=1"]))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, f"vcsproj @ {url}"],
                  clean_pip_env, tmp_path)
    assert run.code == 1 and "VCS" in run.stderr
    # a hint pip can act on: pip cannot check a --hash of a VCS requirement
    assert "@<commit hash>" in run.stderr and "--on-unverifiable warn" in run.stderr
    assert "add --hash" not in run.stderr
    assert pip_list(venv, clean_pip_env) == {}
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--on-unverifiable", "warn",
                   f"vcsproj @ {url}"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("unverifiable-source", "warning") in run.kinds("vcsproj")
    assert run.package("dep")["decision"] == "install"
    assert pip_list(venv, clean_pip_env) == {"vcsproj": "0.1", "dep": "1.0"}
