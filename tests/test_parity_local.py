"""Our selection equals pip's (`pip install --dry-run --report`, config neutralised) on the
local index, for each scenario and for pip's option variations that change the selection."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from clihelp import run_cli
from support.artifacts import build_sdist, build_wheel
from support.piprun import pip_dry_run_report


def ours(run) -> set[tuple[str, str, str]]:
    assert run.report is not None, run.stderr
    # build dependencies are checked and reported too, but pip's report does not list them
    return {(p["name"], p["version"], p["filename"]) for p in run.report["packages"]
            if not p["build_time"]}


def pips(report) -> set[tuple[str, str, str]]:
    return {(canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"],
             i["download_info"]["url"].rsplit("/", 1)[1]) for i in report["install"]}


@pytest.mark.parametrize("name,reqs,extra", [
    ("attack", ["demo==1.0"], []),
    ("attack", ["demo"], ["--no-binary", "demo"]),
    ("attack", ["demo"], ["--only-binary", ":all:"]),
    ("ontime", ["demo"], []),
    ("ontime", ["demo"], ["--no-deps"]),
    ("foreign_late", ["demo"], []),
    ("transitive_attack", ["app"], []),
])
def test_selection_matches_pip(scenario, local_index, clean_pip_env, tmp_path, name, reqs,
                               extra):
    scenario(name)
    args = ["-i", local_index.url, *extra, *reqs]
    run = run_cli(["--dry-run", "-I", "--on-late", "warn", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ours(run) == pips(pip_dry_run_report(args, clean_pip_env))


def test_prereleases_yanked_requires_python_and_prefer_binary_match_pip(
        local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    add = local_index.add
    add(build_wheel(out, "pkg", "1.0"), upload_time=t0)
    add(build_wheel(out, "pkg", "1.1"), upload_time=t0, yanked="broken")
    add(build_wheel(out, "pkg", "2.0b1"), upload_time=t0)
    add(build_wheel(out, "pkg", "1.2", tag="py3-none-any"), upload_time=t0,
        requires_python=">=3.99")
    add(build_sdist(out, "pkg", "1.3"), upload_time=t0)
    add(build_wheel(out, "pkg", "1.2.9"), upload_time=t0)
    cases = [
        ["pkg"],                     # newest final: the 1.3 sdist
        ["--prefer-binary", "pkg"],  # wheels first: 1.2.9 (1.2 excluded by Requires-Python)
        ["--pre", "pkg"],            # 2.0b1
        ["pkg==1.1"],                # pinned to a yanked-only version: pip takes it
        ["pkg<1.2"],                 # yanked 1.1 skipped: 1.0
        ["pkg>=2.0b1"],              # only pre-releases match: taken without --pre
        ["--only-binary", "pkg", "pkg"],
    ]
    for case in cases:
        args = ["-i", local_index.url, *case]
        run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
        assert run.code == 0, (case, run.stderr)
        assert ours(run) == pips(pip_dry_run_report(args, clean_pip_env)), case


def test_extras_and_markers_match_pip(local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    local_index.add(build_wheel(
        out, "top", "1.0", provides_extra=["x"],
        requires_dist=["a; extra == 'x'", "b; python_version < '3'", "c[y]>=1"]),
        upload_time=t0)
    local_index.add(build_wheel(out, "a", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "b", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "c", "1.0", provides_extra=["y"],
                                requires_dist=["d; extra == 'y'"]), upload_time=t0)
    local_index.add(build_wheel(out, "d", "1.0"), upload_time=t0)
    for case in (["top"], ["top[x]"]):
        args = ["-i", local_index.url, *case]
        run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
        assert run.code == 0, run.stderr
        assert ours(run) == pips(pip_dry_run_report(args, clean_pip_env)), case


def test_constraints_narrow_but_never_add(local_index, clean_pip_env, tmp_path, t0):
    out = tmp_path / "dists"
    for v in ("1.0", "2.0"):
        local_index.add(build_wheel(out, "lib", v), upload_time=t0)
    local_index.add(build_wheel(out, "other", "1.0"), upload_time=t0)
    cons = tmp_path / "constraints.txt"
    cons.write_text("lib<2\nother==1.0\n")
    args = ["-i", local_index.url, "-c", str(cons), "lib"]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ours(run) == pips(pip_dry_run_report(args, clean_pip_env)) == {
        ("lib", "1.0", "lib-1.0-py3-none-any.whl")}


def test_uploaded_prior_to_matches_pip(scenario, local_index, clean_pip_env, tmp_path, t0):
    """pip's absolute cut-off drops the late wheel file by file; we do exactly the same."""
    from datetime import timedelta

    files = scenario("attack")
    cutoff = (t0 + timedelta(days=1)).isoformat()
    args = ["-i", local_index.url, "--uploaded-prior-to", cutoff, "demo==1.0"]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ours(run) == pips(pip_dry_run_report(args, clean_pip_env)) == {
        ("demo", "1.0", files["pure"].filename)}
    passed = dict((p["filename"], p["reason"]) for p in run.package("demo")["passed_over"])
    assert "not prior to" in passed[files["native"].filename]
