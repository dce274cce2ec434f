"""The orchestration (safeinstall.checker.run_check), end to end through the command line."""

from __future__ import annotations

from clihelp import run_cli
from support.artifacts import build_wheel

DEPS = [f"dep{i}" for i in range(9)]


def test_the_notes_of_the_listings_come_in_the_order_of_the_resolution(
        local_index, clean_pip_env, tmp_path, t0):
    """Each listing's notes (here: the [index-for] pin of every project) are reported in the
    order of the resolved packages, the same every run (they were collected from a set, in
    an order that changed with the interpreter's string hashing)."""
    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "app", "1.0", requires_dist=DEPS), upload_time=t0)
    for dep in DEPS:
        local_index.add(build_wheel(out, dep, "1.0"), upload_time=t0)
    pins = [arg for name in ["app", *DEPS] for arg in ("--index-for",
                                                        f"{name}={local_index.url}")]
    run = run_cli(["-i", local_index.url, "--dry-run", "--ignore-installed", *pins, "app"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.report is not None
    pinned = [n.split(" ", 1)[0] for n in run.report["notes"] if " is pinned to " in n]
    assert pinned == [p["name"] for p in run.report["packages"]]
    assert sorted(pinned) == sorted(["app", *DEPS])
