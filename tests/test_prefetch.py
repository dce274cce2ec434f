"""The look-ahead's dependency hints: an earlier run's tree is fetched at once, and a stale hint
costs a page fetch but decides nothing and builds nothing; the pages fetched before the check
starts (PageWarmer)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

from clihelp import run_cli
from safeinstall.prefetch import DependencyHints, PageWarmer
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


# -- pages fetched before the check starts (PageWarmer) ------------------------------------------


class _Recorder:
    """A finder's ``project`` for the warmer: records each name, optionally waits on a gate."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.names: list[str] = []
        self.lock = threading.Lock()
        self.gate = gate
        self.expected: list[str] = []

    def expect(self, name: str, specifier: object) -> None:
        self.expected.append(f"{name}{specifier}")

    def project(self, name: str) -> None:
        with self.lock:
            self.names.append(name)
        if self.gate is not None:
            self.gate.wait(5)
        if name == "boom":
            raise RuntimeError("an error is the resolver's to meet")

    def settled(self, count: int) -> list[str]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.names) >= count:
                    return sorted(self.names)
            time.sleep(0.01)
        return sorted(self.names)


def test_page_warmer_fetches_the_hinted_tree_once(tmp_path):
    path = tmp_path / "hints.json"
    path.write_text(json.dumps({"version": 1, "projects": {
        "app": [["Dep", ">=1"], ["boom", ""]], "dep": [["leaf", ""]], "leaf": [["app", ""]]}}))
    seen = _Recorder()
    warmer = PageWarmer(seen.project, ["App", "app", "other"], DependencyHints(path))
    assert warmer.names == ("app", "other", "dep", "boom", "leaf")
    assert seen.settled(5) == ["app", "boom", "dep", "leaf", "other"]  # each once, errors too
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("safe-install-pages"))
    seen = _Recorder()
    PageWarmer(seen.project, ["app"], None)
    assert seen.settled(1) == ["app"]  # without hints, only the requirement itself


def test_page_warmer_starts_nothing_after_close():
    gate = threading.Event()
    seen = _Recorder(gate)
    warmer = PageWarmer(seen.project, [f"p{i}" for i in range(20)], None, max_workers=2)
    assert len(seen.settled(2)) == 2  # both workers are busy
    warmer.close()
    gate.set()
    time.sleep(0.2)
    assert len(seen.names) == 2


def test_start_page_fetches_takes_the_named_requirements_for_the_target(tmp_path):
    from safeinstall.models import UserRequirement
    from safeinstall.target import current_target
    from safeinstall.wiring import start_page_fetches

    texts = ["a>=1", "b; python_version < '3'", "c @ https://example.org/c-1.0.tar.gz",
             "not a requirement!!", "e; extra == 'x'", "f[x]; python_version >= '3'"]
    reqs = [UserRequirement(t, "test") for t in texts]
    reqs.append(UserRequirement("./g", "test", editable=True))
    seen = _Recorder()
    warmer = start_page_fetches(seen, reqs, current_target(), None, no_deps=False)  # type: ignore[arg-type]
    assert warmer.names == ("a", "f")
    assert seen.settled(2) == ["a", "f"]
    # the finder is told which versions they can select (it keeps only those in memory)
    assert seen.expected == ["a>=1", "f"]


def test_start_page_fetches_tells_the_finder_the_constraints_but_fetches_nothing_for_them(
        tmp_path):
    # a constraint bounds every candidate of its name: only its versions need to be kept
    # (issue 21: the constrained airflow set kept every version of 230 projects in memory)
    from safeinstall.models import UserRequirement
    from safeinstall.reqfile import RequirementLine
    from safeinstall.target import current_target
    from safeinstall.wiring import start_page_fetches

    lines = [RequirementLine(t, f"c.txt:{i}") for i, t in enumerate(
        ["k==1.0", "m<3; python_version < '3'", "u @ https://example.org/u-1.0.tar.gz",
         "x[extra]==1", "not a constraint!!", "n>=2; python_version >= '3'"], 1)]
    seen = _Recorder()
    warmer = start_page_fetches(seen, [UserRequirement("a", "test")],  # type: ignore[arg-type]
                                current_target(), None, no_deps=False, constraints=lines)
    assert warmer.names == ("a",)
    assert seen.settled(1) == ["a"]
    assert seen.expected == ["a", "k==1.0", "n>=2"]
