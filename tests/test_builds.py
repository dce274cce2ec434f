"""Build environments get exactly the checked bytes (issue 14).

Every file a build environment receives (metadata builds during the check, and the final
build of an sdist) must have passed the checks and come from a local directory of checked
files: an index that changes its page after the check, or shows pip another page, must not
get an unchecked file into a build. Requirements a backend adds at build time
(``get_requires_for_build_wheel``) are checked before the wheel is built.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from clihelp import run_cli
from support.artifacts import build_sdist, build_wheel
from support.inbackend import BUILD_MARKER_ENV
from support.piprun import pip_list
from support.scenarios import foreign_tag, native_tag


def _sentinel_pth(sentinel: Path) -> dict[str, bytes]:
    """A ``.pth`` file that, once installed on a path Python reads, appends to ``sentinel``."""
    line = f"import pathlib; pathlib.Path({str(sentinel)!r}).open('a').write('ran\\n')\n"
    return {"zz_sentinel.pth": line.encode()}


@pytest.mark.parametrize("hostility", ["page-changes-after-check", "other-page-for-pip"])
def test_build_environment_gets_only_the_checked_file(hostility, local_index, make_venv,
                                                      clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper>=1"]), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    sentinel = tmp_path / "sentinel"
    # the same version, a better tag for this interpreter, on time: pip would prefer it, but
    # safe-install never saw it
    hostile = build_wheel(out / "hostile", "helper", "1.0", tag=native_tag(),
                          extra_files=_sentinel_pth(sentinel))
    if hostility == "page-changes-after-check":
        local_index.add(hostile, upload_time=t0, listed_after_fetches=1)
    else:
        local_index.add(hostile, upload_time=t0, only_for_agent="pip/")
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert not sentinel.exists(), "an unchecked build dependency ran in a build environment"
    assert hostile.name not in local_index.downloaded()
    assert run.code == 0, run.stderr
    assert run.package("helper")["filename"] == "helper-1.0-py3-none-any.whl"
    assert run.package("helper")["build_time"] is True
    assert "build_wheel" in marker.read_text().split()
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_pip_reaches_no_index_for_build_dependencies(local_index, make_venv, clean_pip_env,
                                                     tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper>=1"]), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    # one fetch of each page (safe-install's own), whatever pip built afterwards
    assert local_index.requests.count("/simple/helper/") == 1
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_late_dynamic_build_requirement_is_refused_before_the_wheel_build(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                dynamic_build_requires=["dynhelper>=1"]), upload_time=t0)
    # dynhelper 1.0 began with a wheel for another platform; the one for us came 30 days later
    local_index.add(build_wheel(out, "dynhelper", "1.0", tag=foreign_tag()), upload_time=t0)
    local_index.add(build_wheel(out, "dynhelper", "1.0"), upload_time=t0 + timedelta(days=30))
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 1, run.stderr
    assert "dynhelper" in run.stderr and "late" in run.stderr
    assert "build of demo" in run.stderr
    hooks = marker.read_text().split()
    assert hooks == ["get_requires_for_build_wheel"], hooks  # asked, never built
    assert pip_list(venv, clean_pip_env) == {}


def test_dynamic_build_requirement_is_checked_and_given_to_the_build(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper"],
                                dynamic_build_requires=["dynhelper>=1"]), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "dynhelper", "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    dyn = run.package("dynhelper")
    assert dyn["build_time"] is True and dyn["required_by"] == ["build of demo"]
    assert "build_wheel" in marker.read_text().split()
    assert local_index.requests.count("/simple/dynhelper/") == 1
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_no_build_isolation_installs_nothing_for_the_build(local_index, make_venv,
                                                           clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    # its build requirement is on no index: with --no-build-isolation, pip takes the build
    # requirements from the target environment and installs nothing for the build
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper"]), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--no-build-isolation",
                   "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert [p["name"] for p in run.report["packages"]] == ["demo"]
    assert "/simple/helper/" not in local_index.requests
    assert "build_wheel" in marker.read_text().split()
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_runtime_hash_pins_do_not_apply_to_the_build_resolution(local_index, make_venv,
                                                               clean_pip_env, tmp_path, t0):
    """pip's rule (the zxcvbn + setuptools repro): a hashed runtime pin of a project does not
    constrain the build environment, which takes the newest version that fits; the check
    follows it, and build files are still checked for lateness."""
    out = tmp_path / "dists"
    demo = local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                       build_requires=["helper>=1"]), upload_time=t0)
    old = local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "2.0"), upload_time=t0 + timedelta(days=40))
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"demo==1.0 --hash=sha256:{demo.sha256}\n"
                    f"helper==1.0 --hash=sha256:{old.sha256}\n")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(reqs)],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    builds = [p for p in run.report["packages"] if p["build_time"]]
    assert [(p["name"], p["version"]) for p in builds] == [("helper", "2.0")]
    assert ("untrusted-hash", "warning") in [(f["kind"], f["severity"])
                                             for f in builds[0]["findings"]]
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "helper": "1.0"}
    # on request, the build takes the pinned (hashed) version, which satisfies its requirement
    venv2 = make_venv("venv2")
    run = run_cli(["--python", str(venv2), "-i", local_index.url, "-r", str(reqs),
                   "--build-with-pins"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    builds = [p for p in run.report["packages"] if p["build_time"]]
    assert [(p["name"], p["version"]) for p in builds] == [("helper", "1.0")]
    assert builds[0]["trusted_hashes"] == [old.sha256]
    assert not [f for f in builds[0]["findings"] if f["kind"] == "untrusted-hash"]
    assert pip_list(venv2, clean_pip_env) == {"demo": "1.0", "helper": "1.0"}


def test_build_constraint_hashes_pin_the_build_files(local_index, make_venv, clean_pip_env,
                                                     tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper>=1"]), upload_time=t0)
    old = local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "2.0"), upload_time=t0)
    bc = tmp_path / "build-constraints.txt"
    bc.write_text(f"helper==1.0 --hash=sha256:{'0' * 64}\n")
    venv = make_venv()
    args = ["--python", str(venv), "-i", local_index.url, "--build-constraint", str(bc), "demo"]
    run = run_cli(args, clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert "hash-mismatch" in run.stderr and "helper" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}
    bc.write_text(f"helper==1.0 --hash=sha256:{old.sha256}\n")
    run = run_cli(args, clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    helper = run.package("helper")
    assert helper["version"] == "1.0" and helper["build_time"] is True
    assert helper["trusted_hashes"] == [old.sha256]
    assert not [f for f in helper["findings"] if f["kind"] == "untrusted-hash"]
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}


def test_lock_with_an_sdist_records_its_checked_build_files_apart(local_index, make_venv,
                                                                 clean_pip_env, tmp_path, t0):
    import json
    import sys

    from lockhelp import run_tool
    from support.piprun import run_pip

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    out = tmp_path / "dists"
    demo = local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                       requires_dist=["dep"], build_requires=["helper>=1"]),
                           upload_time=t0)
    dep = local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    helper = local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    work = tmp_path / "work"
    work.mkdir()
    run = run_tool(["lock", "-i", local_index.url, "demo", "--report", "report.json"],
                   clean_pip_env, tmp_path, cwd=work)
    assert run.code == 0, run.stderr
    lock_text = (work / "requirements.lock").read_text()
    assert demo.sha256 in lock_text and dep.sha256 in lock_text
    assert helper.sha256 not in lock_text  # never installed: not in the requirements lock
    assert "--build-constraint build-constraints.txt" in lock_text
    bc = (work / "build-constraints.txt").read_text()
    assert f"helper==1.0 \\\n    --hash=sha256:{helper.sha256}" in bc
    pylock = tomllib.loads((work / "pylock.toml").read_text())
    assert {p["name"] for p in pylock["packages"]} == {"demo", "dep"}
    builds = pylock["tool"]["safe-install"]["build-packages"]
    assert [(b["name"], b["version"], b["files"][0]["hashes"]["sha256"]) for b in builds] == \
        [("helper", "1.0", helper.sha256)]
    report = json.loads((work / "report.json").read_text())
    assert [b["name"] for b in report["build_packages"]] == ["helper"]

    # the index now shows pip a better wheel of helper 1.0 that was never checked
    sentinel = tmp_path / "sentinel"
    local_index.add(build_wheel(out / "hostile", "helper", "1.0", tag=native_tag(),
                                extra_files=_sentinel_pth(sentinel)),
                    upload_time=t0, only_for_agent="pip/")
    venv = make_venv()
    run_pip(["install", "--require-hashes", "-i", local_index.url, "-r",
             str(work / "requirements.lock"), "--build-constraint",
             str(work / "build-constraints.txt")], clean_pip_env, python=venv)
    assert not sentinel.exists(), "plain pip built the locked sdist with an unchecked file"
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}
    # safe-install takes the same two files
    venv2 = make_venv("venv2")
    run2 = run_cli(["--python", str(venv2), "-i", local_index.url, "-r",
                    str(work / "requirements.lock"), "--build-constraint",
                    str(work / "build-constraints.txt")], clean_pip_env, tmp_path)
    assert run2.code == 0, run2.stderr
    assert run2.package("helper")["trusted_hashes"] == [helper.sha256]
    assert not sentinel.exists()
    assert pip_list(venv2, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def _sdist_with_backend(out: Path, name: str, version: str, backend: str) -> Path:
    """An sdist of ``name`` ``version`` built by ``backend`` (the source of its in-tree
    build backend module), with no build requirements."""
    from support.inbackend import dist_stem, write_sdist_from_tree

    tree = out / f"tree-{name}"
    tree.mkdir(parents=True)
    (tree / "PKG-INFO").write_text(f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\n"
                                   "Dynamic: Requires-Dist\n\n")
    (tree / "pyproject.toml").write_text('[build-system]\nrequires = []\n'
                                         'build-backend = "broken"\nbackend-path = ["."]\n')
    (tree / "broken.py").write_text(backend)
    return write_sdist_from_tree(tree, out, dist_stem(name, version))


def _unbuildable_sdist(out: Path, name: str, version: str) -> Path:
    """An sdist whose backend lists no build requirements but cannot build (as PyYAML 6.0
    on a newer Python)."""
    return _sdist_with_backend(
        out, name, version,
        "def get_requires_for_build_wheel(config_settings=None):\n    return []\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    import sys\n"
        "    sys.stderr.write('this project does not build on this Python\\n')\n"
        "    raise SystemExit(1)\n"
        "build_wheel = prepare_metadata_for_build_wheel\n")


def test_failed_build_after_a_late_wheel_was_left_out_names_that_wheel(local_index, tmp_path,
                                                                       t0, clean_pip_env):
    from lockhelp import run_tool

    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "yamlish", "6.0", tag=foreign_tag()), upload_time=t0)
    local_index.add(_unbuildable_sdist(out, "yamlish", "6.0"), upload_time=t0)
    late = local_index.add(build_wheel(out, "yamlish", "6.0"),
                           upload_time=t0 + timedelta(days=30))
    work = tmp_path / "work"
    work.mkdir()
    run = run_tool(["lock", "-i", local_index.url, "yamlish==6.0"], clean_pip_env, tmp_path,
                   cwd=work)
    assert run.code == 2, run.stderr
    assert "does not build on this Python" in run.stderr
    assert late.filename in run.stderr and "left out" in run.stderr
    assert "--allow-late 'yamlish==6.0'" in run.stderr
    assert not (work / "requirements.lock").exists()


def test_metadata_is_prepared_in_the_environment_made_to_ask_the_backend(
        local_index, clean_pip_env, tmp_path, t0):
    """The checked environment made to ask the backend for its build requirements (exactly the
    checked files) also serves the metadata build: the backend is asked once, and pip does not
    install the same files again in an environment of its own. A backend that needs more
    than that environment holds gets the pip build with the checked files (as before)."""
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                requires_dist=["dep"], build_requires=["helper>=1"]),
                    upload_time=t0)
    local_index.add(build_sdist(out, "more", "1.0", static_metadata=False,
                                build_requires=["helper>=1"],
                                dynamic_build_requires=["dynhelper"]), upload_time=t0)
    for name in ("helper", "dep", "dynhelper"):
        local_index.add(build_wheel(out, name, "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    run = run_cli(["-i", local_index.url, "--dry-run", "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["metadata_source"] == "build"
    assert run.package("dep")["version"] == "1.0"  # what the build says demo needs
    assert run.package("helper")["required_by"] == ["build of demo"]
    assert marker.read_text().split() == ["get_requires_for_build_wheel",
                                          "prepare_metadata_for_build_wheel"]
    marker.unlink()
    run = run_cli(["-i", local_index.url, "--dry-run", "more"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("dynhelper")["required_by"] == ["build of more"]
    # asked in the static environment, then built by pip with dynhelper checked and added
    assert marker.read_text().split() == ["get_requires_for_build_wheel",
                                          "get_requires_for_build_wheel",
                                          "prepare_metadata_for_build_wheel"]


def test_threads_that_wait_for_each_others_sdists_get_a_cycle_error_not_a_hang():
    """Sdists are checked by several threads, and a thread waits for another's sdist with the
    build lock released. Thread A checks a and waits for b; thread B checks b and its build
    needs a: B's wait would close the loop, so it is a build-dependency cycle error, and A's
    wait ends with B's failure."""
    import threading
    from concurrent.futures import Future
    from types import SimpleNamespace

    from safeinstall.builds import _wait_for_sdist
    from safeinstall.checkcontext import BuildLock
    from safeinstall.errors import ResolutionError

    def sdist(name: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, version="1.0", file=SimpleNamespace(
            url=f"https://x/{name}-1.0.tar.gz", filename=f"{name}-1.0.tar.gz"))

    a, b = sdist("a"), sdist("b")
    ctx = SimpleNamespace(build_lock=BuildLock(), _checking_sdists={}, _waiting_for={})
    fut_b: Future[object] = Future()
    waiting = threading.Event()
    outcome: list[object] = []

    def thread_a() -> None:
        me = threading.get_ident()
        with ctx.build_lock, ctx.build_lock:  # held twice, as when nested: released fully
            ctx._checking_sdists[a.file.url] = me
            waiting.set()
            _wait_for_sdist(ctx, b, fut_b, me)
            outcome.append(fut_b.exception())

    t = threading.Thread(target=thread_a)
    t.start()
    assert waiting.wait(10)
    me = threading.get_ident()
    with ctx.build_lock:  # free only once A waits (A registered its wait under the lock)
        assert ctx._waiting_for == {t.ident: b.file.url}
        ctx._checking_sdists[b.file.url] = me
        with pytest.raises(ResolutionError, match="needs itself to build"):
            _wait_for_sdist(ctx, a, Future(), me)
        fut_b.set_exception(ResolutionError("b failed"))
    t.join(10)
    assert not t.is_alive(), "thread A still waits"
    assert [str(e) for e in outcome] == ["b failed"]
    assert ctx._waiting_for == {}


