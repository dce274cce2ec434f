#!/usr/bin/env python3
"""Deterministic scale measurements of the ``--no-deps`` dry run of a lock of N pins (issue 21).

Wall-clock times are noisy on a shared machine; this script reports what is not: the call
counts of the resolver's hot functions (cProfile), the CPU time and the peak RSS of the run,
and the JSON report, so that two versions of the code can be compared for selection parity.

    .venv/bin/python benchmarks/scale_profile.py locks               # build the locks (once)
    .venv/bin/python benchmarks/scale_profile.py run --label after   # this checkout's src/
    .venv/bin/python benchmarks/scale_profile.py run --label before --src /path/to/old/src
    .venv/bin/python benchmarks/scale_profile.py compare before after

The locks are those of ``bench.py --scale`` (its ``build_locks``: the corpus's distinct
projects, highest version seen, nested random samples of 100, 300 and 1000, capped at what
exists), written to ``benchmarks/.work/scale/locks``. Every run uses one cache directory
(``.work/scale/cache``, primed by the first run: runs after it are warm) and a clean pip
environment (``bench.clean_env``). Per lock and label: a cProfile run (call counts, written
to ``.work/scale/<label>/lock-N.prof``; cProfile sees the main thread only, where the resolver
runs), then ``--repeat`` plain runs under ``/usr/bin/time``
(median user+system CPU and peak RSS), and the report of the last run.
"""

from __future__ import annotations

import argparse
import json
import pstats
import statistics
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402

SCALE = bench.WORK / "scale"
LOCKS = SCALE / "locks"
CACHE = SCALE / "cache"
REPO_SRC = HERE.parent / "src"

#: the functions whose call counts are reported (cProfile's file:function, matched on suffix)
COUNTED: dict[str, tuple[str | tuple[str, ...], str]] = {
    "get_preference": ("resolver.py", "get_preference"),
    "narrow_requirement_selection": ("resolver.py", "narrow_requirement_selection"),
    "_preference (cached)": ("resolver.py", "_preference"),
    "_compute_preference": ("resolver.py", "_compute_preference"),
    "is_satisfied_by": ("resolver.py", "is_satisfied_by"),
    "_satisfies": ("resolver.py", "_satisfies"),
    # (resolvelib's, or the override in safeinstall's resolver.py)
    "_is_current_pin_satisfying": (("resolution.py", "resolver.py"), "_is_current_pin_satisfying"),
    "SpecifierSet.contains": ("specifiers.py", "contains"),
}

WRAPPER = r"""
import cProfile, sys
src, prof = sys.argv[1], sys.argv[2]
sys.path.insert(0, src)
sys.argv = ["safe-install", *sys.argv[3:]]
from safeinstall.cli import main
from safeinstall.entry import tune_gc
tune_gc()
rc = 0
if prof:
    p = cProfile.Profile()
    p.enable()
    try:
        rc = main()
    finally:
        p.disable()
        p.dump_stats(prof)
else:
    rc = main()
sys.exit(rc)
"""


def lock_paths() -> list[Path]:
    return sorted(LOCKS.glob("lock-*.txt"), key=lambda p: int(p.stem.split("-")[1]))


def build(sizes: list[int]) -> None:
    venv_bin = HERE.parent / ".venv" / "bin"
    runner = types.SimpleNamespace(
        pip=str(venv_bin / "pip"), corpus=bench.DEFAULT_CORPUS,
        target={"python": ".".join(map(str, sys.version_info[:3]))})
    locks = bench.build_locks(runner, sizes, LOCKS)  # type: ignore[arg-type]
    for lk in locks:
        print(f"{lk['path']}: {lk['count']} pins")


def command(lock: Path, report: Path) -> list[str]:
    return ["--dry-run", "--no-deps", "-I", "-q", *bench.POLICY_ARGS, "--report", str(report),
            "-r", str(lock)]


def env() -> dict[str, str]:
    e = bench.clean_env(None)
    e["SAFE_INSTALL_CACHE_DIR"] = str(CACHE)
    e["XDG_CACHE_HOME"] = str(SCALE / "xdg-cache")
    e["XDG_DATA_HOME"] = str(SCALE / "xdg-data")
    return e


