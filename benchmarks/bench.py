#!/usr/bin/env python3
"""Benchmark safe-install against pip and uv on the requirement corpus (issue 6).

Three parts, each optional, all measured in one run of this script:

* dry run (default): for every selected set, interleaved and ``--repeat`` times,
  ``safe-install --dry-run``, ``pip install --dry-run --ignore-installed --report`` and
  ``uv pip compile``, each cold (fresh, empty cache directories) and warm (the caches left by
  that tool's first cold run on that set, reused);
* ``--install SET1,SET2``: the real install into a fresh venv (``python -m venv``, not timed):
  ``safe-install -r SET`` vs ``pip install -r SET`` vs ``uv pip install -r SET``, cold and warm;
* ``--scale``: ``safe-install --dry-run --no-deps -r LOCK`` on locks of ~100, ~300 and ~1000
  ``name==version`` pins made from the corpus's packages (``uv pip compile --no-deps`` beside it
  for reference), cold and warm.

Every command runs with a clean pip environment: ``PIP_CONFIG_FILE=/dev/null`` and no ``PIP_*``,
``UV_*`` or ``SAFE_INSTALL_*`` variable from the caller, ``UV_NO_CONFIG=1``, and uv pointed at
https://pypi.org/simple; ``XDG_CACHE_HOME``/``XDG_DATA_HOME`` (safe-install's default cache and
trust store) point into the run's temporary directory too. uv is installed from PyPI, at a pinned
version, into the benchmark's own venv under ``benchmarks/.work/``.

Measured per run: wall time, exit code, and ``os.wait4``'s rusage of the command (taken by a
tiny launcher process, see LAUNCHER): user+system CPU of the whole process tree (children that
were waited for) and ``ru_maxrss``, which is the peak RSS of the *largest single process* in the
tree, not the sum of processes alive at the same time; plus the CPU other processes used meanwhile.

Results go to ``benchmarks/results/bench-<UTC timestamp>.json`` and ``results/latest.json``;
``benchmarks/README.md`` is regenerated from the newest results of each part.

    .venv/bin/python benchmarks/bench.py                       # dry run, all sets, 3 repeats
    .venv/bin/python benchmarks/bench.py --sets cli-ansible,lib-yfinance --repeat 5
    .venv/bin/python benchmarks/bench.py --no-dry-run --install cli-ansible,lib-yfinance
    .venv/bin/python benchmarks/bench.py --no-dry-run --scale
    .venv/bin/python benchmarks/bench.py --readme-only         # re-render README.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
README = HERE / "README.md"
DEFAULT_CORPUS = REPO / "tests" / "data" / "corpus" / "pypi"
EXCLUDED_SETS = {"airflow-constraints-3.11"}  # a constraints file, not a set
DEFAULT_INSTALL_SETS = "cli-ansible,lib-yfinance"
INDEX_URL = "https://pypi.org/simple"
UV_VERSION = "0.13.9"
TOOLS = ("safe-install", "pip", "uv")
MODES = ("cold", "warm")

# Targets from issue 6.
TARGET_COLD = 0.5   # safe-install dry run / pip dry run, cold
TARGET_WARM = 0.3   # same, warm
TARGET_INSTALL = 1.0  # full checked install / pip install
AIM_UV = 1.5        # safe-install / uv

POLICY_ARGS = ["--on-late", "warn", "--on-unknown-upload-time", "warn"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- environment


def clean_env(run_dir: Path | None) -> dict[str, str]:
    """The caller's environment without pip/uv/safe-install settings, plus neutralising ones."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "SAFE_INSTALL_", "VIRTUAL_ENV", "CONDA_"))
           and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update({
        "PIP_CONFIG_FILE": os.devnull,       # no pip.conf of any level
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "UV_NO_CONFIG": "1",
        "UV_DEFAULT_INDEX": INDEX_URL,
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if run_dir is not None:
        env.update({
            "SAFE_INSTALL_CACHE_DIR": str(run_dir / "safe-install-cache"),
            "PIP_CACHE_DIR": str(run_dir / "pip-cache"),
            "UV_CACHE_DIR": str(run_dir / "uv-cache"),
            "XDG_CACHE_HOME": str(run_dir / "xdg-cache"),
            "XDG_DATA_HOME": str(run_dir / "xdg-data"),
        })
    return env


def check_output(cmd: list[str], **kw: Any) -> str:
    out: str = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout
    return out.strip()


def ensure_uv(target_python: str) -> Path:
    """The benchmark's own venv with uv==UV_VERSION from PyPI; returns the uv executable."""
    venv = WORK / "tools"
    uv = venv / "bin" / "uv"
    env = clean_env(None)
    if uv.exists():
        try:
            if check_output([str(uv), "--version"], env=env).split()[1] == UV_VERSION:
                return uv
        except (subprocess.CalledProcessError, IndexError):
            pass
    WORK.mkdir(parents=True, exist_ok=True)
    if not venv.exists():
        log(f"creating tool venv {venv}")
        subprocess.run([target_python, "-m", "venv", str(venv)], check=True, env=env)
    log(f"installing uv=={UV_VERSION} from {INDEX_URL} into {venv}")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--index-url", INDEX_URL,
                    f"uv=={UV_VERSION}"], check=True, env=env)
    return uv


def ensure_gitignore() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    gi = WORK / ".gitignore"
    if not gi.exists():
        gi.write_text("*\n")


def git_info() -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        info["commit"] = check_output(["git", "-C", str(REPO), "rev-parse", "HEAD"])
        dirty = check_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
        diff = subprocess.run(["git", "-C", str(REPO), "diff", "HEAD", "--", "src"],
                              capture_output=True, check=True).stdout
        info["src_dirty_files"] = len(dirty.splitlines())
        info["src_diff_sha256"] = hashlib.sha256(diff).hexdigest()[:16] if diff else None
    except (subprocess.CalledProcessError, FileNotFoundError):
        pass
    return info


def ensure_baseline(rev: str, target_python: str, current_python: str) -> dict[str, Any]:
    """safe-install as it was at git revision ``rev``, in a venv of its own under
    ``.work/baseline/<commit>``: the tree from ``git archive`` (no worktree, nothing of the
    checkout touched), installed non-editable (so byte-compiled, as an install is) with a clean
    pip environment from PyPI, its dependencies held at the versions of the current venv
    (``pip freeze`` as constraints) so that only safe-install's own code differs."""
    commit = check_output(["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"])
    base = WORK / "baseline" / commit[:12]
    venv = base / "venv"
    exe = venv / "bin" / "safe-install"
    done = base / "installed"
    env = clean_env(None)
    if not done.exists():
        shutil.rmtree(base, ignore_errors=True)
        tree = base / "src-tree"
        tree.mkdir(parents=True)
        log(f"baseline {rev} ({commit[:12]}): git archive into {tree}")
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        frozen = check_output([current_python, "-m", "pip", "freeze", "--exclude-editable"],
                              env=env)
        constraints = base / "constraints.txt"
        constraints.write_text("".join(
            line + "\n" for line in frozen.splitlines()
            if "==" in line and not line.lower().startswith(("safe-install", "safe_install"))))
        log(f"baseline {rev}: installing into {venv}")
        subprocess.run([target_python, "-m", "venv", str(venv)], check=True, env=env)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--index-url", "https://pypi.org/simple", "-c", str(constraints),
                        str(tree)], check=True, env=env)
        done.write_text(commit + "\n")
    return {"rev": rev, "commit": commit, "safe_install": str(exe), "venv": str(venv),
            "src": str(base / "src-tree" / "src"),
            "version": check_output([str(exe), "-V"], env=env)}


# --------------------------------------------------------------------------- measuring


CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def wait_for_quiet(max_wait: float, threshold: float) -> tuple[float, float]:
    """Sample the machine's busy cores over 1 s until below ``threshold`` or ``max_wait``
    seconds have passed; returns (seconds waited, last sample). Other processes on this
    machine (test suites of other sessions) compete for its 2 cores."""
    waited = 0.0
    load = 0.0
    while True:
        b0 = busy_cpu_s()
        time.sleep(1.0)
        load = busy_cpu_s() - b0
        waited += 1.0
        if load < threshold or waited >= max_wait:
            return waited, round(load, 2)


# A small launcher runs each command and reports its rusage. Measuring the command as a
# direct child of this script would be wrong: Linux carries the RSS high-water mark of the
# address space a child had before exec (fork/vfork of this script, which holds the reports
# and pages it has read) into the child's ru_maxrss. The launcher is a fresh ``python -S``
# (a few MB), so the floor it adds is negligible.
LAUNCHER = r"""
import json, os, sys, time
out = sys.argv[1]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    json.dump({"wall": wall, "rc": os.waitstatus_to_exitcode(status),
               "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}, f)
"""


