"""Install exactly the checked artifacts, through pip, pinned by hash, with no resolution left.

Every index artifact is downloaded once, verified against the index's sha256 and any trusted
hash, and stored by hash.  sdists (already checked) and local projects are built into wheels
first; then a single ``pip install --no-deps --no-index --require-hashes -r <checked.txt>`` gets
the local files with their sha256: pip cannot pick anything else, and cannot fetch anything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from safeinstall.artifacts import (
    ArtifactStore,
    CoreMetadata,
    parse_metadata,
    read_wheel_metadata,
    sha256_file,
)
from safeinstall.background import Background
from safeinstall.buildenv import pip_build_args
from safeinstall.builds import index_args
from safeinstall.errors import EXIT_PIP, IntegrityError, PipError, SafeInstallError
from safeinstall.models import IndexFile
from safeinstall.pipconfig import PIP_COMMAND
from safeinstall.pipoptions import PipSettings, environ_without_pip
from safeinstall.resolver import DirectCandidate, IndexCandidate
from safeinstall.results import CheckResult, PackageResult

#: Downloads of checked artifacts that run at once (as uv's default, a polite bound).
DOWNLOAD_WORKERS = 8


@dataclass(frozen=True)
class InstallPlan:
    wheels: tuple[tuple[str, Path, str], ...]  # (name, wheel path, sha256)
    editables: tuple[tuple[str, str], ...]  # (name, path)
    built_from_source: tuple[str, ...]


def location_args(s: PipSettings) -> list[str]:
    args: list[str] = []
    if s.foreign:  # pip checks the wheels' tags against the same restrictions
        for p in s.platforms:
            args += ["--platform", p]
        if s.python_version:
            args += ["--python-version", s.python_version]
        if s.implementation:
            args += ["--implementation", s.implementation]
        for a in s.abis:
            args += ["--abi", a]
    if s.target_dir:
        args += ["--target", s.target_dir]
    if s.prefix:
        args += ["--prefix", s.prefix]
    if s.user:
        args.append("--user")
    if s.root:
        args += ["--root", s.root]
    return args


def _pip(target_python: str | None) -> list[str]:
    cmd = list(PIP_COMMAND)
    if target_python:
        cmd += ["--python", target_python]
    return cmd


class InstallInterrupted(SafeInstallError):
    """Ctrl-C or SIGTERM arrived while pip was changing the target; pip was let finish."""

    exit_code = 130


def _run(cmd: Sequence[str], env: Mapping[str, str], what: str, quiet: bool,
         stdout_to_stderr: bool = False, *, shield: bool = False,
         failed_hint: str | None = None) -> None:
    """Run pip. With ``shield``, an interrupt (Ctrl-C, or SIGTERM, which the CLI turns into
    KeyboardInterrupt) does not kill pip half-way through changing the target: pip is waited
    for, and the interrupt is reported once it is done."""
    out = subprocess.DEVNULL if quiet else (sys.stderr.fileno() if stdout_to_stderr else None)
    # its own process group: a Ctrl-C at the terminal reaches safe-install only (which lets
    # pip finish, or stops pip and everything it started, e.g. a build backend)
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=out, stderr=subprocess.PIPE,
                            text=True, start_new_session=hasattr(os, "killpg"))
    _wait(proc, what, quiet, shield=shield, failed_hint=failed_hint)


def _build_hint(result: CheckResult, name: str) -> str:
    """What to say when building ``name`` fails: its build may have needed something the
    check did not see, and a lock may have left out a (late) wheel that needed no build."""
    parts = ["the checks passed; the build failed (see pip's message above). The build "
             "could reach only the checked build dependencies (no index): a build requirement "
             "it names that is not among them was not offered to it"]
    pkg = next((p for p in result.packages if p.name == name and not p.build_time), None)
    wheels = [(fn, why) for fn, why in (pkg.passed_over if pkg else ()) if fn.endswith(".whl")]
    if wheels and pkg is not None:
        parts.append(f"{pkg.filename} was built because these wheels of {name} "
                     f"{pkg.version} were not taken: "
                     + "; ".join(f"{fn} ({why})" for fn, why in wheels)
                     + f". If one was left out as late, review it and allow it with "
                     f"--allow-late '{name}=={pkg.version}'")
    return "\n".join(parts)


def _wait(proc: subprocess.Popen[str], what: str, quiet: bool, *, shield: bool,
          text: str | None = None, failed_hint: str | None = None) -> None:
    """Wait for pip (writing ``text`` to its standard input first, if given)."""
    interrupted = False
    with proc:
        while True:
            try:
                # after an interrupt, communicate() goes on writing what is left of ``text``
                _, stderr = proc.communicate(None if interrupted else text)
                break
            except KeyboardInterrupt:
                if not shield:
                    _kill_group(proc)
                    raise
                interrupted = True
    if interrupted:
        raise InstallInterrupted(
            f"interrupted while pip was {what}; pip was allowed to finish (exit "
            f"{proc.returncode}) so that the environment is not left half-installed",
            hint="check the environment with `pip list`; run safe-install again to complete "
            "the installation",
        )
    if proc.returncode != 0:
        raise PipError(f"pip failed while {what} (exit {proc.returncode}):\n"
                       f"{(stderr or '').strip()[-3000:]}",
                       hint=failed_hint or
                       "the checks passed; the failure is pip's - see its message above")
    if stderr and not quiet:  # pip names our files, whose names come from an index
        from safeinstall.display import printable

        sys.stderr.write(printable(stderr, keep_newlines=True))


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Stop ``proc`` and, when it leads a process group of its own, everything it started."""
    try:
        if hasattr(os, "killpg") and os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _install_args(settings: PipSettings, passthrough: Sequence[str], *,
                  editable: bool = False) -> list[str]:
    """pip's arguments for installing the checked wheels (``editable``: for an editable
    project, which pip byte-compiles itself, as the user asked)."""
    common = location_args(settings) + list(passthrough)
    if settings.verbosity < 0:
        common += ["-" + "q" * -settings.verbosity]
    elif settings.verbosity > 0:
        common += ["-" + "v" * settings.verbosity]
    if settings.force_reinstall:
        common.append("--force-reinstall")
    if settings.ignore_installed:
        common.append("--ignore-installed")
    if not editable and compiles_afterwards(settings, passthrough):
        common.append("--no-compile")  # last: it wins; compiled by compile_installed()
    return common


