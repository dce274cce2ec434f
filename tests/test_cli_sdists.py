"""No code from an artifact runs before its checks pass (sdists and their build backends)."""

from __future__ import annotations

from datetime import timedelta

from clihelp import run_cli
from support.artifacts import build_sdist, build_wheel
from support.inbackend import BUILD_MARKER_ENV
from support.piprun import pip_list
from support.scenarios import native_tag


def test_late_sdist_is_refused_before_it_is_built(local_index, make_venv, clean_pip_env,
                                                  tmp_path, t0):
    out = tmp_path / "dists"
    # the release began with a wheel for another platform; the sdist came 90 days later
    local_index.add(build_wheel(out, "demo", "1.0", tag="cp311-cp311-win_amd64"), upload_time=t0)
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                requires_dist=["dep"]), upload_time=t0 + timedelta(days=90))
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 1
    assert "refused before it is built" in run.stderr
    assert not marker.exists(), "the sdist's build backend ran before its checks"
    assert run.report["packages"][0]["filename"] == "demo-1.0.tar.gz"
    assert pip_list(venv, clean_pip_env) == {}


def test_checked_dynamic_sdist_is_built_then_installed(local_index, make_venv, clean_pip_env,
                                                       tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                requires_dist=["dep"]), upload_time=t0)
    local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["metadata_source"] == "build"
    assert "prepare_metadata_for_build_wheel" in marker.read_text()
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_sdist_metadata_builds_run_in_parallel_and_are_reused_by_a_later_run(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    # two dynamic sdists (each needs a build) and a dependency that only a build reveals
    local_index.add(build_sdist(out, "alpha", "1.0", static_metadata=False,
                                requires_dist=["dep"]), upload_time=t0)
    local_index.add(build_sdist(out, "beta", "2.0", static_metadata=False), upload_time=t0)
    local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    args = ["-i", local_index.url, "--dry-run", "alpha", "beta"]
    first = run_cli(args, env, tmp_path)
    assert first.code == 0, first.stderr
    assert {p["name"] for p in first.report["packages"]} == {"alpha", "beta", "dep"}
    assert first.package("alpha")["metadata_source"] == "build"
    assert first.package("beta")["metadata_source"] == "build"
    builds = marker.read_text().count("prepare_metadata_for_build_wheel")
    assert builds == 2
    # same sdist bytes, same target: the metadata comes from the cache, nothing is built
    second = run_cli(args, env, tmp_path)
    assert second.code == 0, second.stderr
    assert {p["name"] for p in second.report["packages"]} == {"alpha", "beta", "dep"}
    assert second.package("alpha")["metadata_source"] == "build (cached)"
    assert marker.read_text().count("prepare_metadata_for_build_wheel") == builds
    # another cache: built again
    third = run_cli(args, dict(env, SAFE_INSTALL_CACHE_DIR=str(tmp_path / "other")), tmp_path)
    assert third.code == 0, third.stderr
    assert third.package("beta")["metadata_source"] == "build"
    assert marker.read_text().count("prepare_metadata_for_build_wheel") == builds + 2


def test_static_sdist_metadata_is_read_without_building(local_index, make_venv, clean_pip_env,
                                                        tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=True,
                                requires_dist=["dep"]), upload_time=t0)
    local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"], env,
                  tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["metadata_source"] == "sdist-pkg-info"
    assert {p["name"] for p in run.report["packages"]} == {"demo", "dep"}
    assert not marker.exists()


def test_local_project_is_reported_as_unverifiable_but_allowed(local_index, make_venv,
                                                               clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    sdist = build_sdist(out, "mine", "0.1", requires_dist=["dep"])
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, str(sdist)], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    assert ("unverifiable-source", "info") in run.kinds("mine")
    assert pip_list(venv, clean_pip_env) == {"mine": "0.1", "dep": "1.0"}


def test_remote_url_requirement_is_refused_before_fetching(local_index, make_venv,
                                                           clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    f = local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    venv = make_venv()
    url = f.url.replace("127.0.0.1", "localhost")
    run = run_cli(["--python", str(venv), "-i", local_index.url, f"dep @ {url}"],
                  clean_pip_env, tmp_path)
    assert run.code == 1
    assert "direct URL requirement" in run.stderr and "--on-unverifiable warn" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


def test_a_sha256_fragment_on_a_direct_url_is_a_trusted_hash_as_in_pip(local_index, make_venv,
                                                                       clean_pip_env, tmp_path,
                                                                       t0):
    out = tmp_path / "dists"
    f = local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url,
                   f"dep @ {f.url}#sha256={'0' * 64}"], clean_pip_env, tmp_path)
    assert run.code == 3 and "not among the --hash values" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}
    run = run_cli(["--python", str(venv), "-i", local_index.url, f"dep @ {f.url}#sha256=abc"],
                  clean_pip_env, tmp_path)
    assert run.code == 2 and "malformed #sha256= fragment" in run.stderr
    run = run_cli(["--python", str(venv), "-i", local_index.url,
                   f"dep @ {f.url}#sha256={f.sha256}"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("unverifiable-source", "info") in run.kinds("dep")
    assert "pinned by the hash you gave" in run.package("dep")["findings"][0]["message"]
    assert pip_list(venv, clean_pip_env) == {"dep": "1.0"}


def test_direct_url_hash_is_verified_before_use(local_index, make_venv, clean_pip_env,
                                                tmp_path, t0):
    out = tmp_path / "dists"
    f = local_index.add(build_wheel(out, "dep", "1.0"), upload_time=t0)
    venv = make_venv()
    req = tmp_path / "reqs.txt"
    req.write_text(f"dep @ {f.url} --hash=sha256:{'0' * 64}\n")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(req)],
                  clean_pip_env, tmp_path)
    assert run.code == 3 and "not among the --hash values" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}
    req.write_text(f"dep @ {f.url} --hash=sha256:{f.sha256}\n")
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-r", str(req)],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("unverifiable-source", "info") in run.kinds("dep")
    assert pip_list(venv, clean_pip_env) == {"dep": "1.0"}


