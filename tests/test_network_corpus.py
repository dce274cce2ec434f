"""Selection parity with pip on the real-world requirement sets of tests/data/corpus/pypi, against
the real PyPI (marked ``network``). pip's configuration is neutralised on both sides."""

from __future__ import annotations

import os
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from clihelp import run_cli
from support.piprun import run_pip

pytestmark = pytest.mark.network

#: pip's selection changes between releases; parity is measured against this one.
PIP_VERSION = "26.3"
CORPUS = Path(os.environ.get("SAFE_INSTALL_CORPUS",
                             Path(__file__).resolve().parent / "data" / "corpus" / "pypi"))
SETS = sorted(p.stem for p in CORPUS.glob("*.txt") if p.stem != "airflow-constraints-3.11") \
    if CORPUS.is_dir() else []
FOREIGN = {
    "macos-arm64-3.12": ["--python-version", "3.12", "--platform", "macosx_14_0_arm64",
                         "--only-binary", ":all:"],
    "win-amd64-3.13": ["--python-version", "3.13", "--platform", "win_amd64",
                       "--only-binary", ":all:"],
    "manylinux2014-3.11": ["--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                           "--only-binary", ":all:"],
}
LENIENT = ["--on-late", "warn", "--on-unknown-upload-time", "warn"]


def test_corpus_is_present_and_pip_is_the_pinned_version():
    assert SETS, f"no requirement sets found in {CORPUS} (set SAFE_INSTALL_CORPUS)"
    assert version("pip") == PIP_VERSION


def _pip(args: list[str], env: dict[str, str], tmp_path: Path, *,
         python: str | None = None) -> set[tuple[str, str, str]]:
    import json

    report = tmp_path / "pip-report.json"
    run_pip(["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
             *args], env, cwd=CORPUS, python=python)
    data = json.loads(report.read_text())
    return {(canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"],
             i["download_info"]["url"].rsplit("/", 1)[1]) for i in data["install"]}


def _ours(args: list[str], env: dict[str, str], tmp_path: Path) -> set[tuple[str, str, str]]:
    run = run_cli(["--dry-run", "-I", *LENIENT, *args], env, tmp_path, cwd=CORPUS)
    assert run.code == 0, run.stderr
    assert run.report is not None
    # build dependencies are checked and reported too, but pip's report does not list them
    return {(p["name"], p["version"], p["filename"]) for p in run.report["packages"]
            if not p["build_time"]}


@pytest.mark.parametrize("name", SETS)
def test_corpus_set_selects_what_pip_selects(name, clean_pip_env, tmp_path):
    args = ["-r", str(CORPUS / f"{name}.txt")]
    ours = _ours(args, clean_pip_env, tmp_path)
    assert ours == _pip(args, clean_pip_env, tmp_path)


@pytest.mark.parametrize("target", sorted(FOREIGN))
@pytest.mark.parametrize("name", ["cli-ansible", "lib-yfinance"])
def test_corpus_set_for_foreign_targets(name, target, clean_pip_env, tmp_path):
    args = [*FOREIGN[target], "-r", str(CORPUS / f"{name}.txt")]
    ours = _ours(args, clean_pip_env, tmp_path)
    assert ours == _pip(args, clean_pip_env, tmp_path)


def _other_interpreter() -> str | None:
    here = os.path.realpath(sys.executable)
    for candidate in ("/usr/bin/python3", "python3.12", "python3.13", "python3.10"):
        path = shutil.which(candidate)
        if path and os.path.realpath(path) != here:
            return path
    return None


def test_corpus_set_for_another_interpreter(clean_pip_env, tmp_path):
    other = _other_interpreter()
    if other is None:
        pytest.skip("no second Python interpreter on this machine")
    args = ["-r", str(CORPUS / "flask-ctfd.txt")]
    ours = _ours(["--python", other, *args], clean_pip_env, tmp_path)
    assert ours == _pip(args, clean_pip_env, tmp_path, python=other)