def compiles_afterwards(settings: PipSettings, passthrough: Sequence[str]) -> bool:
    """Whether the installed wheels are byte-compiled after pip (which then runs with
    ``--no-compile``), in parallel, by :func:`compile_installed`.

    Only when the user wants bytecode (pip's default ``--compile``; the last of
    ``--compile``/``--no-compile`` wins, as in pip), and for the install locations where the
    new ``.dist-info`` directories can be found without recomputing pip's install scheme:
    the target interpreter's own (``sys.path``, the user site: default and ``--user``) and
    ``--target``. Under ``--prefix`` or ``--root`` pip compiles, as it always did."""
    from safeinstall.cmdline import OPTIONS

    takes_value = {n for o in OPTIONS if o.kind == "value" for n in o.names}
    wanted = True
    args = iter(passthrough)
    for arg in args:
        if arg in takes_value:
            next(args, None)  # a value, e.g. a log file named "--no-compile"
        elif arg == "--compile":
            wanted = True
        elif arg == "--no-compile":
            wanted = False
    return wanted and not (settings.prefix or settings.root)


class EarlyInstall(Background[None]):
    """The ``pip install`` of the checked files, started while the check is still running, so
    that pip's start-up (imports, and its re-run under ``--python``) overlaps with the check.

    pip reads its requirements file from its standard input (``-r /dev/stdin``, which its
    re-run under ``--python`` inherits): until the list of checked, verified files is written
    there it can do nothing but wait. If the run ends any other way (a refusal, an error, an
    interrupt, nothing to install) it is killed while still waiting; if safe-install itself
    is killed, pip reads an empty list and stops without installing anything. Where there is
    no ``/dev/stdin``, :func:`start_install` returns None and pip starts after the check."""

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str], stdout: int | None) -> None:
        super().__init__("install")
        # its own process group, so that cancel() stops pip's child too (under --python, pip
        # re-runs itself in a child process, and that child, holding our stdout, must not be
        # left waiting); an interrupt reaches safe-install only, which then waits for pip if
        # pip is already installing
        self.start_process(cmd, env=env, stdin=subprocess.PIPE, stdout=stdout,
                           new_session=True)

    def finish(self, text: str, what: str) -> None:
        """Hand pip the list, and wait for it to install (interrupts wait for pip, as in
        :func:`_run`)."""
        assert self.proc is not None
        _wait(self.proc, what, quiet=False, shield=True, text=text)

    def cancel(self) -> None:
        """Stop pip if it is still waiting for its list (a no-op once it was waited for)."""
        self.close()