def measure(cmd: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path,
            timeout: float) -> dict[str, Any]:
    """Run ``cmd`` (through the launcher); wall time, exit code and the command's rusage
    (whole waited-for tree), and the CPU the rest of the machine used meanwhile
    (``bg_cores``: busy cores, /proc/stat, minus the command tree's own CPU, averaged over
    the run)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path, ru_path = log_dir / "stdout", log_dir / "stderr", log_dir / "rusage"
    ru_path.unlink(missing_ok=True)
    timed_out = threading.Event()
    busy0 = busy_cpu_s()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-S", "-I", "-c", LAUNCHER, str(ru_path), *cmd],
                                cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        outer_wall = time.perf_counter() - t0
    busy = busy_cpu_s() - busy0
    try:
        ru = json.loads(ru_path.read_text())
    except (OSError, ValueError):
        ru = {"wall": outer_wall, "rc": proc.returncode if proc.returncode else -1,
              "cpu": 0.0, "maxrss_kb": 0}
    rc = ru["rc"]
    wall, cpu = ru["wall"], ru["cpu"]
    result: dict[str, Any] = {
        "rc": rc,
        "ok": rc == 0 and not timed_out.is_set(),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "maxrss_mb": round(ru["maxrss_kb"] / 1024, 1),  # KiB on Linux
        "bg_cores": round(max(0.0, busy - cpu) / outer_wall, 2) if outer_wall > 0 else 0.0,
    }
    if timed_out.is_set():
        result["timeout"] = True
    if not result["ok"]:
        tail = err_path.read_bytes()[-3000:].decode("utf-8", "replace")
        result["stderr_tail"] = tail
        log(f"    FAILED rc={rc}: {' '.join(cmd)}\n" + "\n".join(
            "      | " + line for line in tail.strip().splitlines()[-12:]))
    return result


class Runner:
    """Knows the three tools and the target; builds and times their commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.safe = str(Path(args.safe_install).resolve())
        self.pip = str(Path(args.pip).resolve())
        self.target_python = str(Path(args.target_python))
        ensure_gitignore()
        self.uv = str(ensure_uv(self.target_python))
        self.corpus = Path(args.corpus).resolve()
        self.runs_root = WORK / "runs"
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.timeout = args.timeout
        self.target = self._target()
        self.baseline: dict[str, Any] | None = None
        if args.baseline:
            # (the dependency versions to hold: those of the venv the current safe-install runs in)
            self.baseline = ensure_baseline(args.baseline, self.target_python,
                                            str(Path(args.safe_install).absolute().parent
                                                / "python"))
        self.base_tool = f"safe-install@{args.baseline}" if args.baseline else None
        self.versions = self._versions()
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.report_dir = WORK / "reports-run" / stamp  # normalised reports of this run

    def safe_tools(self) -> tuple[str, ...]:
        """safe-install as checked out, and at the baseline revision if one was given."""
        return ("safe-install",) + ((self.base_tool,) if self.base_tool else ())

    def exe(self, tool: str) -> str:
        if tool == self.base_tool and self.baseline:
            return str(self.baseline["safe_install"])
        return self.safe

    def venv_of(self, tool: str) -> str:
        """The venv (sys.prefix) safe-install runs from: its paths appear in its report."""
        return str(Path(self.exe(tool)).parent.parent)

    def _target(self) -> dict[str, Any]:
        code = ("import os,platform,sys,json;"
                "print(json.dumps({'python': platform.python_version(),"
                "'implementation': sys.implementation.name,"
                "'machine': platform.machine(),'libc': os.confstr('CS_GNU_LIBC_VERSION')}))")
        info: dict[str, Any] = json.loads(check_output([self.target_python, "-c", code]))
        libc = (info.get("libc") or "").split()
        if len(libc) == 2 and libc[0] == "glibc":
            major, minor = libc[1].split(".")[:2]
            info["uv_python_platform"] = f"{info['machine']}-manylinux_{major}_{minor}"
        else:
            info["uv_python_platform"] = f"{info['machine']}-unknown-linux-gnu"
        return info

    def _versions(self) -> dict[str, str]:
        env = clean_env(None)
        return {
            "safe-install": check_output([self.safe, "-V"], env=env),
            "pip": check_output([self.pip, "--version"], env=env),
            "uv": check_output([self.uv, "--version"], env=env),
            "target_python": self.target["python"],
            **({self.base_tool: f"{self.baseline['version']} at {self.baseline['commit'][:12]}"}
               if self.baseline and self.base_tool else {}),
        }

    # commands ----------------------------------------------------------------

    def uv_target(self) -> list[str]:
        return ["--python", self.target_python, "--python-version", self.target["python"],
                "--python-platform", self.target["uv_python_platform"]]

    def dryrun_cmd(self, tool: str, reqfile: str, report: str = os.devnull) -> list[str]:
        if tool.startswith("safe-install"):
            return [self.exe(tool), "--dry-run", "-I", "-q", *POLICY_ARGS, "--report", report,
                    "-r", reqfile]
        if tool == "pip":
            return [self.pip, "install", "--dry-run", "--ignore-installed", "--quiet",
                    "--report", report, "-r", reqfile]
        return [self.uv, "pip", "compile", "--no-config", "--index-url", INDEX_URL,
                *self.uv_target(), "--quiet", "--no-header", reqfile]

    def install_cmd(self, tool: str, reqfile: str, venv_python: str,
                    report: str = os.devnull) -> list[str]:
        if tool.startswith("safe-install"):
            return [self.exe(tool), "--python", venv_python, "-q", *POLICY_ARGS,
                    "--report", report, "-r", reqfile]
        if tool == "pip":
            return [self.pip, "--python", venv_python, "install", "-q", "-r", reqfile]
        return [self.uv, "pip", "install", "--no-config", "--index-url", INDEX_URL,
                "--python", venv_python, "--quiet", "-r", reqfile]

    def scale_cmd(self, tool: str, lock: str, report: str = os.devnull) -> list[str]:
        if tool.startswith("safe-install"):
            return [self.exe(tool), "--dry-run", "--no-deps", "-I", "-q", *POLICY_ARGS,
                    "--report", report, "-r", lock]
        return [self.uv, "pip", "compile", "--no-deps", "--no-config", "--index-url", INDEX_URL,
                *self.uv_target(), "--quiet", "--no-header", lock]

    # running -------------------------------------------------------------------

    def new_run_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.runs_root))

    def run_matrix(self, part: str, items: list[str], tools: tuple[str, ...], repeat: int,
                   make_cmd: Any, cwd_of: Any, venv: bool = False) -> list[dict[str, Any]]:
        """Per item: ``repeat`` rounds; each round every tool cold, then every tool warm, in an
        order rotated per round. The warm cache of (item, tool) is the one left by that tool's
        first cold run on the item (the priming run, counted as a cold sample)."""
        runs: list[dict[str, Any]] = []
        for item in items:
            warm_dirs: dict[str, Path] = {}
            try:
                for rep in range(repeat):
                    order = list(tools[rep % len(tools):] + tools[:rep % len(tools)])
                    for mode in MODES:
                        for tool in order:
                            if mode == "warm" and tool not in warm_dirs:
                                continue  # its priming run failed: no warm cache
                            run_dir = warm_dirs.get(tool) if mode == "warm" else None
                            fresh = run_dir is None
                            if run_dir is None:
                                run_dir = self.new_run_dir()
                            env = clean_env(run_dir)
                            extra: dict[str, Any] = {}
                            venv_dir = run_dir / "venv"
                            log_dir = run_dir / "logs" / f"{tool}-{mode}-{rep}"
                            log_dir.mkdir(parents=True, exist_ok=True)
                            report = log_dir / "report.json"
                            report.unlink(missing_ok=True)
                            if venv:
                                shutil.rmtree(venv_dir, ignore_errors=True)
                                subprocess.run([self.target_python, "-m", "venv", str(venv_dir)],
                                               check=True, env=env)
                                cmd = make_cmd(tool, item, str(venv_dir / "bin" / "python"),
                                               report=str(report))
                            else:
                                cmd = make_cmd(tool, item, report=str(report))
                            if self.args.quiet_wait > 0:
                                waited, load = wait_for_quiet(self.args.quiet_wait,
                                                              self.args.quiet_below)
                                extra["pre_wait_s"], extra["pre_load_cores"] = waited, load
                            res = measure(cmd, env=env, cwd=cwd_of(item), log_dir=log_dir,
                                          timeout=self.timeout)
                            if venv:
                                extra["installed_dists"] = len(glob.glob(
                                    str(venv_dir / "lib" / "python*" / "site-packages"
                                        / "*.dist-info")))
                                shutil.rmtree(venv_dir, ignore_errors=True)
                            kept = self.keep_report(part, item, tool, mode, rep, report,
                                                    run_dir)
                            if kept:
                                extra["report_file"] = kept
                            row = {"part": part, "set": item, "tool": tool, "mode": mode,
                                   "rep": rep, **res, **extra}
                            runs.append(row)
                            status = "ok" if res["ok"] else f"FAIL rc={res['rc']}"
                            log(f"  {part} {item:24s} {tool:12s} {mode} #{rep}: "
                                f"{res['wall_s']:7.2f}s  cpu {res['cpu_s']:6.2f}s  "
                                f"rss {res['maxrss_mb']:7.1f} MB  bg {res['bg_cores']:.2f}  "
                                f"{status}"
                                + (f"  dists={extra['installed_dists']}" if venv else ""))
                            if mode == "cold" and rep == 0 and res["ok"]:
                                warm_dirs[tool] = run_dir
                            elif fresh:
                                shutil.rmtree(run_dir, ignore_errors=True)
            finally:
                for d in warm_dirs.values():
                    shutil.rmtree(d, ignore_errors=True)
        return runs

    def keep_report(self, part: str, item: str, tool: str, mode: str, rep: int, report: Path,
                    run_dir: Path) -> str | None:
        """Store the run's report, normalised (see ``normalise_report``; for pip only the
        selected ``name==version`` set), under ``.work/reports-run/<run>/``; its path relative
        to WORK, or None when the run wrote no report."""
        if not report.is_file():
            return None
        try:
            data = json.loads(report.read_text())
        except (OSError, ValueError):
            return None
        if tool.startswith("safe-install"):
            kept: Any = normalise_report(data, {str(run_dir): "<RUN>",
                                                self.venv_of(tool): "<VENV>"})
        elif tool == "pip":
            kept = {"selected": sorted(
                f"{canonicalize_name(x['metadata']['name'])}=={x['metadata']['version']}"
                for x in data.get("install", []))}
        else:
            return None
        out = self.report_dir / part / item / f"{tool}-{mode}-{rep}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(kept, indent=1, sort_keys=True))
        return str(out.relative_to(WORK))


