"""The hermetic subset of the corpus parity check: corpus-like requirement files (relative -c,
markers, a yanked pin, old multi-tag wheels, sdists, extras on dependencies, a hashed lock)
against the local index, compared with pip's own selection."""

from __future__ import annotations

import shutil
from pathlib import Path

from clihelp import run_cli
from support.piprun import pip_dry_run_report
from test_parity_local import ours, pips

DATA = Path(__file__).parent / "data" / "corpus"


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "corpus"
    shutil.copytree(DATA, dest)
    return dest


def test_corpus_like_lock_matches_pip(scenario, local_index, clean_pip_env, tmp_path):
    scenario("corpus_traits")
    corpus = _copy(tmp_path)
    args = ["-i", local_index.url, "-r", str(corpus / "app-requirements.txt")]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    selected = ours(run)
    assert selected == pips(pip_dry_run_report(args, clean_pip_env))
    names = {n for n, _, _ in selected}
    assert "spacyish" in names and "brotliish" in names and "brotlicffiish" not in names
    assert ("netlib", "2.0", "netlib-2.0-py3-none-any.whl") in selected  # the -c narrowed it
    assert run.package("brotliish")["filename"].endswith(".whl")  # the native wheel wins ...
    assert run.package("brotliish")["lateness_seconds"] == 1800  # ... 30 minutes late: fine


def test_corpus_like_hashed_lock_matches_pip(scenario, local_index, clean_pip_env, tmp_path):
    files = scenario("corpus_traits")
    by_name = {f.filename: f for f in files.values()}
    lock = tmp_path / "lock.txt"
    pins = {"webapp": "1.0", "pydanticish": "1.6.2", "brotliish": "1.1.0", "netlib": "3.0",
            "sockslib": "1.0"}
    lines = []
    for name, version in pins.items():
        hashes = [f.sha256 for f in by_name.values() if f.project == name and f.version == version]
        lines.append(f"{name}=={version} " + " ".join(f"--hash=sha256:{h}" for h in hashes))
    lock.write_text("\n".join(lines) + "\n")
    args = ["-i", local_index.url, "-r", str(lock)]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ours(run) == pips(pip_dry_run_report(args, clean_pip_env))
    assert all(p["trusted_hashes"] for p in run.report["packages"] if not p["build_time"])