def test_build_dependencies_are_resolved_and_checked_first(local_index, make_venv,
                                                           clean_pip_env, tmp_path, t0):
    """An sdist's [build-system] requires go through the same checks; a late one refuses."""
    from datetime import timedelta

    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0", static_metadata=False,
                                build_requires=["helper>=1"]), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    marker = tmp_path / "marker"
    env = dict(clean_pip_env, **{BUILD_MARKER_ENV: str(marker)})
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    helper = run.package("helper")
    assert helper["build_time"] is True and helper["required_by"] == ["build of demo"]
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}  # build deps are not installed
    # now a late, more specific wheel of the build dependency appears
    local_index.add(build_wheel(out, "helper", "1.0", tag=native_tag(), payload="evil"),
                    upload_time=t0 + timedelta(days=30))
    venv2 = make_venv("venv2")
    marker.unlink(missing_ok=True)
    run = run_cli(["--python", str(venv2), "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 1
    assert "helper" in run.stderr and "late" in run.stderr
    assert not marker.exists(), "the sdist was built with an unchecked build dependency"
    assert pip_list(venv2, clean_pip_env) == {}


_RENDEZVOUS = '''
import os, pathlib, time
import inbackend
from inbackend import (build_sdist, build_wheel, get_requires_for_build_sdist,
                       prepare_metadata_for_build_wheel)

def get_requires_for_build_wheel(config_settings=None):
    here = pathlib.Path(os.environ["SAFE_INSTALL_TEST_RENDEZVOUS"])
    me = inbackend._dist()["name"]
    if (here / (me + ".arrived")).exists():  # asked again (by pip's build): already met
        return inbackend.get_requires_for_build_wheel(config_settings)
    (here / (me + ".arrived")).write_text("")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(list(here.glob("*.arrived"))) < 2:
        time.sleep(0.05)
    (here / (me + ".saw")).write_text(str(len(list(here.glob("*.arrived")))))
    return inbackend.get_requires_for_build_wheel(config_settings)
'''


def _rendezvous_sdist(out, name: str) -> object:
    """A dynamic sdist (build requirement: helper) whose backend's get_requires hook waits up
    to 20 s for the other such sdist's hook to start, and records how many it saw."""
    import tarfile
    import tempfile
    from pathlib import Path

    from support.inbackend import dist_stem, write_sdist_from_tree

    plain = build_sdist(out / "plain", name, "1.0", static_metadata=False,
                        build_requires=["helper"])
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(plain) as tf:
        tf.extractall(tmp, filter="data")
        tree = Path(tmp) / dist_stem(name, "1.0")
        (tree / "rendezvous.py").write_text(_RENDEZVOUS)
        pyproject = tree / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace('build-backend = "inbackend"',
                                                           'build-backend = "rendezvous"'))
        return write_sdist_from_tree(tree, out, dist_stem(name, "1.0"))


def test_sdists_prepare_their_build_environments_in_parallel(local_index, clean_pip_env,
                                                             tmp_path, t0):
    """Preparing one sdist's build (installing its checked build files, asking its backend)
    does not wait for another's: both backends' get_requires hooks run at the same time."""
    out = tmp_path / "dists"
    local_index.add(_rendezvous_sdist(out, "alpha"), upload_time=t0)
    local_index.add(_rendezvous_sdist(out, "beta"), upload_time=t0)
    local_index.add(build_wheel(out, "helper", "1.0"), upload_time=t0)
    here = tmp_path / "rendezvous"
    here.mkdir()
    env = dict(clean_pip_env, SAFE_INSTALL_TEST_RENDEZVOUS=str(here))
    run = run_cli(["-i", local_index.url, "--dry-run", "alpha", "beta"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("alpha")["metadata_source"] == "build"
    assert run.package("beta")["metadata_source"] == "build"
    # (in the same order in every run, whichever build finished first)
    assert run.package("helper")["required_by"] == ["build of alpha", "build of beta"]
    saw = {p.name: p.read_text() for p in here.glob("*.saw")}
    assert saw == {"alpha.saw": "2", "beta.saw": "2"}, \
        f"one sdist's build preparation waited for the other's: {saw}"