# --------------------------------------------------------------------------- reports

#: keys of a safe-install report that change from run to run whatever the code (times of the
#: run and durations); temporary paths are replaced by placeholders instead
VOLATILE_KEYS = frozenset({"generated_at", "created", "started_at", "finished_at", "duration",
                           "duration_s", "elapsed", "elapsed_s", "checked_at"})


def normalise_report(data: Any, paths: dict[str, str]) -> Any:
    """A safe-install report without what changes between two runs of the same code: the
    VOLATILE_KEYS, the run's temporary directory and the tool's own venv in any string
    (``paths``: prefix -> placeholder), and the order of the top-level notes (the checker
    iterates a set of names, whose order follows per-process string hashing) and of each
    package's ``required_by`` (before it was sorted, a build dependency listed the builds that
    need it in the order they finished)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, str):
            for prefix, placeholder in paths.items():
                value = value.replace(prefix, placeholder)
        return value

    out = strip(data)
    if isinstance(out, dict) and isinstance(out.get("notes"), list):
        out["notes"] = sorted(out["notes"], key=str)
    if isinstance(out, dict) and isinstance(out.get("packages"), list):
        for package in out["packages"]:
            if isinstance(package, dict) and isinstance(package.get("required_by"), list):
                package["required_by"] = sorted(package["required_by"], key=str)
    return out


EMPTY: tuple[Any, ...] = (None, [], {}, "", False)


def schema_only(a: Any, b: Any, found: set[str] | None = None) -> set[str]:
    """Keys one report has and the other lacks, where the one that has it holds nothing
    (``None``, empty, false): a field one version of the report format added, not a difference
    in what was checked or selected. ``json_diff`` ignores them; they are listed apart."""
    found = set() if found is None else found
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) ^ set(b):
            if (a.get(k) if k in a else b.get(k)) in EMPTY:
                found.add(k)
        for k in set(a) & set(b):
            schema_only(a[k], b[k], found)
    elif isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b, strict=False):
            schema_only(x, y, found)
    return found


def json_diff(a: Any, b: Any, path: str = "", limit: int = 6) -> list[str]:
    """Up to ``limit`` paths where two JSON values differ (``packages[name=x].version``);
    ``a`` is after, ``b`` before. A key only one side has, holding nothing, is not a
    difference (see ``schema_only``)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                if (a.get(k) if k in a else b.get(k)) not in EMPTY:
                    out.append(f"{path}.{k} only {'after' if k in a else 'before'}")
            elif a[k] != b[k]:
                out += json_diff(a[k], b[k], f"{path}.{k}", limit - len(out))
            if len(out) >= limit:
                break
    elif (isinstance(a, list) and isinstance(b, list)
          and all(isinstance(x, str) for x in a + b)):  # notes, reasons: as sets
        for x in sorted(set(a) - set(b))[:limit]:
            out.append(f"{path} + {x[:100]!r}")
        for x in sorted(set(b) - set(a))[:limit]:
            out.append(f"{path} − {x[:100]!r}")
        if not out and a != b:
            out.append(f"{path} order")
    elif isinstance(a, list) and isinstance(b, list):
        def key(x: Any, i: int) -> str:
            return f"name={x['name']}" if isinstance(x, dict) and "name" in x else str(i)
        ka = {key(x, i): x for i, x in enumerate(a)}
        kb = {key(x, i): x for i, x in enumerate(b)}
        if list(ka) != list(kb) and set(ka) == set(kb):
            out.append(f"{path} order")
        for k in list(ka) + [k for k in kb if k not in ka]:
            if k not in ka or k not in kb:
                out.append(f"{path}[{k}] only {'after' if k in ka else 'before'}")
            elif ka[k] != kb[k]:
                out += json_diff(ka[k], kb[k], f"{path}[{k}]", limit - len(out))
            if len(out) >= limit:
                break
    else:
        x, y = str(b), str(a)
        at = next((i for i, (c, d) in enumerate(zip(x, y, strict=False)) if c != d),
                  min(len(x), len(y)))
        start = max(0, at - 20)
        cut = "…" if start else ""
        out.append(f"{path}: {cut}{x[start:at + 40]!r} -> {cut}{y[start:at + 40]!r}")
    return out[:limit]


def selection_of(report: Any) -> set[tuple[str, str, str, str]]:
    """What a report selected: (name, version, file name, decision) of every package."""
    return {(str(p.get("name")), str(p.get("version")), str(p.get("filename")),
             str(p.get("decision"))) for p in report.get("packages", [])}


def selected(report: Any) -> set[str]:
    """``name==version`` of every package a (normalised) report lists, less those only needed
    to build an sdist (``build_time``): pip's report lists what it installs, never the
    contents of its build environments."""
    if "selected" in report:
        return set(report["selected"])
    return {f"{canonicalize_name(p['name'])}=={p['version']}"
            for p in report.get("packages", [])
            if p.get("name") and p.get("version") and not p.get("build_time")}


def compare_reports(runs: list[dict[str, Any]], base_tool: str | None,
                    parity: bool) -> dict[str, Any]:
    """Per set and cache mode: whether the reports of safe-install and of the baseline are
    identical after normalising (each round's pair; also whether each tool's own reports agree
    between rounds), and, with ``parity``, whether the name==version sets selected agree with
    pip's (every safe-install tool, first successful round)."""
    def load(r: dict[str, Any]) -> Any:
        return json.loads((WORK / r["report_file"]).read_text())

    by: dict[tuple[str, str], dict[str, dict[int, dict[str, Any]]]] = {}
    for r in runs:
        if r.get("ok") and r.get("report_file"):
            by.setdefault((r["set"], r["mode"]), {}).setdefault(r["tool"], {})[r["rep"]] = r
    out: dict[str, Any] = {}
    for (item, mode), tools in by.items():
        entry: dict[str, Any] = {}
        cur = tools.get("safe-install", {})
        if base_tool:
            base = tools.get(base_tool, {})
            pairs = sorted(set(cur) & set(base))
            diffs: list[str] = []
            schema: set[str] = set()
            same_selection = bool(pairs)
            for rep in pairs:
                after, before = load(cur[rep]), load(base[rep])
                d = json_diff(after, before)
                diffs += [f"round {rep}: {x}" for x in d]
                schema |= schema_only(after, before)
                same_selection &= selection_of(after) == selection_of(before)
            entry["vs_baseline"] = {"compared": len(pairs), "identical": bool(pairs) and not diffs,
                                    "same_selection": same_selection,
                                    "differences": diffs[:12], "empty_fields": sorted(schema)}
        stable: dict[str, bool] = {}
        for tool, reps in tools.items():
            if tool.startswith("safe-install") and len(reps) > 1:
                loaded = [load(reps[k]) for k in sorted(reps)]
                stable[tool] = all(x == loaded[0] for x in loaded[1:])
        entry["stable_between_rounds"] = stable
        if parity and tools.get("pip"):
            pip_set = selected(load(tools["pip"][min(tools["pip"])]))
            entry["parity"] = {}
            for tool, reps in tools.items():
                if tool.startswith("safe-install"):
                    mine = selected(load(reps[min(reps)]))
                    entry["parity"][tool] = {
                        "same": mine == pip_set, "count": len(mine), "pip_count": len(pip_set),
                        "only_safe_install": sorted(mine - pip_set)[:20],
                        "only_pip": sorted(pip_set - mine)[:20]}
        out.setdefault(item, {})[mode] = entry
    return out


# --------------------------------------------------------------------------- summaries


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """{set: {tool: {mode: stats}}, plus ratios}."""
    out: dict[str, Any] = {}
    for r in runs:
        out.setdefault(r["set"], {}).setdefault(r["tool"], {}).setdefault(r["mode"], []).append(r)
    summary: dict[str, Any] = {}
    for item, by_tool in out.items():
        s: dict[str, Any] = {}
        for tool, by_mode in by_tool.items():
            for mode, rs in by_mode.items():
                ok = [r for r in rs if r["ok"]]
                st: dict[str, Any] = {
                    "n": len(rs), "ok": len(ok),
                    "rcs": sorted({r["rc"] for r in rs if not r["ok"]}),
                    "median_s": round(statistics.median(r["wall_s"] for r in ok), 3) if ok else None,
                    "min_s": min(r["wall_s"] for r in ok) if ok else None,
                    "max_s": max(r["wall_s"] for r in ok) if ok else None,
                    "median_cpu_s": round(statistics.median(r["cpu_s"] for r in ok), 3)
                    if ok else None,
                    "median_maxrss_mb": round(statistics.median(r["maxrss_mb"] for r in ok), 1)
                    if ok else None,
                    "max_maxrss_mb": max(r["maxrss_mb"] for r in ok) if ok else None,
                    "median_bg_cores": round(statistics.median(r["bg_cores"] for r in rs), 2),
                    "max_bg_cores": max(r["bg_cores"] for r in rs),
                }
                if "installed_dists" in rs[0]:
                    st["installed_dists"] = sorted({r["installed_dists"] for r in ok})
                s.setdefault(tool, {})[mode] = st
        ratios: dict[str, Any] = {}
        for mode in MODES:
            base = s.get("safe-install", {}).get(mode, {})
            for other in ("pip", "uv"):
                o = s.get(other, {}).get(mode, {})
                if base.get("median_s") and o.get("median_s"):
                    ratios[f"{other}_{mode}"] = {
                        "ratio": round(base["median_s"] / o["median_s"], 3),
                        "all_ok": base["ok"] == base["n"] and o["ok"] == o["n"],
                    }
                else:
                    ratios[f"{other}_{mode}"] = None
        s["ratios"] = ratios
        summary[item] = s
    return summary