def start_install(python: str | None, settings: PipSettings, environ: Mapping[str, str],
                  passthrough: Sequence[str], *,
                  stdout_to_stderr: bool = False) -> EarlyInstall | None:
    """Start :class:`EarlyInstall` for the ``--python`` value as given (pip resolves it, as
    for ``pip --python``), where the platform has ``/dev/stdin`` and process groups."""
    if not (os.path.exists("/dev/stdin") and hasattr(os, "killpg")):
        return None
    target_python = python
    cmd = _pip(target_python) + ["install", "--no-deps", "--no-index", "--require-hashes",
                                 "-r", "/dev/stdin"] + _install_args(settings, passthrough)
    out = sys.stderr.fileno() if stdout_to_stderr else None
    return EarlyInstall(cmd, environ_without_pip(environ), out)


def prepare(result: CheckResult, store: ArtifactStore, settings: PipSettings,
            environ: Mapping[str, str], workdir: Path,
            progress: Callable[[str], None] = lambda _m: None, *,
            on_bytes: Callable[[int], None] | None = None) -> InstallPlan:
    """Download and verify every artifact; build sdists/local projects into wheels.
    ``on_bytes``: called with each amount of bytes downloaded (or found already there)."""
    env = environ_without_pip(environ)
    target_python = result.target.executable if settings.python else None
    wanted = [pkg for pkg in result.packages if pkg.decision == "install" and not pkg.build_time]
    # every index artifact is downloaded (and verified) concurrently, a bounded few at a time
    pool = ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS,
                              thread_name_prefix="safe-install-download")
    downloads: dict[str, Future[Path]] = {}
    try:
        for pkg in wanted:
            cand = result.plan[pkg.name]
            if isinstance(cand, IndexCandidate):
                progress(f"downloading {cand.file.filename}")
                downloads[pkg.name] = pool.submit(_fetch_counted, store, cand.file,
                                                  frozenset(pkg.trusted_hashes), on_bytes)
        return _assemble(result, settings, env, workdir, progress, target_python, wanted,
                         downloads)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _fetch_counted(store: ArtifactStore, f: IndexFile, expected: frozenset[str],
                   on_bytes: Callable[[int], None] | None) -> Path:
    """``store.fetch``, reporting bytes as they arrive; a file downloaded earlier in the run
    (or cached) counts once it is there. A retry starts from 0 again: counted only past the
    most reached before."""
    if on_bytes is None:
        return store.fetch(f, expected=expected)
    seen = 0

    def step(done: int) -> None:
        nonlocal seen
        if done > seen:
            on_bytes(done - seen)
            seen = done

    path = store.fetch(f, expected=expected, progress=step)
    size = f.size if f.size is not None else path.stat().st_size
    if size > seen:
        on_bytes(size - seen)
    return path


def _assemble(result: CheckResult, settings: PipSettings, env: dict[str, str], workdir: Path,
              progress: Callable[[str], None], target_python: str | None,
              wanted: list[PackageResult], downloads: Mapping[str, Future[Path]],
              ) -> InstallPlan:
    """The plan, in the check's order: downloaded wheels, and wheels built from sdists."""
    wheels: list[tuple[str, Path, str]] = []
    editables: list[tuple[str, str]] = []
    built: list[str] = []
    for pkg in wanted:
        cand = result.plan[pkg.name]
        if isinstance(cand, IndexCandidate):
            f = cand.file
            path = downloads[pkg.name].result()
            if f.is_wheel:
                _same_metadata(result, pkg.name, path)
                wheels.append((pkg.name, path, sha256_file(path)))
                continue
            source = str(path)
        elif isinstance(cand, DirectCandidate):
            if cand.kind == "editable":
                editables.append((pkg.name, cand.local_path or cand.url))
                continue
            if cand.local_path and cand.local_path.endswith(".whl"):
                wheels.append((pkg.name, Path(cand.local_path), sha256_file(Path(cand.local_path))))
                continue
            source = cand.local_path or cand.url
        else:
            continue
        progress(f"building a wheel from {os.path.basename(source)}")
        out = Path(tempfile.mkdtemp(dir=workdir))
        cmd = _pip(target_python) + ["wheel", "--no-deps", "--quiet", "-w", str(out)]
        if isinstance(cand, DirectCandidate) and cand.kind == "vcs":
            cmd += index_args(settings)  # unverifiable by the user's choice: pip clones it
        else:  # no index: only its checked build dependencies, pinned by sha256
            cmd += pip_build_args(result.build_envs.get(pkg.name),
                                  no_build_isolation=settings.no_build_isolation)
        cmd += [source]
        _run(cmd, env, f"building {source}", quiet=True,
             failed_hint=_build_hint(result, pkg.name))
        made = sorted(out.glob("*.whl"))
        if len(made) != 1:
            raise PipError(f"building {source} produced {len(made)} wheels, expected one")
        wheels.append((pkg.name, made[0], sha256_file(made[0])))
        built.append(pkg.name)
    return InstallPlan(tuple(wheels), tuple(editables), tuple(built))