def timed(src: Path, lock: Path, report: Path) -> dict[str, float]:
    """One plain run under /usr/bin/time: CPU (user+system) and peak RSS of the process."""
    out = SCALE / "time.out"
    cmd = ["/usr/bin/time", "-o", str(out), "-f", "%U %S %M %e", sys.executable, "-c", WRAPPER,
           str(src), "", *command(lock, report)]
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True)
    if proc.returncode not in (0,):
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"run failed ({proc.returncode}): {' '.join(cmd)}")
    user, system, rss_kb, wall = out.read_text().split()[-4:]
    return {"cpu_s": float(user) + float(system), "maxrss_mb": int(rss_kb) / 1024,
            "wall_s": float(wall)}


def counts(prof: Path) -> dict[str, int]:
    stats: Any = pstats.Stats(str(prof)).stats
    out = dict.fromkeys(COUNTED, 0)
    total = 0
    for (filename, _line, func), (_cc, ncalls, _tt, _ct, _callers) in stats.items():
        total += ncalls
        for key, (fsuffix, fname) in COUNTED.items():
            if func == fname and filename.endswith(fsuffix):
                out[key] += ncalls
    out["all function calls"] = total
    return out


def run(label: str, src: Path, repeat: int) -> None:
    outdir = SCALE / label
    outdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"label": label, "src": str(src), "locks": {}}
    for lock in lock_paths():
        n = sum(1 for line in lock.read_text().splitlines() if line.strip())
        report = outdir / f"{lock.stem}.report.json"
        if not any(CACHE.glob("*")) or not (SCALE / f"primed-{lock.stem}").exists():
            print(f"{lock.name}: priming the cache (cold run)", flush=True)
            first = timed(src, lock, report)
            (SCALE / f"primed-{lock.stem}").write_text(json.dumps(first))
        prof = outdir / f"{lock.stem}.prof"
        subprocess.run([sys.executable, "-c", WRAPPER, str(src), str(prof),
                        *command(lock, report)], env=env(), check=True)
        runs = [timed(src, lock, report) for _ in range(repeat)]
        entry = {
            "pins": n,
            "counts": counts(prof),
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "maxrss_mb": statistics.median(r["maxrss_mb"] for r in runs),
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "runs": runs,
            "report": str(report),
        }
        results["locks"][lock.stem] = entry
        print(f"{lock.stem} ({n} pins): cpu {entry['cpu_s']:.2f} s, "
              f"peak RSS {entry['maxrss_mb']:.0f} MB, wall {entry['wall_s']:.2f} s; "
              + ", ".join(f"{k} {v}" for k, v in entry["counts"].items()), flush=True)
    (outdir / "results.json").write_text(json.dumps(results, indent=1))


def normalised(path: Path) -> Any:
    """The report without what changes from run to run (times of the run, durations, the
    order of the notes)."""
    data = json.loads(path.read_text())

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if k not in ("created", "started_at", "finished_at", "duration",
                                 "duration_s", "elapsed", "generated_at", "checked_at")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    out = strip(data)
    # the run's notes come in set order (checker.py iterates a set of names): string hashing
    # differs between processes, so their order does between two runs of the same code
    if isinstance(out, dict) and isinstance(out.get("notes"), list):
        out["notes"] = sorted(out["notes"], key=str)
    return out