def fmt_time(st: dict[str, Any] | None) -> str:
    if not st:
        return "–"
    if not st["ok"]:
        return f"**FAIL** rc={','.join(map(str, st['rcs']))}"
    text = f"{st['median_s']:.2f}"
    if st["ok"] < st["n"]:
        text += f" ({st['n'] - st['ok']}/{st['n']} failed rc={','.join(map(str, st['rcs']))})"
    return text


def fmt_ratio(r: dict[str, Any] | None, target: float | None = None) -> str:
    if not r:
        return "n/a"
    text = f"{r['ratio']:.2f}×"
    if not r["all_ok"]:
        text += "!"
    if target is not None:
        text += " ✓" if r["ratio"] <= target else " ✗"
    return text


def print_summary(title: str, summary: dict[str, Any], targets: dict[str, float]) -> None:
    print(f"\n== {title} (median wall seconds; ✓/✗ against the issue's targets) ==")
    head = (f"{'set':22s} {'mode':5s} {'safe-install':>14s} {'pip':>14s} {'uv':>14s} "
            f"{'safe/pip':>11s} {'safe/uv':>11s}")
    print(head)
    print("-" * len(head))
    for item, s in summary.items():
        for mode in MODES:
            r = s["ratios"]
            print(f"{item:22s} {mode:5s} "
                  + " ".join(f"{fmt_time(s.get(t, {}).get(mode)):>14s}" for t in TOOLS)
                  + f" {fmt_ratio(r.get('pip_' + mode), targets.get('pip_' + mode)):>11s}"
                  + f" {fmt_ratio(r.get('uv_' + mode), targets.get('uv_' + mode)):>11s}"
                  + f"  bg {bg_cell(s, mode)}")
    print("\npeak RSS, median of runs, MB (largest single process of the tree) / CPU s:")
    for item, s in summary.items():
        cells = []
        for t in TOOLS:
            for mode in MODES:
                st = s.get(t, {}).get(mode)
                if st and st["ok"]:
                    cells.append(f"{t} {mode} {st['median_maxrss_mb']:.0f}MB/"
                                 f"{st['median_cpu_s']:.1f}s")
        print(f"  {item:22s} " + "; ".join(cells))


# --------------------------------------------------------------------------- scale


def reqfile_names(path: Path) -> list[tuple[str, Version]]:
    """``name==version`` lines of a plain requirements/constraints file."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
            with contextlib.suppress(InvalidVersion):
                pins.append((req.name, Version(specs[0].version)))
    return pins


def corpus_reports(runner: Runner, sets: list[str]) -> dict[str, Path]:
    """pip's dry-run report for each corpus set (cached under .work/reports for a day)."""
    rep_dir = WORK / "reports"
    rep_dir.mkdir(parents=True, exist_ok=True)
    cache = WORK / "reports-cache"
    env = clean_env(None)
    env["PIP_CACHE_DIR"] = str(cache / "pip")
    out: dict[str, Path] = {}
    for name in sets:
        path = rep_dir / f"{name}.json"
        if not path.exists() or time.time() - path.stat().st_mtime > 86400:
            log(f"  pip report for {name}")
            subprocess.run([runner.pip, "install", "--dry-run", "--ignore-installed", "--quiet",
                            "--report", str(path), "-r", f"{name}.txt"],
                           cwd=runner.corpus, env=env, check=True)
        out[name] = path
    return out


def fetch_pages(names: list[str], jobs: int = 8) -> dict[str, dict[str, Any] | None]:
    """PEP 691 JSON pages from PyPI (one request per project, ``jobs`` at a time), cached
    under .work/pages for a day. ``None`` for a project the index does not have."""
    import concurrent.futures
    import gzip
    import urllib.error
    import urllib.request

    cache = WORK / "pages"
    cache.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> tuple[str, dict[str, Any] | None]:
        path = cache / f"{name}.json.gz"
        if path.exists() and time.time() - path.stat().st_mtime < 86400:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return name, json.load(fh)
        req = urllib.request.Request(
            f"{INDEX_URL}/{name}/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json",
                     "User-Agent": "safe-install-benchmark/0.1"})
        for attempt in range(3):
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    body = resp.read()
                with gzip.open(path, "wb") as fh:
                    fh.write(body)
                return name, json.loads(body)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return name, None
            except (urllib.error.URLError, TimeoutError, OSError, ValueError):
                pass
            time.sleep(1.5 * (attempt + 1))
        return name, None

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, names))


def has_target_wheel(page: dict[str, Any] | None, version: Version, python: str) -> bool:
    """Whether ``version`` has a wheel installable on this interpreter (``sys_tags``) whose
    Requires-Python admits ``python``."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.tags import sys_tags
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    if not page:
        return False
    supported = set(sys_tags())
    for f in page.get("files", []):
        fn = f.get("filename", "")
        if not fn.endswith(".whl"):
            continue
        try:
            _, v, _, tags = parse_wheel_filename(fn)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if v != version or not (tags & supported):
            continue
        rp = f.get("requires-python")
        try:
            if rp and not SpecifierSet(rp).contains(python, prereleases=True):
                continue
        except InvalidSpecifier:
            pass
        return True
    return False


def build_locks(runner: Runner, sizes: list[int], lock_dir: Path) -> list[dict[str, Any]]:
    """Distinct projects of the corpus (pip's resolutions of every set, plus the pins of the
    airflow constraints file), the highest version seen for each, as ``name==version`` locks of
    the requested sizes (nested random samples, seed 0; the largest is capped at what exists)."""
    sets = sorted(p.stem for p in runner.corpus.glob("*.txt") if p.stem not in EXCLUDED_SETS)
    best: dict[str, tuple[Version, str]] = {}

    def add(name: str, version: Version) -> None:
        key = canonicalize_name(name)
        if key not in best or version > best[key][0]:
            best[key] = (version, name)

    for path in corpus_reports(runner, sets).values():
        for item in json.loads(path.read_text())["install"]:
            meta = item["metadata"]
            add(meta["name"], Version(meta["version"]))
    from_reports = len(best)
    resolved = set(best)
    for stem in EXCLUDED_SETS:
        for name, version in reqfile_names(runner.corpus / f"{stem}.txt"):
            add(name, version)
    # A constraint pin pip never resolved may be an sdist only (gssapi==1.8.3 needs krb5-config
    # to build its metadata): keep those only with a wheel for this target, as pip's picks are.
    extra = sorted(set(best) - resolved)
    log(f"  checking {len(extra)} constraint-only pins for a wheel on this target")
    pages = fetch_pages(extra)
    dropped = sorted(f"{best[n][1]}=={best[n][0]}" for n in extra
                     if not has_target_wheel(pages.get(n), best[n][0], runner.target["python"]))
    for pin in dropped:
        del best[canonicalize_name(pin.split("==")[0])]
    names = sorted(best)
    random.Random(0).shuffle(names)
    lock_dir.mkdir(parents=True, exist_ok=True)
    locks = []
    for size in sizes:
        chosen = sorted(names[:size])
        path = lock_dir / f"lock-{size}.txt"
        path.write_text("".join(f"{best[n][1]}=={best[n][0]}\n" for n in chosen))
        locks.append({"requested": size, "count": len(chosen), "path": str(path),
                      "distinct_in_corpus": len(names) + len(dropped),
                      "from_pip_reports": from_reports,
                      "dropped_without_wheel": dropped, "usable": len(names)})
    return locks


# --------------------------------------------------------------------------- README


def latest_with(part: str) -> dict[str, Any] | None:
    best = None
    for path in sorted(RESULTS.glob("bench-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get(part):
            best = data
            best["_file"] = path.name
    return best


def provenance(data: dict[str, Any]) -> str:
    g = data.get("git", {})
    dirty = (f", plus uncommitted changes in {g['src_dirty_files']} file(s) of src/ "
             f"(diff sha256 {g['src_diff_sha256']})") if g.get("src_dirty_files") else ""
    end = data.get("git_end")
    if end and end != g:
        e_dirty = (f" + uncommitted diff {end['src_diff_sha256']}"
                   if end.get("src_dirty_files") else "")
        dirty += (f"; **the code changed during the run** (another engineer's work): at the end "
                  f"it was `{end.get('commit', '?')[:12]}`{e_dirty}")
    v = data.get("versions", {})
    return (f"Measured {data['started_at']} – {data['finished_at']} (`{data['_file']}`), "
            f"safe-install at commit `{g.get('commit', '?')[:12]}`{dirty}; "
            f"{v.get('safe-install', '?')}, {v.get('pip', '?').split(' from ')[0]}, "
            f"{v.get('uv', '?')}; target CPython {v.get('target_python', '?')}; "
            f"{data.get('machine', {}).get('nproc', '?')} cores. "
            f"Command line: `{data.get('command', '')}`.")


def md_table(summary: dict[str, Any], install: bool) -> list[str]:
    lines = []
    if install:
        lines.append("| set | cache | safe-install | pip | uv | safe/pip (target ≤1.0) "
                     "| safe/uv (aim ≤1.5) | dists installed (safe/pip/uv) | bg cores |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---|---:|")
    else:
        lines.append("| set | cache | safe-install | pip | uv | safe/pip (target) "
                     "| safe/uv (aim ≤1.5) | bg cores |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for item, s in summary.items():
        for mode in MODES:
            r = s["ratios"]
            t_pip = TARGET_INSTALL if install else (TARGET_COLD if mode == "cold" else TARGET_WARM)
            cells = [f"`{item}`", mode] + [fmt_time(s.get(t, {}).get(mode)) for t in TOOLS]
            pip_cell = fmt_ratio(r.get("pip_" + mode), t_pip)
            if not install:
                pip_cell += f" (≤{t_pip})"
            cells += [pip_cell, fmt_ratio(r.get("uv_" + mode), AIM_UV)]
            if install:
                cells.append("/".join(
                    ",".join(map(str, s.get(t, {}).get(mode, {}).get("installed_dists", [])))
                    or "–" for t in TOOLS))
            cells.append(bg_cell(s, mode))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def bg_cell(s: dict[str, Any], mode: str) -> str:
    """Largest of the tools' median background load (cores busy with other processes)."""
    vals = [st["median_bg_cores"] for t, by in s.items() if t != "ratios"
            for m, st in by.items() if m == mode and st.get("median_bg_cores") is not None]
    return f"{max(vals):.2f}" if vals else "–"


