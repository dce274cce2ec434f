#!/usr/bin/env python3
"""Where a cold dry run spends its CPU, in counts that a loaded machine does not change much.

    .venv/bin/python benchmarks/cold_profile.py --label after                  # this checkout
    .venv/bin/python benchmarks/cold_profile.py --label before --baseline 0fb2dbf
    .venv/bin/python benchmarks/cold_profile.py --compare before after

One cold ``safe-install --dry-run -I -q --on-late warn --on-unknown-upload-time warn --report R
-r SET`` (fresh cache, trust store and pip cache; clean pip environment, ``bench.clean_env``)
under a wrapper that profiles the main thread with cProfile (``<label>/main.prof``), counts the
threads started, records every subprocess it starts (``subprocess.Popen``: argv, wall, and the
``wait4`` rusage of the child with its own waited-for descendants: CPU and peak RSS), and the
process's own CPU (all threads) against its children's (``getrusage``). Then a second cold run
under ``strace -f -e trace=execve`` counts every program executed in the whole tree (pip's
build-environment installs and backend hooks included). The baseline is the venv
``bench.py --baseline REV`` builds (``.work/baseline/<commit>``).
"""

from __future__ import annotations

import argparse
import collections
import json
import pstats
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402

OUT = bench.WORK / "cold"

WRAPPER = r"""
import cProfile, json, os, resource, subprocess, sys, threading, time
from importlib.metadata import entry_points
out_dir = sys.argv[1]
sys.argv = ["safe-install", *sys.argv[2:]]
children = {}
_orig_init = subprocess.Popen.__init__
def init(self, args, *a, **kw):
    t0 = time.perf_counter()
    _orig_init(self, args, *a, **kw)
    children[self.pid] = {"argv": [str(x) for x in (args if isinstance(args, (list, tuple)) else [args])],
                          "start": t0, "thread": threading.current_thread().name}
subprocess.Popen.__init__ = init
_orig_waitpid = os.waitpid
def waitpid(pid, flags):
    got, status, ru = os.wait4(pid, flags)
    if got and got in children:
        c = children[got]
        c["wall"] = time.perf_counter() - c["start"]
        c["cpu"] = ru.ru_utime + ru.ru_stime
        c["maxrss_mb"] = ru.ru_maxrss / 1024
    return got, status
os.waitpid = waitpid
threads = []
thread_cpu = {}
thread_profs = []
_orig_run = threading.Thread.run
def run(self):
    threads.append(self.name)
    tp = cProfile.Profile(time.thread_time)
    thread_profs.append(tp)
    tp.enable()
    try:
        return _orig_run(self)
    finally:
        tp.disable()
        key = self.name.rstrip("0123456789").rstrip("_-")
        thread_cpu[key] = thread_cpu.get(key, 0.0) + time.thread_time()
threading.Thread.run = run
(ep,) = [e for e in entry_points(group="console_scripts") if e.name == "safe-install"]
main = ep.load()
t0 = time.perf_counter()
prof = cProfile.Profile(time.thread_time)  # the main thread's CPU, not its waits
prof.enable()
rc = 0
try:
    main()
except SystemExit as exc:
    rc = exc.code if isinstance(exc.code, int) else 1
finally:
    prof.disable()
    wall = time.perf_counter() - t0
    prof.dump_stats(os.path.join(out_dir, "main.prof"))
    import pstats
    done = [tp for tp in thread_profs if tp.getstats()]
    if done:
        st = pstats.Stats(done[0])
        for tp in done[1:]:
            st.add(tp)
        st.dump_stats(os.path.join(out_dir, "threads.prof"))
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(out_dir, "run.json"), "w") as f:
        for c in children.values():
            c["start"] -= t0
        json.dump({"rc": rc, "wall": wall, "self_cpu": me.ru_utime + me.ru_stime,
                   "main_thread_cpu": time.thread_time(), "thread_cpu": thread_cpu,
                   "self_maxrss_mb": me.ru_maxrss / 1024,
                   "children_cpu": ch.ru_utime + ch.ru_stime,
                   "threads": threads, "children": list(children.values())}, f, indent=1)
sys.exit(rc)
"""


def kind(argv: list[str]) -> str:
    """A short name for what a subprocess does."""
    text = " ".join(argv)
    if "get_requires_for_build" in text or "_in_process" in text:
        return "build backend hook"
    if " -m pip " in f" {text} " or any(a.endswith("/pip") for a in argv[:1]):
        sub = next((a for a in argv if a in ("install", "config", "inspect", "list", "download",
                                             "wheel")), "?")
        flags = [a for a in argv if a in ("--dry-run", "--no-deps", "--report", "--target",
                                          "--prefix", "--only-binary", "--no-build-isolation")]
        return f"pip {sub} {' '.join(flags)}".strip()
    if argv and "python" in Path(argv[0]).name:
        code = next((a for a in argv if a not in ("-c", "-I", "-S", "-E", "-s", "-u")
                     and not a.startswith("/")), "")
        return f"python {code[:40]!r}"
    return Path(argv[0]).name if argv else "?"


