"""The look-ahead's dependency hints: an earlier run's tree is fetched at once, and a stale hint
costs a page fetch but decides nothing and builds nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from clihelp import run_cli
from support.artifacts import build_sdist, build_wheel
from support.faults import Fault, FaultServer
from support.inbackend import BUILD_MARKER_ENV


def _hints(cache: Path) -> dict[str, list[list[str]]]:
    files = list((cache / "dependency-hints").glob("*.json"))
    assert len(files) == 1, files
    projects: dict[str, list[list[str]]] = json.loads(files[0].read_text())["projects"]
    return projects


def _position(faulty: FaultServer, path: str) -> int:
    paths = [s.path for s in faulty.seen]
    assert path in paths, paths
    return paths.index(path)


def test_hinted_dependencies_are_fetched_before_their_parents_metadata(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    for name, requires in (("app", ["dep>=1"]), ("dep", ["leaf"]), ("leaf", [])):
        local_index.add(build_wheel(out, name, "1.0", requires_dist=requires), upload_time=t0,
                        advertise_metadata=True)
    # the sdist of a project no release depends on (its metadata needs a build)
    local_index.add(build_sdist(out, "ghost", "1.0", static_metadata=False), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    dep_meta = "/files/dep-1.0-py3-none-any.whl.metadata"
    with FaultServer(local_index) as faulty:
        args = ["-i", faulty.url, "--dry-run", "app"]
        # dep's page answers late: without hints, leaf is known only from dep's metadata
        faulty.add(Fault(r"/simple/dep/$", "hang", seconds=1, times=1))
        first = run_cli(args, dict(env, SAFE_INSTALL_CACHE_DIR=str(tmp_path / "c1")), tmp_path)
        assert first.code == 0, first.stderr
        assert {p["name"] for p in first.report["packages"]} == {"app", "dep", "leaf"}
        assert _position(faulty, "/simple/leaf/") > _position(faulty, dep_meta)
        assert _hints(tmp_path / "c1") == {"app": [["dep", ">=1"]], "dep": [["leaf", ""]],
                                           "leaf": []}

        # a new cache with only the hints (so metadata is fetched again), plus a stale one
        second_cache = tmp_path / "c2"
        shutil.copytree(tmp_path / "c1" / "dependency-hints", second_cache / "dependency-hints")
        hints_file = next((second_cache / "dependency-hints").glob("*.json"))
        data = json.loads(hints_file.read_text())
        data["projects"]["app"].append(["ghost", ""])
        hints_file.write_text(json.dumps(data))
        faulty.clear()
        faulty.add(Fault(r"/simple/dep/$", "hang", seconds=1, times=1))
        second = run_cli(args, dict(env, SAFE_INSTALL_CACHE_DIR=str(second_cache)), tmp_path)
    assert second.code == 0, second.stderr
    assert {p["name"] for p in second.report["packages"]} == {"app", "dep", "leaf"}
    # leaf's page was asked for while dep's page was still on its way
    assert _position(faulty, "/simple/leaf/") < _position(faulty, dep_meta)
    # the stale hint: its page was fetched, nothing of it was built or decided
    assert "/simple/ghost/" in [s.path for s in faulty.seen]
    assert not marker.exists(), "a hinted sdist was built"
    assert _hints(second_cache)["app"] == [["dep", ">=1"]]


def test_no_hints_without_a_cache(local_index, clean_pip_env, tmp_path, t0):
    local_index.add(build_wheel(tmp_path / "d", "app", "1.0"), upload_time=t0)
    cache = tmp_path / "c"
    run = run_cli(["-i", local_index.url, "--dry-run", "--no-cache-dir", "app"],
                  dict(clean_pip_env, SAFE_INSTALL_CACHE_DIR=str(cache)), tmp_path)
    assert run.code == 0, run.stderr
    assert not (cache / "dependency-hints").exists()