def md_memory(summary: dict[str, Any]) -> list[str]:
    lines = ["| set | cache | safe-install MB / CPU s | pip MB / CPU s | uv MB / CPU s |",
             "|---|---|---:|---:|---:|"]
    for item, s in summary.items():
        for mode in MODES:
            cells = [f"`{item}`", mode]
            for t in TOOLS:
                st = s.get(t, {}).get(mode)
                cells.append(f"{st['median_maxrss_mb']:.0f} / {st['median_cpu_s']:.1f}"
                             if st and st["ok"] else "–")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def standing(dry: dict[str, Any] | None, inst: dict[str, Any] | None) -> list[str]:
    """Per set: which of the issue's targets the latest results meet."""
    def mark(r: dict[str, Any] | None, target: float) -> str:
        if not r:
            return "n/a"
        return f"{'✓' if r['ratio'] <= target else '✗'} {r['ratio']:.2f}×" + \
            ("!" if not r["all_ok"] else "")

    L = ["## Where each set stands", "",
         "From the latest dry-run and full-install results above/below (✓ met, ✗ not met).", "",
         "| set | dry cold ≤0.5× pip | dry warm ≤0.3× pip | dry ≤1.5× uv (cold / warm) "
         "| install ≤1.0× pip (cold / warm) | install ≤1.5× uv (cold / warm) |",
         "|---|---|---|---|---|---|"]
    sets = list(dry["dryrun"]["summary"]) if dry else []
    for x in (inst["install"]["summary"] if inst else {}):
        if x not in sets:
            sets.append(x)
    for item in sets:
        d = (dry["dryrun"]["summary"].get(item, {}).get("ratios", {}) if dry else {})
        i = (inst["install"]["summary"].get(item, {}).get("ratios", {}) if inst else {})
        L.append("| " + " | ".join([
            f"`{item}`", mark(d.get("pip_cold"), TARGET_COLD), mark(d.get("pip_warm"), TARGET_WARM),
            f"{mark(d.get('uv_cold'), AIM_UV)} / {mark(d.get('uv_warm'), AIM_UV)}",
            (f"{mark(i.get('pip_cold'), TARGET_INSTALL)} / {mark(i.get('pip_warm'), TARGET_INSTALL)}"
             if i else "not measured"),
            (f"{mark(i.get('uv_cold'), AIM_UV)} / {mark(i.get('uv_warm'), AIM_UV)}"
             if i else "not measured")]) + " |")
    return L + [""]


def base_tool_of(data: dict[str, Any] | None) -> str | None:
    b = (data or {}).get("baseline")
    return f"safe-install@{b['rev']}" if b else None


def stat(summary: dict[str, Any], item: str, tool: str | None, mode: str) -> dict[str, Any] | None:
    """The statistics of a tool's successful runs on an item, or None."""
    st = summary.get(item, {}).get(tool or "", {}).get(mode) if tool else None
    return st if st and st.get("ok") else None


def before_after(data: dict[str, Any], part: str, title: str) -> list[str]:
    """Current safe-install against the baseline revision, same run: time, memory, CPU, and
    whether the JSON reports are identical (and, for dry runs, whether the selection is
    pip's)."""
    base = base_tool_of(data)
    if not base or not data.get(part):
        return []
    summary, reports = data[part]["summary"], data[part].get("reports", {})
    b = data["baseline"]
    dry = part == "dryrun"
    L = [f"### {title}: before (`{base}`, commit `{b['commit'][:12]}`) and after "
         f"(`{data.get('git', {}).get('commit', '?')[:12]}`), same run", "",
         "| set | cache | before s | after s | after/before | peak RSS MB before → after "
         "| CPU s before → after | reports identical |" + (" selection = pip's (before / after) |"
                                                            if dry else ""),
         "|---|---|---:|---:|---:|---:|---:|---|" + ("---|" if dry else "")]
    differing: list[str] = []
    schema_keys: set[str] = set()
    for item in summary:
        for mode in MODES:
            x, y = stat(summary, item, base, mode), stat(summary, item, "safe-install", mode)
            if not x and not y and not summary.get(item, {}).get(base):
                continue
            ratio = f"{y['median_s'] / x['median_s']:.2f}×" if x and y else "n/a"
            rss = (f"{x['median_maxrss_mb']:.0f} → {y['median_maxrss_mb']:.0f}" if x and y else "–")
            cpu = (f"{x['median_cpu_s']:.2f} → {y['median_cpu_s']:.2f}" if x and y else "–")
            rep_ = reports.get(item, {}).get(mode, {})
            vs = rep_.get("vs_baseline")
            if not vs or not vs["compared"]:
                same = "not compared"
            elif vs["identical"]:
                same = "yes"
                if vs.get("empty_fields"):
                    schema_keys.update(vs["empty_fields"])
            else:
                same = "**no**" + (" (same selection)" if vs.get("same_selection")
                                   else " (**selection differs**)")
                differing.append(f"`{item}` {mode}: " + "; ".join(
                    f"`{d}`" for d in vs["differences"][:4]))
            unstable = [t for t, ok in rep_.get("stable_between_rounds", {}).items() if not ok]
            if unstable:
                same += f" (rounds differ: {', '.join(unstable)})"
            cells = [f"`{item}`", mode, fmt_time(summary.get(item, {}).get(base, {}).get(mode)),
                     fmt_time(summary.get(item, {}).get("safe-install", {}).get(mode)),
                     ratio, rss, cpu, same]
            if dry:
                par = rep_.get("parity", {})

                def pcell(t: str, par: dict[str, Any] = par) -> str:
                    e = par.get(t)
                    if not e:
                        return "–"
                    if e["same"]:
                        return f"yes ({e['count']})"
                    return (f"**no** (+{','.join(e['only_safe_install'][:3])} "
                            f"−{','.join(e['only_pip'][:3])})")
                cells.append(f"{pcell(base)} / {pcell('safe-install')}")
            L.append("| " + " | ".join(cells) + " |")
    if differing:
        L += ["", "Reports that differ (first differences: path in the normalised report, "
              "before → after):", ""] + [f"- {d}" for d in differing]
    all_same = not differing
    L += ["", f"Reports identical: **{'yes' if all_same else 'no'}**"
          + ("" if all_same else f" ({len(differing)} set/cache pairs differ, listed above)")
          + ". \"Same selection\": every package has the same version, file and decision."
          " Compared after removing " + ", ".join(f"`{k}`" for k in sorted(VOLATILE_KEYS))
          + ", replacing the run's temporary directory and the tool's own venv by placeholders"
          ", sorting the top-level `notes` and each package's `required_by`; each round's pair is compared."
          + (" Fields that one version's report has and the other's lacks, holding nothing"
             f" (null or empty), are not differences: {', '.join(f'`{k}`' for k in sorted(schema_keys))}."
             if schema_keys else ""), ""]
    return L


def growth_mark(g: float, pins: float) -> str:
    return f"{g:.2f}× {'✓' if g <= pins * 1.05 else '✗'}"