def _same_metadata(result: CheckResult, name: str, path: Path) -> None:
    """The wheel's own METADATA must declare what we resolved with (read via range/.metadata)."""
    used = result.metadata.get(name)
    # "cache" is checked too: the cached copy may have come from a .metadata file or a range
    # read in an earlier run
    if used is None or used.source == "wheel":
        return
    own = parse_metadata(read_wheel_metadata(path, name), path.name)[0]

    def fields(m: CoreMetadata) -> dict[str, object]:
        return {
            "Name": canonicalize_name(m.name),
            "Version": m.version.strip(),
            "Requires-Dist": sorted(r.strip() for r in m.requires_dist),
            "Requires-Python": (m.requires_python or "").strip(),
            "Provides-Extra": sorted(canonicalize_name(e) for e in m.provides_extra),
        }

    theirs, ours = fields(used), fields(own)
    differ = [k for k in theirs if theirs[k] != ours[k]]
    if differ:
        raise IntegrityError(
            f"{path.name}: the metadata served separately ({used.source}) differs from the "
            f"wheel's own METADATA in {', '.join(differ)}",
            hint="the index served inconsistent data, and the resolution was done with the "
            "wrong one; nothing was installed",
        )


def install(plan: InstallPlan, result: CheckResult, settings: PipSettings,
            environ: Mapping[str, str], workdir: Path, passthrough: Sequence[str], *,
            stdout_to_stderr: bool = False, early: EarlyInstall | None = None) -> None:
    """Run pip on exactly the prepared files. ``stdout_to_stderr`` keeps pip's output out of
    stdout when the JSON report goes there (``--report -``). ``early``: the pip process
    started for this by :func:`start_install` (it must have the same settings)."""
    env = environ_without_pip(environ)
    target_python = result.target.executable if settings.python else None
    common = _install_args(settings, passthrough)
    if plan.wheels:
        text = "".join(f"{path} --hash=sha256:{digest}\n" for _name, path, digest in plan.wheels)
        what = "installing the checked artifacts"
        # what pip writes from now on is new (less a margin for coarse file timestamps)
        since = time.time() - FRESH_MARGIN
        if early is not None:
            early.finish(text, what)
        else:
            req = workdir / "checked-requirements.txt"
            req.write_text(text)
            cmd = _pip(target_python) + ["install", "--no-deps", "--no-index",
                                         "--require-hashes", "-r", str(req)] + common
            _run(cmd, env, what, quiet=False, stdout_to_stderr=stdout_to_stderr, shield=True)
        if compiles_afterwards(settings, passthrough):  # pip has finished: never before
            compile_installed(result.target.executable, [p for _n, p, _d in plan.wheels],
                              settings, env, since)
    elif early is not None:
        early.cancel()
    editable_args = _install_args(settings, passthrough, editable=True)
    for name, path in plan.editables:
        cmd = _pip(target_python) + ["install", "--no-deps", "-e", path]
        cmd += pip_build_args(result.build_envs.get(name),
                              no_build_isolation=settings.no_build_isolation)
        cmd += [a for a in editable_args if a != "--no-build-isolation"]
        _run(cmd, env, f"installing the editable project {path}", quiet=False,
             stdout_to_stderr=stdout_to_stderr, shield=True)


# ---------------------------------------------------------------------------------------------
# Byte-compiling what pip installed, in parallel (pip itself compiles file after file)

