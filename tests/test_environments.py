"""Which environment safe-install installs into, and the environments it refuses to touch:
the active virtual environment is the target when no --python is given; --user where pip
refuses it is refused before the check; an install that would change safe-install's own
dependencies in the environment it runs from is refused (exit 2), nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

import pytest

from clihelp import run_cli
from support.artifacts import build_wheel
from support.piprun import pip_list, venv_python

# -- the active virtual environment ------------------------------------------------------------


def test_virtual_env_is_the_target(scenario, local_index, make_venv, clean_pip_env, tmp_path):
    scenario("ontime")
    venv = make_venv()
    env = dict(clean_pip_env, VIRTUAL_ENV=str(venv.parent.parent))
    run = run_cli(["--dry-run", "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert Path(run.report["target"]["python_executable"]).parent.parent == venv.parent.parent
    assert any("VIRTUAL_ENV" in n for n in run.report["notes"]), run.report["notes"]
    assert str(venv.parent.parent) in run.stderr  # the target is printed
    run = run_cli(["-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_python_option_comes_before_virtual_env(scenario, local_index, make_venv,
                                                clean_pip_env, tmp_path):
    scenario("ontime")
    active, chosen = make_venv("active"), make_venv("chosen")
    env = dict(clean_pip_env, VIRTUAL_ENV=str(active.parent.parent))
    run = run_cli(["--python", str(chosen), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(chosen, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}
    assert pip_list(active, clean_pip_env) == {}


def test_virtual_env_naming_no_environment_is_a_usage_error(local_index, clean_pip_env,
                                                             tmp_path):
    env = dict(clean_pip_env, VIRTUAL_ENV=str(tmp_path / "gone"))
    run = run_cli(["--dry-run", "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 2
    assert "VIRTUAL_ENV" in run.stderr and "gone" in run.stderr
    assert local_index.requests == []


# -- option combinations pip refuses before doing anything -------------------------------------


def test_user_inside_a_virtual_environment_is_refused_up_front(scenario, local_index, make_venv,
                                                                clean_pip_env, tmp_path):
    scenario("ontime")
    venv = make_venv()
    for args in (["--python", str(venv)], []):
        env = dict(clean_pip_env, VIRTUAL_ENV=str(venv.parent.parent)) if not args \
            else clean_pip_env
        run = run_cli([*args, "--user", "-i", local_index.url, "demo"], env, tmp_path)
        assert run.code == 2, run.stderr
        assert "--user" in run.stderr and "not visible in this virtualenv" in run.stderr
        assert local_index.requests == []  # refused before anything was fetched
    assert pip_list(venv, clean_pip_env) == {}


def test_user_with_prefix_is_refused_up_front(local_index, clean_pip_env, tmp_path):
    run = run_cli(["--user", "--prefix", str(tmp_path / "p"), "-i", local_index.url, "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 2
    assert "--user and --prefix" in run.stderr
    assert local_index.requests == []


def test_target_that_is_a_file_is_refused_up_front(local_index, clean_pip_env, tmp_path):
    (tmp_path / "afile").write_text("")
    run = run_cli(["--target", "afile", "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 2
    assert "not a directory" in run.stderr
    assert local_index.requests == []


def _externally_managed_python() -> str | None:
    """An interpreter of this machine that pip refuses to install into (PEP 668), if any."""
    from safeinstall.target import probe_interpreter

    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and probe_interpreter(candidate).externally_managed:
            return candidate
    return None


def test_an_externally_managed_target_is_refused_up_front(scenario, local_index, clean_pip_env,
                                                          tmp_path):
    python = _externally_managed_python()
    if python is None:
        pytest.skip("no externally managed (PEP 668) interpreter on this machine")
    scenario("ontime")
    run = run_cli(["--python", python, "-i", local_index.url, "demo"], clean_pip_env, tmp_path)
    assert run.code == 2, run.stderr
    assert "externally managed" in run.stderr and "EXTERNALLY-MANAGED" in run.stderr
    assert local_index.requests == []
    # a dry run installs nothing: it is checked as asked
    run = run_cli(["--python", python, "--dry-run", "-i", local_index.url, "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr


# -- safe-install's own environment -------------------------------------------------------------


def _tool_environment(tmp_path: Path) -> Path:
    """A virtual environment with safe-install installed: this test run's safe-install and
    its dependencies, added after the environment's own site-packages (so that whatever is
    installed into it shadows them, as a real install would)."""
    venv = tmp_path / "tool"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True)
    python = venv_python(venv)
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    ours = sysconfig.get_path("purelib")
    Path(site_packages, "zz-safe-install-under-test.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n")
    return python


def _tool_run(python: Path, args: list[str], env: dict[str, str],
              tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(env, SAFE_INSTALL_CACHE_DIR=str(tmp_path / "si-cache"),
               SAFE_INSTALL_TRUST_STORE="off")
    out = subprocess.run([python, "-m", "safeinstall", *args], capture_output=True, text=True,
                         env=env, cwd=tmp_path, check=False, timeout=300)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def test_install_that_downgrades_its_own_dependency_is_refused(local_index, clean_pip_env,
                                                               tmp_path, t0):
    # the cli-ansible case: ansible-core pins resolvelib below what safe-install runs on
    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "ansibleish", "1.0",
                                requires_dist=["resolvelib<1.1,>=0.5.3"]), upload_time=t0)
    local_index.add(build_wheel(out, "resolvelib", "1.0.1"), upload_time=t0)
    python = _tool_environment(tmp_path)
    before = pip_list(python, clean_pip_env)
    assert before["resolvelib"] == version("resolvelib") != "1.0.1"

    run = _tool_run(python, ["-i", local_index.url, "ansibleish"], clean_pip_env, tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"resolvelib {version('resolvelib')} -> 1.0.1" in run.stderr
    assert "own environment" in run.stderr and "--python" in run.stderr
    assert "requirements.lock" in run.stderr  # the isolated layout, spelled out
    assert pip_list(python, clean_pip_env) == before  # nothing changed

    # safe-install still runs there; a dry run says the install would be refused
    run = _tool_run(python, ["--dry-run", "-i", local_index.url, "ansibleish"], clean_pip_env,
                    tmp_path)
    assert run.returncode == 0, run.stderr
    assert "would be refused" in run.stderr and "resolvelib" in run.stderr


def test_install_into_its_own_environment_that_leaves_its_dependencies_alone(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "standalone", "1.0"), upload_time=t0)
    python = _tool_environment(tmp_path)
    run = _tool_run(python, ["-i", local_index.url, "standalone"], clean_pip_env, tmp_path)
    assert run.returncode == 0, run.stderr
    assert pip_list(python, clean_pip_env)["standalone"] == "1.0"


def test_own_dependencies_cover_the_runtime_requirements():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from safeinstall.environments import own_dependencies

    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    own = own_dependencies()
    assert canonicalize_name(pyproject["project"]["name"]) in own
    for text in pyproject["project"]["dependencies"]:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate():
            assert canonicalize_name(req.name) in own, req.name
    # and transitively: unearth's HTTP client, rich's markdown parser
    assert {"httpx2", "markdown-it-py"} <= set(own)


@pytest.mark.skipif(os.name != "posix", reason="the venv layout of the test is POSIX")
def test_active_environment_is_ours_means_no_probe(clean_pip_env):
    from safeinstall.target import active_environment

    assert active_environment({**clean_pip_env, "VIRTUAL_ENV": sys.prefix}) is None
    assert active_environment({k: v for k, v in clean_pip_env.items()
                               if k != "VIRTUAL_ENV"}) is None


def test_own_distribution_is_found_by_name_without_reading_every_record(tmp_path):
    """The installed (non-editable) layout: our distribution under its own name holds
    safeinstall/__init__.py, so it is the root without a scan of every distribution; one that
    does not hold it (another project under that name) falls back to the scan."""
    import types
    from importlib import metadata

    from safeinstall.environments import OWN_DISTRIBUTION, _own_roots

    def layout(files: str) -> types.SimpleNamespace:
        info = tmp_path / files / "late_artifact_guard-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {OWN_DISTRIBUTION}\n"
                                       "Version: 0.1.0\n")
        (info / "RECORD").write_text(f"{files}/__init__.py,,\n")
        scanned: list[bool] = []

        def packages_distributions() -> dict[str, list[str]]:
            scanned.append(True)
            return {"safeinstall": ["from-the-scan"]}

        return types.SimpleNamespace(
            distribution=lambda name: metadata.PathDistribution(info),
            PackageNotFoundError=metadata.PackageNotFoundError,
            packages_distributions=packages_distributions, scanned=scanned)

    ours = layout("safeinstall")
    assert _own_roots(ours) == [OWN_DISTRIBUTION] and not ours.scanned
    other = layout("otherpkg")
    assert _own_roots(other) == ["from-the-scan"] and other.scanned