def scaling(data: dict[str, Any]) -> list[str]:
    """Time and peak RSS per lock size, cold and warm, with the growth factor from one size to
    the next beside the growth in pins (✓: linear or better, within 5 %)."""
    sc = data["scale"]
    tools = ["safe-install"] + ([base_tool_of(data)] if base_tool_of(data) else [])
    locks = sorted(sc["locks"], key=lambda lk: lk["count"])
    L = ["### Scaling: growth from one lock size to the next", "",
         "Growth = the figure at this size / the figure at the previous size, beside the growth "
         "in pins; ✓ when it is at most the pin growth (+5 %), i.e. linear or better.", "",
         "| tool | cache | pins (× pins) | wall s | × wall | peak RSS MB | × RSS | CPU s | × CPU |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for tool in tools:
        for mode in MODES:
            prev: tuple[int, dict[str, Any]] | None = None
            for lk in locks:
                st = stat(sc["summary"], str(lk["count"]), tool, mode)
                if not st:
                    L.append(f"| `{tool}` | {mode} | {lk['count']} | "
                             f"{fmt_time(sc['summary'].get(str(lk['count']), {}).get(tool, {}).get(mode))}"
                             " | | | | | |")
                    prev = None
                    continue
                if prev:
                    n0, s0 = prev
                    f = lk["count"] / n0
                    pins = f"{lk['count']} ({f:.2f}×)"
                    g = [growth_mark(st[k] / s0[k], f) if s0[k] else "–"
                         for k in ("median_s", "median_maxrss_mb", "median_cpu_s")]
                else:
                    pins, g = str(lk["count"]), ["", "", ""]
                L.append(f"| `{tool}` | {mode} | {pins} | {st['median_s']:.2f} | {g[0]} | "
                         f"{st['median_maxrss_mb']:.0f} | {g[1]} | {st['median_cpu_s']:.1f} | "
                         f"{g[2]} |")
                prev = (lk["count"], st)
    return L + [""]


def issue21_targets(dry: dict[str, Any] | None, inst: dict[str, Any] | None,
                    scale: dict[str, Any] | None) -> list[str]:
    """The targets of issue 21, met or missed, from the newest results of each part (and the
    baseline's figures beside them when that run had one)."""
    rows: list[tuple[str, str, str, str]] = []

    def ratio(summary: dict[str, Any], item: str, tool: str | None, other: str, mode: str,
              key: str = "median_s") -> float | None:
        a, b = stat(summary, item, tool, mode), stat(summary, item, other, mode)
        return a[key] / b[key] if a and b and b[key] else None

    def add(target: str, limit: float, data: dict[str, Any] | None, part: str, item: str,
            other: str | None, mode: str, key: str = "median_s", strict: bool = False) -> None:
        if not data or item not in data[part]["summary"]:
            rows.append((target, "not measured", "not measured", "–"))
            return
        summary = data[part]["summary"]
        vals: list[float | None] = []
        for tool in (base_tool_of(data), "safe-install"):
            if tool is None:
                vals.append(None)
            elif other:
                vals.append(ratio(summary, item, tool, other, mode, key))
            else:
                st = stat(summary, item, tool, mode)
                vals.append(st[key] if st else None)
        cells = [("–" if v is None else f"{v:.2f}×" if other else f"{v:.0f} MB") for v in vals]
        cur = vals[1]
        met = "–" if cur is None else (
            "✓ met" if (cur < limit if strict else cur <= limit) else "✗ missed")
        rows.append((target, cells[0], cells[1], met))

    if scale:
        big = str(max(lk["count"] for lk in scale["scale"]["locks"]))
        add(f"{big}-pin lock warm ≤ 3× uv", 3.0, scale, "scale", big, "uv", "warm")
        add(f"{big}-pin lock cold ≤ 6× uv", 6.0, scale, "scale", big, "uv", "cold")
        for mode in MODES:
            add(f"{big}-pin lock peak RSS < 300 MB ({mode})", 300.0, scale, "scale", big, None,
                mode, "median_maxrss_mb", strict=True)
    else:
        rows.append(("918-pin lock (scale part)", "not measured", "not measured", "–"))
    if dry:
        for item in dry["dryrun"]["summary"]:
            for mode in MODES:
                add(f"`{item}` {mode}: peak RSS ≤ pip's", 1.0, dry, "dryrun", item, "pip", mode,
                    "median_maxrss_mb")
        for item in ("fastapi-dispatch", "airflow-constrained"):
            add(f"`{item}` warm ≤ 1.2× uv", 1.2, dry, "dryrun", item, "uv", "warm")
            add(f"`{item}` cold ≤ 2× uv", 2.0, dry, "dryrun", item, "uv", "cold")
    for item in ("lib-yfinance", "cli-ansible"):
        for mode in MODES:
            add(f"`{item}` full install {mode} ≤ 0.7× pip", 0.7, inst, "install", item, "pip",
                mode)
    b = next((base_tool_of(x) for x in (dry, inst, scale) if base_tool_of(x)), None)
    L = ["## Issue 21 targets", "",
         "From the newest results of each part (dry run, full install, scale; the files are "
         "named in their sections). Ratios are safe-install's median over the other tool's, "
         "memory ratios compare the median peak RSS.", "",
         f"| target | before ({b or 'no baseline in that run'}) | after (safe-install) | "
         "after |", "|---|---:|---:|---|"]
    L += [f"| {t} | {x} | {y} | {m} |" for t, x, y, m in rows]
    return L + [""]


def history() -> list[str]:
    """safe-install/pip ratios of every result file, oldest first (the code changes)."""
    rows = []
    for path in sorted(RESULTS.glob("bench-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        commit = data.get("git", {}).get("commit", "?")[:10]
        if data.get("git", {}).get("src_dirty_files"):
            commit += "+dirty"
        for part in ("dryrun", "install"):
            if not data.get(part):
                continue
            cells = []
            for item, s in data[part]["summary"].items():
                r = s["ratios"]
                c, w = r.get("pip_cold"), r.get("pip_warm")
                cells.append(f"{item} {c['ratio']:.2f}/{w['ratio']:.2f}" if c and w
                             else f"{item} n/a")
            rows.append(f"| `{path.name}` | {commit} | {part} | {'; '.join(cells)} |")
        if data.get("scale"):
            sc = data["scale"]
            cells = []
            for lk in sc["locks"]:
                st = sc["summary"].get(str(lk["count"]), {}).get("safe-install", {})
                cells.append(f"{lk['count']} pins {fmt_time(st.get('cold'))}/"
                             f"{fmt_time(st.get('warm'))} s")
            rows.append(f"| `{path.name}` | {commit} | scale | {'; '.join(cells)} |")
    if not rows:
        return []
    return ["## History", "",
            "Every result file kept in `results/` (safe-install is being optimised while these are",
            "taken, so older rows measure older code). Dry run and install: safe-install/pip",
            "ratio cold/warm per set; scale: safe-install seconds cold/warm.", "",
            "| file | commit | part | figures |", "|---|---|---|---|", *rows, ""]


def write_readme() -> None:
    dry, inst, scale = latest_with("dryrun"), latest_with("install"), latest_with("scale")
    L: list[str] = []
    L += [
        "# Benchmarks",
        "",
        "`bench.py` times safe-install against the `pip install` it replaces and against uv, on the",
        "real-world requirement sets of `../tests/data/corpus/pypi/` (issue 6). This README is rewritten",
        "by `bench.py` after each run from the newest results of each part; the raw data of every",
        "run is in `results/bench-<UTC time>.json` (`results/latest.json` is the last run).",
        "",
        "## Rerun",
        "",
        "```sh",
        ".venv/bin/python benchmarks/bench.py                      # dry runs, every set, --repeat 3",
        ".venv/bin/python benchmarks/bench.py --sets cli-ansible,lib-yfinance,hashes-sigstore,flask-ctfd",
        ".venv/bin/python benchmarks/bench.py --no-dry-run --install cli-ansible,lib-yfinance",
        ".venv/bin/python benchmarks/bench.py --no-dry-run --scale   # locks of ~100/300/1000 pins",
        ".venv/bin/python benchmarks/bench.py --readme-only         # re-render this file",
        "# before/after in one run (issues 20, 21): safe-install at REV beside the checkout",
        ".venv/bin/python benchmarks/bench.py --baseline 0fb2dbf --sets fastapi-dispatch,airflow-constrained \\",
        "    --install cli-ansible,lib-yfinance --scale",
        "```",
        "",
        "`--baseline REV` builds safe-install as of git revision REV into a venv of its own",
        "(`git archive` of REV into `benchmarks/.work/baseline/<commit>`, installed non-editable",
        "with the clean pip environment below, its dependencies held at the versions of `.venv`",
        "by `pip freeze` constraints, so only safe-install's code differs) and runs it as a fourth",
        "tool, `safe-install@REV`, interleaved with the others in the dry-run, `--install` and",
        "`--scale` parts. Every safe-install run writes its JSON report (`--report FILE`, not",
        "/dev/null); the reports of the two revisions are compared after normalising",
        "(volatile keys such as `generated_at` dropped, the run's temporary directory and the",
        "tool's venv replaced by placeholders, top-level notes and each package's `required_by`",
        "sorted), and for the dry runs the",
        "`name==version` set selected is compared with pip's own `--report`. The normalised",
        "reports are kept in `benchmarks/.work/reports-run/<run>/` for inspection.",
        "",
        "Options: `--repeat N` (default 3), `--safe-install PATH`, `--pip PATH`, `--corpus DIR`,",
        "`--timeout S` (per command), `--scale-sizes 100,300,1000`, `--scale-repeat N`,",
        "`--quiet-wait S` / `--quiet-below CORES` (wait for a quiet machine before each command).",
        f"uv {UV_VERSION} is installed from PyPI into `benchmarks/.work/tools` (git-ignored, with the",
        "temporary cache directories and pip reports used to build the scale locks).",
        "",
        "## What is measured",
        "",
        "| tool | dry run (per set) | full install (fresh `python -m venv`, not timed) |",
        "|---|---|---|",
        "| safe-install (and `safe-install@REV`) | `safe-install --dry-run -I -q --on-late warn "
        "--on-unknown-upload-time warn --report FILE -r SET` | `safe-install --python "
        "VENV/bin/python -q --on-late warn --on-unknown-upload-time warn --report FILE -r SET` |",
        "| pip 26.3 | `pip install --dry-run --ignore-installed --quiet --report FILE -r SET` "
        "| `pip --python VENV/bin/python install -q -r SET` |",
        f"| uv {UV_VERSION} | `uv pip compile --python-version 3.11.7 --python-platform "
        "x86_64-manylinux_2_36 --python TARGET --index-url https://pypi.org/simple -q SET` "
        "| `uv pip install --python VENV/bin/python --index-url https://pypi.org/simple -q -r SET` |",
        "",
        "- All commands run from the corpus directory (airflow-constrained.txt has a relative `-c`),",
        "  one at a time, interleaved: in each of the `--repeat` rounds every tool runs cold, then",
        "  every tool warm, in an order rotated per round.",
        "- **cold**: fresh empty `SAFE_INSTALL_CACHE_DIR`, `PIP_CACHE_DIR`, `UV_CACHE_DIR`,",
        "  `XDG_CACHE_HOME`, `XDG_DATA_HOME` (safe-install's trust store) in a new temporary",
        "  directory. **warm**: the directories left by the tool's first cold run of that set (the",
        "  priming run, which is also one of the cold samples), reused.",
        "- Clean configuration for every command: `PIP_CONFIG_FILE=/dev/null`, every `PIP_*`,",
        "  `UV_*` and `SAFE_INSTALL_*` variable of the caller removed (this machine sets",
        "  `find-links`/`extra-index-url` to local mirrors in pip.conf and `PIP_FIND_LINKS`),",
        "  `UV_NO_CONFIG=1`, uv given `--index-url https://pypi.org/simple`. All three use PyPI only.",
        "- The safe-install policy is `warn` for late files and unknown upload times, so that a",
        "  finding does not end the run early: the checks are all done and timed.",
        "- Times are wall-clock medians in seconds over the successful runs. A failed run (non-zero",
        "  exit, or killed at `--timeout`) is not a time: a cell with failures says so",
        "  (`FAIL rc=…`, or `(k/n failed)`), and a ratio built on a set with a failure carries `!`.",
        "- Peak memory is `ru_maxrss` from `os.wait4` on the command: the peak RSS of the **largest",
        "  single process** of its process tree (children that were waited for), not the sum of",
        "  processes alive at once. CPU is user+system time of the whole tree. Each command is",
        "  started by a tiny `python -S` launcher that does the fork, exec and `wait4`: Linux",
        "  carries the RSS high-water mark of the address space a process had before exec into its",
        "  `ru_maxrss`, so a command forked straight from bench.py would report at least",
        "  bench.py's own RSS. (Files before 2026-11-26T08:00Z were taken without the launcher;",
        "  for their dry-run and install parts bench.py held ~21 MB, below every figure reported.)",
        "- The machine has 2 cores and other sessions' test suites may run on it. Before each",
        "  command the script waits (up to `--quiet-wait`, 15 s) until other processes use less",
        "  than 0.3 core, and it records for every run the CPU the rest of the machine used",
        "  meanwhile (`bg cores`: busy cores from /proc/stat minus the measured tree's CPU, averaged",
        "  over the run; the table shows the largest of the three tools' medians). Figures with a",
        "  `bg cores` well above 0 were taken on a shared machine and are slower than they should be.",
        "- The network is PyPI over the Internet: medians of 3 smooth it, but single figures move by",
        "  10–20 % between runs. Ratios within one run are the comparison that counts.",
        "- safe-install is installed editable in `.venv`: the code measured is the working tree",
        "  at the time (commit and uncommitted-diff hash are recorded). Its modules are",
        "  byte-compiled first (`compileall`), as `pip install` does for an installed package:",
        "  this machine sets `PYTHONDONTWRITEBYTECODE=1`, which would otherwise make every run",
        "  compile them from source (about 0.1 s; pip's and uv's own files are compiled).",
        "  Runs before 2026-11-26T11:00Z did not do this.",
        "",
        "Targets (issue 6), per set, in one run: dry run ≤ **0.5×** pip cold and ≤ **0.3×** pip warm;",
        "full checked install no slower than pip (≤ **1.0×**); aim: within **1.5×** of uv.",
        "",
        "## Where the time goes, and what makes safe-install fast",
        "",
        "The check is one Python process; on these sets it is bound by CPU (parsing multi-MB JSON",
        "pages, ranking files) more than by the network (the index answers in milliseconds), except",
        "  for cold reads of many wheels' metadata (about 30 ms per Range request here). So:",
        "",
        "- **Less work than pip.** Candidates are ranked release by release from the highest",
        "  (`selection.iter_ranked`), so the files of one or two releases are parsed and judged",
        "  instead of every file a project ever uploaded (boto3: 4,300 files). It is exactly pip's",
        "  order: a property test compares it with the eager ranking, and the network tests",
        "  compare the result with pip's own. The cyclic GC runs rarely (the parsed pages hold no",
        "  cycles; default thresholds cost a sixth to a quarter of the CPU).",
        "- **Concurrency ahead of the resolver.** As soon as a requirement is known, its page and",
        "  the metadata of the file pip would most likely take (narrowed by constraints) are",
        "  fetched by 16 threads (pages by 8 more), and so on down the tree; sdists are checked",
        "  and then built for their metadata in the background, several at once. A warm run",
        "  starts with the pages of the dependencies each package had last time (dependency",
        "  hints), not level by level.",
        "- **Never a whole wheel for metadata.** PEP 658 files where the index advertises them,",
        "  else HTTP range requests (usually one: the last 128 KiB; a miss is filled in one more,",
        "  never a byte twice), else the verified download. PEP 691 pages are decoded with",
        "  msgspec, each entry kept as its JSON bytes until its version is looked at.",
        "- **Start-up overlap, fewer pip start-ups.** `pip config list` (none with",
        "  `PIP_CONFIG_FILE=/dev/null`: pip then reads only `PIP_*`), the `--python` probe and,",
        "  for installs, the final `pip install` (waiting on its stdin for the checked list) start",
        "  while safe-install itself starts and checks; what is installed is listed by the target",
        "  interpreter itself, as pip's resolver sees it, not by `pip inspect`; the TLS context is",
        "  built in a thread; a quiet run never imports the terminal renderer. Wheels the resolver",
        "  takes download during the check (used only after it), the rest 8 at a time.",
        "- **Nothing file-heavy under a busy GIL.** While the page threads hold the GIL, every",
        "  syscall of a file operation in the main process waits to get it back, so an sdist's",
        "  build extracts its archive, copies its checked build files and removes its directory in",
        "  child processes (`safeinstall/treeops.py`), and reads `pyproject.toml`/`PKG-INFO` from",
        "  the archive inflated in one call. For the same reason, work moved from a run's end into",
        "  the page phase made warm runs slower (measured, reverted). The process ends without the",
        "  interpreter's teardown (0.25 s on the 918-pin lock).",
        "- **A large lock's pages off the run's GIL.** 180 MB of pages arrive as about 11,000 TLS",
        "  records, each a wait for the GIL the decoding of other pages holds. A run that expects",
        "  at least 50 projects (a lock, constraints) has two child processes",
        "  (`safeinstall/pagework.py`) fetch its pages with the run's own HTTP code and settings and",
        "  read them with its own fast path; the run gets each entry's version and only the kept",
        "  versions' entries, and builds the listing it would have built (anything else it fetches",
        "  or reads itself). Measured alternately with the previous commit: the 918-pin lock warm",
        "  4.4 -> 3.5 s and 250 -> 185 MB, fastapi-dispatch warm 1.72 -> 1.40 s. Cold runs are",
        "  bound by the sdist builds and gained nothing measurable from it.",
        "- **The floor.** Python's start-up and imports (the HTTP stack of `unearth`, `httpx2`,",
        "  `packaging`, `resolvelib`, ours) take about 0.15-0.2 s of CPU before the first page is",
        "  asked for: most of a run on the 8-30 package sets.",
        "- **Cached by content, never by time.** Wheel metadata (by the wheel's sha256), metadata",
        "  built from an sdist (sha256 + target), verified artifacts (sha256, re-hashed on use).",
        "  Index pages are fetched on every run (a file added an hour ago must be seen); the index",
        "  here sends no validators, so a warm run saves the metadata and builds, not the pages.",
        "  See [the cache reference](../docs/reference.md#cache).",
        "",
    ]
    if dry:
        L += ["## Dry run: latest results", "", provenance(dry), ""]
        L += md_table(dry["dryrun"]["summary"], install=False)
        L += ["", "### Peak memory (median MB, largest single process) and CPU (median s)", ""]
        L += md_memory(dry["dryrun"]["summary"])
        L += [""]
        L += before_after(dry, "dryrun", "Dry run")
    if dry or inst or scale:
        L += issue21_targets(dry, inst, scale)
    if dry or inst:
        L += standing(dry, inst)
    if inst:
        L += ["## Full install: latest results", "", provenance(inst), ""]
        L += md_table(inst["install"]["summary"], install=True)
        L += ["", "Dists installed = `*.dist-info` in the venv afterwards, counting the pip and",
              "setuptools that `python -m venv` put there: the three tools must agree.",
              "pip (and safe-install, which installs through pip) byte-compiles what it installs;",
              "`uv pip install` does not by default (`--compile-bytecode`), which is much of its",
              "lead on sets with big packages (pandas, scipy) and nearly all of it warm."]
        L += ["", "### Peak memory (median MB, largest single process) and CPU (median s)", ""]
        L += md_memory(inst["install"]["summary"])
        L += [""]
        L += before_after(inst, "install", "Full install")
    if scale:
        sc = scale["scale"]
        L += ["## Scale: dry run of a lock of N pins (`--no-deps`)", "", provenance(scale), ""]
        first = sc["locks"][0]
        L += [
            f"The corpus holds {first['distinct_in_corpus']} distinct projects: "
            f"{first['from_pip_reports']} from pip's resolutions of every set, the rest from the",
            "pins of airflow-constraints-3.11.txt. Of those constraint-only pins, "
            f"{len(first.get('dropped_without_wheel', []))} have no wheel for this target",
            "(sdists whose metadata build needs system tools, e.g. `gssapi==1.8.3` needs",
            f"`krb5-config`) and are left out, so the largest lock has {first.get('usable', '?')} "
            "pins. Each lock pins the highest version seen in the",
            "corpus for each project (nested random samples, seed 0); `--no-deps` because such a",
            "lock need not be consistent. Command: `safe-install --dry-run --no-deps -I -q --on-late",
            "warn --on-unknown-upload-time warn --report /dev/null -r LOCK`; `uv pip compile",
            "--no-deps` on the same lock for reference. (pip is left out: without usable PEP 658",
            "metadata here its dry run downloads every wheel, tensorflow's 490 MB included.)",
            "",
            "| pins | cache | safe-install s | s per 100 pins | peak RSS MB | CPU s | uv s | safe/uv "
            "| bg cores |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for lock in sc["locks"]:
            s = sc["summary"].get(str(lock["count"]), {})
            for mode in MODES:
                st = s.get("safe-install", {}).get(mode)
                ust = s.get("uv", {}).get(mode)
                per = (f"{100 * st['median_s'] / lock['count']:.2f}"
                       if st and st["ok"] else "–")
                L.append("| " + " | ".join([
                    str(lock["count"]), mode, fmt_time(st), per,
                    f"{st['median_maxrss_mb']:.0f}" if st and st["ok"] else "–",
                    f"{st['median_cpu_s']:.1f}" if st and st["ok"] else "–",
                    fmt_time(ust), fmt_ratio(s.get("ratios", {}).get("uv_" + mode)),
                    bg_cell(s, mode) if s else "–"]) + " |")
        L += [""]
        L += scaling(scale)
        L += before_after(scale, "scale", "Scale")
    profile = HERE / "scale_profile.md"  # written by scale_profile.py compare --write
    if profile.exists():
        L += profile.read_text().rstrip("\n").split("\n") + [""]
    L += history()
    README.write_text("\n".join(L))
    log(f"wrote {README}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    venv_bin = REPO / ".venv" / "bin"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", help="comma-separated set names (file stems) for the dry runs; "
                   "default: every *.txt of the corpus except airflow-constraints-3.11")
    p.add_argument("--repeat", type=int, default=3, help="rounds per set (default 3)")
    p.add_argument("--no-dry-run", action="store_true", help="skip the dry-run part")
    p.add_argument("--install", nargs="?", const=DEFAULT_INSTALL_SETS, default=None,
                   metavar="SET1,SET2", help="also time full installs into fresh venvs "
                   f"(default sets: {DEFAULT_INSTALL_SETS})")
    p.add_argument("--scale", action="store_true", help="also time locks of ~100/300/1000 pins")
    p.add_argument("--scale-sizes", default="100,300,1000")
    p.add_argument("--scale-repeat", type=int, default=None,
                   help="rounds for --scale (default: --repeat)")
    p.add_argument("--safe-install", default=str(venv_bin / "safe-install"))
    p.add_argument("--pip", default=str(venv_bin / "pip"))
    p.add_argument("--target-python", default=str(venv_bin / "python"),
                   help="interpreter whose environment is the target (venvs are made with it)")
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per command")
    p.add_argument("--quiet-wait", type=float, default=15.0, metavar="S",
                   help="before each command, wait up to S seconds for the machine to be quiet "
                   "(other processes using < --quiet-below cores over 1 s); 0 disables")
    p.add_argument("--quiet-below", type=float, default=0.3, metavar="CORES")
    p.add_argument("--baseline", metavar="REV",
                   help="also run safe-install as of this git revision (tool "
                   "'safe-install@REV', installed into .work/baseline/<commit>), interleaved "
                   "with the current one, and compare their JSON reports")
    p.add_argument("--readme-only", action="store_true", help="only re-render README.md")
    args = p.parse_args(argv)

    if args.readme_only:
        write_readme()
        return 0

    runner = Runner(args)
    corpus_sets = sorted(x.stem for x in runner.corpus.glob("*.txt")
                         if x.stem not in EXCLUDED_SETS)
    sets = [s.strip().removesuffix(".txt") for s in args.sets.split(",")] if args.sets \
        else corpus_sets
    for s in sets + ([x.strip() for x in args.install.split(",")] if args.install else []):
        if not (runner.corpus / f"{s}.txt").exists():
            p.error(f"no set {s!r} in {runner.corpus}")

    # safe-install is installed editable here and this machine sets PYTHONDONTWRITEBYTECODE=1:
    # its modules would be compiled from source on every run. pip byte-compiles what it
    # installs (pip's and uv's own modules have their .pyc), so compile ours as an install would.
    src = HERE.parent / "src"
    if src.is_dir():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=False)

    started = dt.datetime.now(dt.timezone.utc)
    data: dict[str, Any] = {
        "schema": 1,
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["benchmarks/bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "git": git_info(),
        "versions": runner.versions,
        "target": runner.target,
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform()},
        "args": vars(args),
        "env_note": "PIP_CONFIG_FILE=/dev/null; PIP_*/UV_*/SAFE_INSTALL_* removed; UV_NO_CONFIG=1",
    }
    for k, v in runner.versions.items():
        print(f"{k}: {v}")
    if runner.baseline:
        data["baseline"] = runner.baseline
    print(f"safe-install commit: {data['git'].get('commit')} "
          f"(uncommitted files in src/: {data['git'].get('src_dirty_files')})")
    print(f"uv target: --python-version {runner.target['python']} "
          f"--python-platform {runner.target['uv_python_platform']}")

    def cwd_of(_: str) -> Path:
        return runner.corpus

    if not args.no_dry_run:
        log(f"dry runs: {', '.join(sets)} × {args.repeat}")
        runs = runner.run_matrix("dryrun", sets, runner.safe_tools() + TOOLS[1:], args.repeat,
                                 lambda t, s, report: runner.dryrun_cmd(t, f"{s}.txt", report),
                                 cwd_of)
        data["dryrun"] = {"sets": sets, "repeat": args.repeat, "runs": runs,
                          "summary": summarise(runs),
                          "reports": compare_reports(runs, runner.base_tool, parity=True)}
        print_summary("dry run", data["dryrun"]["summary"],
                      {"pip_cold": TARGET_COLD, "pip_warm": TARGET_WARM,
                       "uv_cold": AIM_UV, "uv_warm": AIM_UV})

    if args.install:
        isets = [x.strip().removesuffix(".txt") for x in args.install.split(",")]
        log(f"full installs: {', '.join(isets)} × {args.repeat}")
        runs = runner.run_matrix(
            "install", isets, runner.safe_tools() + TOOLS[1:], args.repeat,
            lambda t, s, py, report: runner.install_cmd(t, f"{s}.txt", py, report), cwd_of,
            venv=True)
        data["install"] = {"sets": isets, "repeat": args.repeat, "runs": runs,
                           "summary": summarise(runs),
                           "reports": compare_reports(runs, runner.base_tool, parity=False)}
        print_summary("full install", data["install"]["summary"],
                      {"pip_cold": TARGET_INSTALL, "pip_warm": TARGET_INSTALL,
                       "uv_cold": AIM_UV, "uv_warm": AIM_UV})

    if args.scale:
        sizes = [int(x) for x in args.scale_sizes.split(",")]
        lock_dir = WORK / "locks"
        locks = build_locks(runner, sizes, lock_dir)
        by_count = {str(lk["count"]): lk["path"] for lk in locks}
        log(f"scale: locks of {', '.join(by_count)} pins "
            f"({locks[0]['distinct_in_corpus']} distinct projects in the corpus)")
        repeat = args.scale_repeat or args.repeat
        runs = runner.run_matrix("scale", list(by_count), runner.safe_tools() + ("uv",), repeat,
                                 lambda t, n, report: runner.scale_cmd(t, by_count[n], report),
                                 lambda _: lock_dir)
        summary = summarise(runs)
        data["scale"] = {"locks": locks, "repeat": repeat, "runs": runs, "summary": summary,
                         "reports": compare_reports(runs, runner.base_tool, parity=False)}
        print("\n== scale: safe-install --dry-run --no-deps on a lock of N pins ==")
        for lk in locks:
            s = summary.get(str(lk["count"]), {})
            for mode in MODES:
                st = s.get("safe-install", {}).get(mode)
                ust = s.get("uv", {}).get(mode)
                per = (f"{100 * st['median_s'] / lk['count']:.2f}s/100"
                       if st and st["ok"] else "")
                rss = f"{st['median_maxrss_mb']:.0f} MB" if st and st["ok"] else ""
                print(f"  {lk['count']:5d} pins {mode}: safe-install {fmt_time(st):>8s} {per:>11s}"
                      f" {rss:>8s}   uv {fmt_time(ust):>8s}")

    if not any(k in data for k in ("dryrun", "install", "scale")):
        p.error("nothing to do (--no-dry-run without --install or --scale)")
    if data.get("scale"):
        print("\n" + "\n".join(scaling(data)))
    for part, title in (("dryrun", "Dry run"), ("install", "Full install"), ("scale", "Scale")):
        if runner.baseline and data.get(part):
            print("\n" + "\n".join(before_after(data, part, title)))
    print("\n" + "\n".join(issue21_targets(data if data.get("dryrun") else None,
                                           data if data.get("install") else None,
                                           data if data.get("scale") else None)))
    data["finished_at"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["git_end"] = git_info()
    if data["git_end"] != data["git"]:
        print("note: safe-install's code (commit or src/ diff) changed during this run: "
              f"{data['git']} -> {data['git_end']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    text = json.dumps(data, indent=1) + "\n"
    out.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"\nresults: {out}")
    write_readme()
    failed = sum(not r["ok"] for part in ("dryrun", "install", "scale")
                 for r in data.get(part, {}).get("runs", []))
    if failed:
        print(f"{failed} run(s) failed: see stderr_tail in {out.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