#: Seconds subtracted from the clock before pip installs: a file pip writes is "new" when its
#: modification time is not older than that (file systems round times down, up to 2 s on FAT).
FRESH_MARGIN = 2.0


class CompileFailed(SafeInstallError):
    """The checked artifacts were installed, but byte-compiling them afterwards failed (exit 4,
    as a pip failure)."""

    exit_code = EXIT_PIP


#: Runs under the target interpreter (Python 3.9 or newer), with nothing of ours importable.
#: Reads ``{"infos": [dist-info dir names], "since": time, "target": dir or null}`` on stdin;
#: writes one JSON object on stdout. Exactly what pip does with ``--compile`` (pip's
#: ``_install_wheel``): every ``.py`` file of the new RECORD that is a file is compiled with
#: ``compileall.compile_file(path, force=True, quiet=True)``, warnings ignored, failures
#: tolerated; each ``.pyc`` written is added to RECORD as ``(path relative to the
#: site-packages directory, "", "")`` and RECORD is rewritten sorted, as pip writes it.
_COMPILE_SCRIPT = r"""
import sys
if sys.path and sys.path[0] == "":
    # python -c puts the working directory first; pip's runner does not. Removed before any
    # other import, so that a json.py (say) in the working directory is never run.
    del sys.path[0]
import compileall, csv, functools, importlib.util, json, os, site, stat, sysconfig, tempfile
import warnings


def lib_dirs(target):
    if target is not None:
        dirs = [target]
    else:
        paths = sysconfig.get_paths()
        dirs = [paths.get("purelib"), paths.get("platlib")]
        try:
            dirs.append(site.getusersitepackages())
        except Exception:
            pass
        dirs += sys.path
    seen, out = set(), []
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        key = os.path.normcase(os.path.realpath(d))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def fresh(path, since):
    try:
        return os.stat(path).st_mtime >= since
    except OSError:
        return False


def record_path(path, lib):
    # pip's _fs_to_record_path
    if os.path.splitdrive(path)[0].lower() == os.path.splitdrive(lib)[0].lower():
        path = os.path.relpath(path, lib)
    return path.replace(os.path.sep, "/")


def read_rows(record):
    with open(record, encoding="utf-8", newline="") as f:
        return list(csv.reader(f.read().splitlines()))


def workers():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def compile_all(paths):
    compile_one = functools.partial(compileall.compile_file, force=True, quiet=True)
    n = workers()
    if n > 1 and len(paths) > 8:
        try:
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(max_workers=min(n, 32)) as pool:
                chunk = max(1, min(16, len(paths) // (n * 4)))
                return [bool(ok) for ok in pool.map(compile_one, paths, chunksize=chunk)]
        except Exception:  # no process pool here (e.g. no semaphores): one after another
            pass
    return [bool(compile_one(p)) for p in paths]


def main():
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # compile_file's messages (and the workers') go to stderr, as pip's log
    warnings.filterwarnings("ignore")
    request = json.loads(sys.stdin.read())
    since = request["since"]
    target = request["target"]
    libs = lib_dirs(target)
    found, missing, stale = [], [], []
    for info in request["infos"]:
        records = [os.path.join(lib, info, "RECORD") for lib in libs]
        new = [(lib, r) for lib, r in zip(libs, records) if fresh(r, since)]
        if new:
            found += new
        elif any(os.path.exists(r) for r in records):
            stale.append(info)  # pip did not install it (e.g. --target without --upgrade)
        else:
            missing.append(info)
    jobs = {}  # .py path -> [(directory RECORD paths are relative to, RECORD)]
    for lib, record in found:
        seen = set()
        for row in read_rows(record):
            if not row or not row[0].endswith(".py") or row[0] in seen:
                continue
            seen.add(row[0])
            base = lib
            if target is not None and row[0].startswith("../"):
                # pip installed into DIR/lib/python of a temporary home, then moved its
                # bin/ (scripts) and data into the target: where the file is now
                if os.name != "posix":
                    continue
                base = os.path.join(lib, "lib", "python")
                path = os.path.normpath(os.path.join(base, row[0]))
                if not path.startswith(os.path.join(lib, "")):
                    continue  # not in the target directory
            else:
                path = os.path.join(lib, row[0])
            # a file pip wrote in this install (not one it left, or one of another install)
            if os.path.isfile(path) and fresh(path, since):
                jobs.setdefault(path, []).append((base, record))
    paths = sorted(jobs)
    results = compile_all(paths)
    added = {record: [] for _lib, record in found}
    compiled = 0
    for path, ok in zip(paths, results):
        pyc = importlib.util.cache_from_source(path)
        if not ok or not os.path.exists(pyc):
            continue
        compiled += 1
        for base, record in jobs[path]:
            added[record].append((record_path(pyc, base), "", ""))
    for record, rows in added.items():
        if not rows:
            continue
        mode = stat.S_IMODE(os.stat(record).st_mode)
        rows = sorted((r[0], r[1] if len(r) > 1 else "", r[2] if len(r) > 2 else "")
                      for r in read_rows(record) + rows)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(record), prefix="RECORD.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows(rows)
            os.chmod(tmp, mode)
            os.replace(tmp, record)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    json.dump({"found": [r for _l, r in found], "missing": missing, "stale": stale,
               "compiled": compiled, "failed": len(paths) - compiled}, out)
    out.close()


main()
"""