def run(label: str, python: str, reqfile: str, strace: bool, no_deps: bool = False) -> None:
    d = OUT / label
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    corpus = bench.DEFAULT_CORPUS
    args = ["--dry-run", *(["--no-deps"] if no_deps else []), "-I", "-q", *bench.POLICY_ARGS,
            "--report", str(d / "report.json"), "-r", reqfile]
    env = bench.clean_env(d / "cache")
    proc = subprocess.run([python, "-c", WRAPPER, str(d), *args], cwd=corpus, env=env,
                          capture_output=True, text=True)
    (d / "stderr").write_text(proc.stderr)
    print(f"{label}: profiled run rc={proc.returncode}", flush=True)
    if strace and shutil.which("strace"):
        env = bench.clean_env(d / "cache-strace")
        exe = str(Path(python).parent / "safe-install")
        subprocess.run(["strace", "-f", "-qq", "--seccomp-bpf", "-s", "300", "-e",
                        "trace=execve", "-o", str(d / "execve.txt"), exe, *args[:-4],
                        "--report", "/dev/null",
                        "-r", reqfile], cwd=corpus, env=env, capture_output=True)
        print(f"{label}: strace run done", flush=True)


def execs(path: Path) -> collections.Counter[str]:
    """Programs executed in the whole tree (successful execve), by a short description."""
    c: collections.Counter[str] = collections.Counter()
    if not path.exists():
        return c
    for line in path.read_text(errors="replace").splitlines():
        m = re.search(r'execve\("([^"]*)", \[(.*)\], .*\) = 0', line)
        if not m:
            continue
        argv = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        c[kind(argv)] += 1
    return c


def summary(label: str) -> dict[str, Any]:
    d = OUT / label
    r = json.loads((d / "run.json").read_text())
    by_kind: dict[str, dict[str, float]] = {}
    for ch in r["children"]:
        k = kind(ch["argv"])
        e = by_kind.setdefault(k, {"n": 0, "cpu": 0.0, "wall": 0.0, "max_rss_mb": 0.0})
        e["n"] += 1
        e["cpu"] += ch.get("cpu", 0.0)
        e["wall"] += ch.get("wall", 0.0)
        e["max_rss_mb"] = max(e["max_rss_mb"], ch.get("maxrss_mb", 0.0))
    st: Any = pstats.Stats(str(d / "main.prof"))
    calls = sum(v[1] for v in st.stats.values())  # (pstats' own attribute, untyped)
    return {"rc": r["rc"], "wall": r["wall"], "self_cpu": r["self_cpu"],
            "main_thread_cpu": r.get("main_thread_cpu"),
            "thread_cpu": {k: round(v, 2) for k, v in r.get("thread_cpu", {}).items()},
            "timeline": [(round(c["start"], 2), round(c.get("wall", 0), 2),
                          round(c.get("cpu", 0), 2), kind(c["argv"])) for c in r["children"]],
            "children_cpu": r["children_cpu"], "self_maxrss_mb": r["self_maxrss_mb"],
            "threads": len(r["threads"]), "subprocesses": by_kind,
            "main_thread_calls": calls, "main_thread_tt": st.total_tt,
            "execve": dict(execs(d / "execve.txt").most_common()),
            "counts": counts(d)}


#: call counts that explain the cold-run CPU (file suffix, function), main thread + threads
COUNTS = {
    "index pages read": ("finder.py", "_read_page"),
    "listings restored (pages read again)": ("listing.py", "_restore"),
    "HTTP GETs": ("http.py", "get"),
    "is_safe_filename": ("indexdata.py", "is_safe_filename"),
    "wheel metadata fetched": ("artifacts.py", "wheel_metadata"),
    "sdist metadata asked": ("builds.py", "sdist_metadata"),
    # (the inner function since buildsperf: check_build_env is a wrapper of it)
    "build envs checked": ("builds.py", "_check_build_env|check_build_env"),
    "backend asked (get_requires)": ("buildenv.py", "prepare_build|dynamic_requirements"),
    "artifacts fetched": ("artifacts.py", "fetch"),
}


def counts(d: Path) -> dict[str, int]:
    out = dict.fromkeys(COUNTS, 0)
    for name in ("main.prof", "threads.prof"):
        if not (d / name).exists():
            continue
        loaded: Any = pstats.Stats(str(d / name))
        stats: dict[Any, Any] = loaded.stats
        for key, (suffix, fnames) in COUNTS.items():
            for fname in fnames.split("|"):  # the first of these names that was called
                n = sum(v[1] for (filename, _line, func), v in stats.items()
                        if func == fname and filename.endswith(suffix))
                if n:
                    out[key] += n
                    break
    return out


def top(label: str, n: int = 30) -> None:
    for name in ("main.prof", "threads.prof"):
        if (OUT / label / name).exists():
            print(f"== {label}/{name} (CPU seconds of the thread(s), cumulative)")
            pstats.Stats(str(OUT / label / name)).sort_stats("cumulative").print_stats(n)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--label")
    p.add_argument("--baseline", metavar="REV", help="profile safe-install at this revision")
    p.add_argument("--set", default="fastapi-dispatch", help="a set of the corpus")
    p.add_argument("--reqfile", help="a requirements file instead of --set (e.g. a scale lock)")
    p.add_argument("--no-deps", action="store_true", help="as the scale part runs its locks")
    p.add_argument("--no-strace", action="store_true")
    p.add_argument("--python", help="run safe-install from this interpreter's environment")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    p.add_argument("--top", metavar="LABEL")
    a = p.parse_args()
    bench.ensure_gitignore()
    if a.top:
        top(a.top)
        return 0
    if a.compare:
        print(json.dumps({x: summary(x) for x in a.compare}, indent=1))
        return 0
    python = str(HERE.parent / ".venv" / "bin" / "python")
    if a.baseline:
        python = str(Path(bench.ensure_baseline(a.baseline, python, python)["venv"])
                     / "bin" / "python")
    reqfile = str(Path(a.reqfile).resolve()) if a.reqfile else f"{a.set}.txt"
    run(a.label, a.python or python, reqfile, not a.no_strace, a.no_deps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