def _hook_line(sentinel: Path) -> dict[str, bytes]:
    """A ``.pth`` file for a build dependency: each build that adds the environment holding it
    appends to ``sentinel`` whether it found a file an earlier build wrote into that
    environment (``dirty``) or not (``clean``), then writes that file itself."""
    line = ("import pathlib, helper; p = pathlib.Path(helper.__file__).parent.parent / "
            "'written-by-a-build'; pathlib.Path(" + repr(str(sentinel)) + ").open('a').write("
            "('dirty' if p.exists() else 'clean') + '\\n'); p.write_text('x')\n")
    return {"zz_pollute.pth": line.encode()}


def test_the_checked_build_files_are_installed_once_and_each_build_gets_a_fresh_copy(
        local_index, clean_pip_env, tmp_path, t0):
    """Three sdists whose build requirements (spelt differently) resolve to the same checked
    files: pip installs those files once in the run; each build runs in a copy of its own, so
    a backend that writes into its environment changes nothing another build sees."""
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "alpha", "1.0", static_metadata=False,
                                build_requires=["helper>=1"]), upload_time=t0)
    local_index.add(build_sdist(out, "beta", "1.0", static_metadata=False,
                                build_requires=["helper"]), upload_time=t0)
    # a third build gets a byte-compiled template
    local_index.add(build_sdist(out, "gamma", "1.0", static_metadata=False,
                                build_requires=["helper>=0.5"]), upload_time=t0)
    sentinel = tmp_path / "sentinel"
    local_index.add(build_wheel(out, "helper", "1.0", extra_files=_hook_line(sentinel)),
                    upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    run = run_cli(["-i", local_index.url, "--dry-run", "-v", "alpha", "beta", "gamma"], env,
                  tmp_path)
    assert run.code == 0, run.stderr
    for name in ("alpha", "beta", "gamma"):
        assert run.package(name)["metadata_source"] == "build"
    assert sorted(run.package("helper")["required_by"]) == [
        "build of alpha", "build of beta", "build of gamma"]
    installs = [line for line in run.stderr.splitlines()
                if "installing the checked build files" in line]
    assert len(installs) == 1, run.stderr
    assert "helper 1.0" in installs[0]
    # one process per build, both hooks in it, each in an environment nobody wrote into
    assert sorted(marker.read_text().split()) == sorted(
        ["get_requires_for_build_wheel", "prepare_metadata_for_build_wheel"] * 3)
    assert sentinel.read_text().split() == ["clean"] * 3


def _failing_sdist(out: Path, name: str, fails_in: str) -> Path:
    """An sdist whose backend fails in the hook ``fails_in``, after writing much output."""
    return _sdist_with_backend(
        out, name, "1.0",
        "import sys\n"
        "def _noise(hook):\n"
        "    sys.stdout.write(('chatter from ' + hook + '\\n') * 20000)\n"
        "    sys.stderr.write(('warning from ' + hook + '\\n') * 20000)\n"
        "def get_requires_for_build_wheel(config_settings=None):\n"
        "    _noise('get_requires')\n"
        f"    if {fails_in == 'get_requires_for_build_wheel'!r}:\n"
        "        sys.stderr.write('cannot list what it needs\\n')\n"
        "        raise SystemExit(3)\n"
        "    return []\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    _noise('prepare_metadata')\n"
        "    sys.stderr.write('this project does not build on this Python\\n')\n"
        "    raise SystemExit(1)\n"
        "build_wheel = prepare_metadata_for_build_wheel\n")


@pytest.mark.parametrize("fails_in", ["get_requires_for_build_wheel",
                                      "prepare_metadata_for_build_wheel"])
def test_a_failing_hook_fails_closed_with_its_own_message(fails_in, local_index, clean_pip_env,
                                                          tmp_path, t0):
    """Both hooks run in one process; a failure in either is the same refusal as when each
    ran in a process of its own: named, with the tail of that hook's own output."""
    out = tmp_path / "dists"
    local_index.add(_failing_sdist(out, "shaky", fails_in), upload_time=t0)
    run = run_cli(["-i", local_index.url, "--dry-run", "shaky"], clean_pip_env, tmp_path)
    assert run.code == 2, run.stderr  # an error (as before), not a refusal of a file
    assert "the build backend of shaky (broken)" in run.stderr
    if fails_in == "get_requires_for_build_wheel":
        assert "failed while listing its build requirements (get_requires_for_build_wheel)" \
            in run.stderr
        assert "cannot list what it needs" in run.stderr
        assert "prepare_metadata" not in run.stderr
    else:
        assert "could not prepare its metadata (prepare_metadata_for_build_wheel)" \
            in run.stderr
        assert "this project does not build on this Python" in run.stderr
        assert "warning from get_requires" not in run.stderr  # only this hook's output


def _backend_sdist(out: Path, name: str, get_requires_body: str) -> Path:
    """An sdist whose in-tree backend runs ``get_requires_body`` as its
    ``get_requires_for_build_wheel`` (and could prepare its metadata)."""
    body = "".join(f"    {line}\n" for line in get_requires_body.splitlines())
    return _sdist_with_backend(
        out, name, "1.0",
        "import os, subprocess, sys\n"
        f"def get_requires_for_build_wheel(config_settings=None):\n{body}"
        "    return []\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    raise SystemExit('never asked')\n")


@pytest.mark.parametrize("behaviour", ["ends-without-answering", "leaves-a-process-behind"])
def test_a_hook_process_that_does_not_answer_fails_closed_without_waiting(
        behaviour, local_index, clean_pip_env, tmp_path, t0):
    """The hook process ends (exit status 0) before writing its answer, or fails leaving a
    process of its own running that inherited every descriptor it could: the parent never
    waits for an answer that will not come, and the build is an error."""
    import time

    body = {"ends-without-answering": "os._exit(0)",
            "leaves-a-process-behind":
                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
                "                 close_fds=False, start_new_session=True)\n"
                "raise SystemExit(5)"}[behaviour]
    out = tmp_path / "dists"
    local_index.add(_backend_sdist(out, "odd", body), upload_time=t0)
    started = time.monotonic()
    run = run_cli(["-i", local_index.url, "--dry-run", "odd"], clean_pip_env, tmp_path)
    assert time.monotonic() - started < 30, "the check waited for the left-behind process"
    assert run.code == 2, run.stderr
    assert "failed while listing its build requirements (get_requires_for_build_wheel)" \
        in run.stderr
    assert "never asked" not in run.stderr


_PLANT = '''
import importlib.util, pathlib, py_compile, tempfile
import helper
site = pathlib.Path(helper.__file__).parent.parent
log = pathlib.Path(SENTINEL)
mark = site / "written-by-a-build"
log.open("a").write(("dirty" if mark.exists() else "clean") + "\\n")
if getattr(helper, "PLANTED", False):
    log.open("a").write("planted\\n")
mark.write_text("x")
# bytecode for helper that Python takes without looking at the source: a later build that
# got it would run this build's code on "import helper"
evil = pathlib.Path(tempfile.mkdtemp()) / "evil.py"
evil.write_text(pathlib.Path(helper.__file__).read_text() + "\\nPLANTED = True\\n")
py_compile.compile(str(evil), cfile=importlib.util.cache_from_source(helper.__file__),
                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
'''


def test_a_build_plants_nothing_in_the_environment_of_later_builds(clean_pip_env, tmp_path):
    """Builds in turn, in copies of one installation of the checked files: the first writes
    a file into its environment and plants bytecode for a module of it (valid, taken without
    looking at the source); the installation is byte-compiled for the later builds from the
    modules the first imported. Each later build finds its environment as installed: no
    file, and the module's code is the checked file's."""
    import hashlib

    from safeinstall.buildenv import BuildPin, SiteTemplates, materialize, prepare_build

    out = tmp_path / "dists"
    sentinel = tmp_path / "sentinel"
    wheel = build_wheel(out, "helper", "1.0", extra_files={
        "helper_plant.py": _PLANT.replace("SENTINEL", repr(str(sentinel))).encode(),
        "zz_plant.pth": b"import helper_plant\n"})
    pin = BuildPin("helper", "1.0", hashlib.sha256(wheel.read_bytes()).hexdigest(),
                   wheel.name, str(wheel))
    env = materialize(tmp_path / "env", [pin])
    templates = SiteTemplates()
    workdir = tmp_path / "work"
    workdir.mkdir()
    for name in ("alpha", "beta", "gamma"):
        sdist = build_sdist(out, name, "1.0", static_metadata=False)
        requires, metadata = prepare_build(
            owner=name, source=sdist, env=env, python=sys.executable, pip_python=None,
            environ=clean_pip_env, workdir=workdir, metadata_if=lambda reqs: True,
            templates=templates)
        assert requires == () and metadata is not None
        assert f"Name: {name}" in metadata.decode()
    assert templates.installs == 1
    assert sentinel.read_text().split() == ["clean"] * 3
    (entry,) = templates._entries.values()
    assert entry.compiled and "helper/__init__.py" in (entry.imported or ())


def test_a_dry_run_downloads_no_build_requirement_before_all_passed_their_checks(
        local_index, clean_pip_env, tmp_path, t0):
    """A dry run downloads the checked build requirements of an sdist it must build for its
    metadata together, once every one of them passed (issue 21): a late one among them
    refuses the build before any of their files is fetched. (An install starts downloading
    a file as soon as its metadata is read, for later use after the checks.)"""
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["aaahelper", "zzzhelper"]), upload_time=t0)
    # (metadata files: resolving reads them, not the wheels)
    ontime = build_wheel(out, "aaahelper", "1.0")
    local_index.add(ontime, upload_time=t0, advertise_metadata=True)
    # zzzhelper 1.0 began with a wheel for another platform; the one for us came 30 days later
    local_index.add(build_wheel(out, "zzzhelper", "1.0", tag=foreign_tag()), upload_time=t0,
                    advertise_metadata=True)
    late = build_wheel(out / "late", "zzzhelper", "1.0")
    local_index.add(late, upload_time=t0 + timedelta(days=30), advertise_metadata=True)
    run = run_cli(["--dry-run", "-i", local_index.url, "demo"], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert "zzzhelper" in run.stderr and "needed for the build of demo" in run.stderr
    assert late.name not in local_index.downloaded()
    assert ontime.name not in local_index.downloaded()
