"""What is installed, as safe-install lists it without pip, equals what ``pip inspect`` reports;
where the listing cannot be sure (legacy installs) it defers to pip and still gives pip's
answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from safeinstall.errors import UsageError
from safeinstall.installed_dists import InstalledSet, PendingListing
from support.artifacts import build_wheel
from support.piprun import run_pip


def pip_inspect(venv: Path, env: dict[str, str]) -> dict[str, tuple[str, tuple[str, ...],
                                                                     str | None]]:
    out = run_pip(["inspect"], env, python=venv).stdout
    result = {}
    for item in json.loads(out)["installed"]:
        meta = item["metadata"]
        result[canonicalize_name(meta["name"])] = (
            meta["version"], tuple(meta.get("requires_dist", [])), meta.get("requires_python"))
    return result


def ours(installed: InstalledSet) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    return {name: (str(d.version), d.requires_dist, d.requires_python)
            for name, d in installed.items()}


def _site_packages(venv: Path) -> Path:
    found = list(venv.parent.parent.glob("lib/python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def test_the_listing_equals_pip_inspect(make_venv, clean_pip_env, tmp_path):
    venv = make_venv()
    out = tmp_path / "dists"
    wheels = [
        build_wheel(out, "Alpha.Beta_pkg", "1.0",
                    requires_dist=["gamma>=2", "delta; python_version < '3'"],
                    requires_python=">=3.8"),
        build_wheel(out, "gamma", "2.1"),
        build_wheel(out, "argparse", "1.4.0"),  # pip skips it (stdlib_pkgs)
    ]
    run_pip(["install", "--no-deps", "--no-index", *map(str, wheels)], clean_pip_env,
            python=venv)
    # a second gamma earlier on sys.path (PYTHONPATH) shadows the venv's, as in pip
    early = tmp_path / "early"
    run_pip(["install", "--no-deps", "--no-index", "--target", str(early),
             str(build_wheel(out, "gamma", "3.0"))], clean_pip_env)
    # a leftover of an interrupted install, which pip ignores
    leftover = _site_packages(venv) / "~lpha-0.1.dist-info"
    leftover.mkdir()
    (leftover / "METADATA").write_text("Metadata-Version: 2.1\nName: lpha\nVersion: 0.1\n")
    env = dict(clean_pip_env, PYTHONPATH=str(early))

    listing = PendingListing(str(venv), env)
    items = listing.result()
    assert items is not None, listing.reason  # answered without pip
    installed = InstalledSet(str(venv), user=False, environ=env)
    expected = pip_inspect(venv, env)
    assert ours(installed) == expected
    assert expected["gamma"][0] == "3.0" and "argparse" not in expected
    assert expected["alpha-beta-pkg"] == ("1.0", ("gamma>=2", "delta; python_version < '3'"),
                                          ">=3.8")


def test_a_legacy_install_is_left_to_pip(make_venv, clean_pip_env, tmp_path):
    venv = make_venv()
    out = tmp_path / "dists"
    run_pip(["install", "--no-deps", "--no-index", str(build_wheel(out, "gamma", "2.1"))],
            clean_pip_env, python=venv)
    project = tmp_path / "legacy"
    egg_info = project / "legacy.egg-info"
    egg_info.mkdir(parents=True)
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 0.3\n")
    (_site_packages(venv) / "legacy.egg-link").write_text(f"{project}\n.\n")

    listing = PendingListing(str(venv), clean_pip_env)
    assert listing.result() is None and "legacy" in str(listing.reason)
    installed = InstalledSet(str(venv), user=False, environ=clean_pip_env)
    expected = pip_inspect(venv, clean_pip_env)
    assert ours(installed) == expected
    assert expected["legacy"][0] == "0.3"  # pip's legacy editable, found through pip


def test_an_interpreter_that_cannot_run_is_reported_by_pip(clean_pip_env, tmp_path):
    missing = tmp_path / "nothing"
    installed = InstalledSet(str(missing), user=False, environ=clean_pip_env)
    with pytest.raises(UsageError, match=f"cannot list what is installed in {missing}"):
        dict(installed)


def test_egg_info_directories_are_read_unless_they_list_requirements(make_venv, clean_pip_env,
                                                                    tmp_path):
    venv = make_venv()
    egg_info = _site_packages(venv) / "plain_old-2.0-py3.11.egg-info"
    egg_info.mkdir()
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: plain-old\nVersion: 2.0\n")
    listing = PendingListing(str(venv), clean_pip_env)
    assert listing.result() is not None, listing.reason
    installed = InstalledSet(str(venv), user=False, environ=clean_pip_env)
    assert ours(installed) == pip_inspect(venv, clean_pip_env)
    assert ours(installed)["plain-old"][0] == "2.0"
    # requires.txt: pip converts it to Requires-Dist in its own way, so pip is asked
    (egg_info / "requires.txt").write_text("gamma>=1\n\n[test]\npytest\n")
    listing = PendingListing(str(venv), clean_pip_env)
    assert listing.result() is None and "requires.txt" in str(listing.reason)
    installed = InstalledSet(str(venv), user=False, environ=clean_pip_env)
    assert ours(installed) == pip_inspect(venv, clean_pip_env)
    assert ours(installed)["plain-old"][1][0].startswith("gamma>=1")