def compare(before: str, after: str, write: bool = False) -> int:
    lines: list[str] = []

    def out(text: str) -> None:  # the table goes to stdout and, with --write, to the file
        lines.append(text)
        print(text)

    a = json.loads((SCALE / before / "results.json").read_text())
    b = json.loads((SCALE / after / "results.json").read_text())
    status = 0
    out(f"| lock | pins | CPU s ({before} -> {after}) | peak RSS MB | preferences computed | "
          "preference look-ups | is_satisfied_by computed | SpecifierSet.contains | pin checks "
          "| report |")
    out("|---|---|---|---|---|---|---|---|---|---|")

    def computed(c: dict[str, int], new: str, old: str) -> int:
        # (the cached code computes in a helper; code without the cache in the method itself)
        return c[new] if c[new] or c[old] == 0 else c[old]

    for stem, x in a["locks"].items():
        y = b["locks"].get(stem)
        if y is None:
            continue
        same = normalised(Path(x["report"])) == normalised(Path(y["report"]))
        status |= not same
        # (counted again from the profiles: the functions counted may have grown)
        c1 = counts(SCALE / before / f"{stem}.prof")
        c2 = counts(SCALE / after / f"{stem}.prof")
        cells = [
            f"{x['cpu_s']:.2f} -> {y['cpu_s']:.2f}",
            f"{x['maxrss_mb']:.0f} -> {y['maxrss_mb']:.0f}",
            f"{computed(c1, '_compute_preference', 'get_preference'):,} -> "
            f"{computed(c2, '_compute_preference', 'get_preference'):,}",
            f"{c1['_preference (cached)'] + c1['get_preference']:,} -> "
            f"{c2['_preference (cached)'] + c2['get_preference']:,}",
            f"{computed(c1, '_satisfies', 'is_satisfied_by'):,} -> "
            f"{computed(c2, '_satisfies', 'is_satisfied_by'):,}",
            f"{c1['SpecifierSet.contains']:,} -> {c2['SpecifierSet.contains']:,}",
            f"{c1['_is_current_pin_satisfying']:,} -> {c2['_is_current_pin_satisfying']:,}",
            "identical" if same else "DIFFERENT",
        ]
        out(f"| {stem} | {x['pins']} | " + " | ".join(cells) + " |")
    if write:
        (HERE / "scale_profile.md").write_text(PROFILE_MD.format(
            before=before, after=after, table="\n".join(lines)))
    return status


PROFILE_MD = """## Scale profile: deterministic counts, CPU and memory (`scale_profile.py`)

Written by `scale_profile.py compare {before} {after} --write` (issue 21). Wall-clock times of
the scale runs above are noisy on this shared machine (2 cores, other sessions' test suites),
so the resolver work is compared in counts that do not depend on the load: cProfile call counts
in the main thread, where the resolver runs, over one warm run of `safe-install --dry-run
--no-deps -I -q --on-late warn --on-unknown-upload-time warn --report R -r LOCK` (the locks of
`bench.py --scale`, built once by `scale_profile.py locks`); plus the median user+system CPU
seconds and peak RSS (`/usr/bin/time`) of plain warm runs (one shared cache, primed by a cold
run; pages are fetched from PyPI each time). "preferences computed": `get_preference` bodies
run (before) or `_compute_preference` (after; the cached lookups are cheap). "is_satisfied_by
computed": its body run (after: `_satisfies`, behind the cache). "pin checks":
`_is_current_pin_satisfying` calls: one per name per round in resolvelib's loop, only for the
names a round changed in the incremental loop (`resolution._Resolution.resolve`, warmperf). "report": the
JSON reports compared, the notes as a set (selection parity). "preference look-ups":
`get_preference` and the cached `_preference` calls (resolvelib's loop asks every unpinned
name in every round; the incremental loop keeps a heap).

{table}

The step before this one (the resolver's caches, issue 21: "before2 -> after2" in this file's
history) took the 918-pin lock from 11.07 to 6.49 CPU s and 770 to 256 MB.
"""


def main() -> int:
    bench.ensure_gitignore()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    lk = sub.add_parser("locks")
    lk.add_argument("--sizes", default="100,300,1000")
    r = sub.add_parser("run")
    r.add_argument("--label", required=True)
    r.add_argument("--src", default=str(REPO_SRC), help="the safeinstall package's parent dir")
    r.add_argument("--repeat", type=int, default=3)
    c = sub.add_parser("compare")
    c.add_argument("before")
    c.add_argument("after")
    c.add_argument("--write", action="store_true", help="also write scale_profile.md")
    args = p.parse_args()
    SCALE.mkdir(parents=True, exist_ok=True)
    if args.what == "locks":
        build([int(x) for x in args.sizes.split(",")])
        return 0
    if args.what == "run":
        run(args.label, Path(args.src).resolve(), args.repeat)
        return 0
    return compare(args.before, args.after, args.write)


if __name__ == "__main__":
    raise SystemExit(main())