def dist_info_dir(wheel: Path) -> str | None:
    """The ``.dist-info`` directory of ``wheel`` (the one top-level one, as pip requires),
    which pip installs under that very name."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            tops = {n.split("/", 1)[0] for n in archive.namelist() if "/" in n}
    except (OSError, zipfile.BadZipFile):
        return None
    infos = [t for t in tops if t.endswith(".dist-info")]
    return infos[0] if len(infos) == 1 else None


def compile_installed(python: str, wheels: Sequence[Path], settings: PipSettings,
                      env: Mapping[str, str], since: float) -> None:
    """Byte-compile what pip just installed from ``wheels`` (with ``--no-compile``), as pip
    would have, on every core: run by the target interpreter ``python``, so that the
    ``.pyc`` files are the ones it reads; the same environment as pip's (so the same
    optimization level, ``SOURCE_DATE_EPOCH`` invalidation mode and ``PYTHONPYCACHEPREFIX``).

    Where: the ``.dist-info`` directories of these wheels, by their exact names, in the target
    interpreter's install directories (``--target``: that directory only) whose RECORD pip
    wrote in this install (modified since ``since``); of their RECORD, only the ``.py`` files
    pip wrote in this install. A file that does not compile is left as pip leaves it (no
    ``.pyc``, not an error). A distribution that cannot be found is left uncompiled, with a
    warning (Python compiles it on first import)."""
    infos = [i for i in (dist_info_dir(w) for w in wheels) if i is not None]
    if not infos:
        return
    target = os.path.abspath(settings.target_dir) if settings.target_dir else None
    request = json.dumps({"infos": infos, "since": since, "target": target})
    try:
        proc = subprocess.Popen([python, "-c", _COMPILE_SCRIPT], env=dict(env),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                start_new_session=hasattr(os, "killpg"))
    except OSError as exc:
        raise CompileFailed(_compile_failed(f"cannot run {python}: {exc.strerror}")) from None
    with proc:
        try:
            stdout, stderr = proc.communicate(request)
        except KeyboardInterrupt:  # .pyc files and RECORD are each replaced atomically
            _kill_group(proc)
            raise
    from safeinstall.display import printable

    try:
        summary = json.loads(stdout) if proc.returncode == 0 else None
    except ValueError:
        summary = None
    if not isinstance(summary, dict):
        raise CompileFailed(_compile_failed(
            f"{python} exited with {proc.returncode}:\n{printable(stderr.strip()[-3000:])}"),
            hint="the installed packages work without bytecode (Python compiles a module when "
            "it first imports it); `python -m compileall` compiles them, or pass --no-compile")
    if settings.verbosity >= 2 and stderr.strip():  # pip logs compile errors at debug level
        sys.stderr.write(printable(stderr, keep_newlines=True))
    if summary.get("missing") and not target and settings.verbosity > -2:
        names = ", ".join(printable(str(m)) for m in summary["missing"])
        sys.stderr.write(f"safe-install: warning: not byte-compiled: {names} (not found in the "
                         f"install directories of {python}); Python compiles its modules when "
                         "it first imports them\n")


def _compile_failed(detail: str) -> str:
    return ("the checked artifacts were installed (pip --no-compile), but byte-compiling "
            f"them afterwards failed: {detail}")
