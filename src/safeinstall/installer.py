"""Install exactly the checked artifacts, through pip, pinned by hash, with no resolution left.

Every index artifact is downloaded once, verified against the index's sha256 and any trusted
hash, and stored by hash.  sdists (already checked) and local projects are built into wheels
first; then a single ``pip install --no-deps --no-index --require-hashes -r <checked.txt>`` gets
the local files with their sha256: pip cannot pick anything else, and cannot fetch anything.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from safeinstall.background import Background
from safeinstall.bytecode import FRESH_MARGIN, CompileFailed, Compiler, compiles_afterwards
from safeinstall.errors import IntegrityError, PipError, SafeInstallError
from safeinstall.pipconfig import PIP_COMMAND
from safeinstall.pipoptions import PipSettings, environ_without_pip
from safeinstall.process import kill_group

if TYPE_CHECKING:  # imported where used: the final pip starts before the check's imports
    from concurrent.futures import Future

    from safeinstall.artifacts import ArtifactCache
    from safeinstall.distmeta import CoreMetadata
    from safeinstall.models import IndexFile
    from safeinstall.results import CheckResult, PackageResult

T = TypeVar("T")

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


@dataclass(frozen=True)
class PipCall:
    """One way of running pip on the target: ``cmd`` followed by pip's arguments, with the
    environment ``env``."""

    cmd: tuple[str, ...]
    env: Mapping[str, str]


def pip_calls(target_python: str | None, env: Mapping[str, str]) -> list[PipCall]:
    """How to run pip (``PIP_COMMAND``) on ``target_python``, the fastest way first.

    ``pip --python PY ARGS`` starts pip in this interpreter only to re-run it under ``PY``:
    ``PY .../pip/__pip-runner__.py --python PY ARGS`` with ``_PIP_RUNNING_IN_SUBPROCESS=1``
    in its environment (pip's ``parse_command``). That re-run is started here directly,
    saving a whole pip start-up: the same pip, interpreter, arguments and environment, so
    the same install. The plain ``pip --python`` follows, for when ``PY`` is not a file pip
    would run itself (pip then says why) or cannot be started (see :func:`_start`)."""
    plain = PipCall(tuple(PIP_COMMAND) + (("--python", target_python) if target_python
                                          else ()), env)
    runner = _pip_runner() if target_python else None
    interpreter = _interpreter(target_python) if target_python else None
    if runner is None or interpreter is None or target_python is None:
        return [plain]
    direct = PipCall((interpreter, runner, "--python", target_python),
                     {**env, "_PIP_RUNNING_IN_SUBPROCESS": "1"})
    return [direct, plain]


def _pip_runner() -> str | None:
    """pip's ``__pip-runner__.py``, of the pip ``PIP_COMMAND`` runs: found as ``python -P -m
    pip`` finds it, on this interpreter's path less the script's or working directory that
    ``-P`` leaves out (None: pip is not a directory, e.g. a zip application)."""
    from importlib.machinery import PathFinder

    paths = sys.path if getattr(sys.flags, "safe_path", False) else sys.path[1:]
    spec = PathFinder.find_spec("pip", paths)
    if spec is None or not spec.origin or not spec.has_location:
        return None
    # as pip's get_runnable_pip(): the real directory of pip's package
    runner = os.path.join(os.path.dirname(os.path.realpath(spec.origin)), "__pip-runner__.py")
    return runner if os.path.isfile(runner) else None


def _interpreter(python: str) -> str | None:
    """The interpreter ``pip --python`` runs for ``python`` (pip's
    ``identify_python_interpreter``: a file as it is, a directory's ``bin/python`` or
    ``Scripts/python.exe``), if it can be run; None: left to pip."""
    candidates = [python]
    if os.path.isdir(python):
        candidates = [os.path.join(python, exe) for exe in ("bin/python", "Scripts/python.exe")]
    for exe in candidates:
        if os.path.exists(exe):
            return exe if os.path.isfile(exe) and os.access(exe, os.X_OK) else None
    return None


def _start(calls: Sequence[PipCall], args: Sequence[str],
           start: Callable[[list[str], dict[str, str]], T]) -> T:
    """``start(cmd, env)`` with the first of ``calls`` that can be started (an interpreter
    that exists may still not run: not an executable format, say); the last one's error is
    the caller's."""
    for call in calls[:-1]:
        try:
            return start([*call.cmd, *args], dict(call.env))
        except OSError:
            continue
    return start([*calls[-1].cmd, *args], dict(calls[-1].env))


class InstallInterrupted(SafeInstallError):
    """Ctrl-C or SIGTERM arrived while pip was changing the target; pip was let finish."""

    exit_code = 130


def _run(calls: Sequence[PipCall], args: Sequence[str], what: str, quiet: bool,
         stdout_to_stderr: bool = False, *, shield: bool = False,
         failed_hint: str | None = None) -> None:
    """Run pip (the first of ``calls`` that starts) with ``args``. With ``shield``, an
    interrupt (Ctrl-C, or SIGTERM, which the CLI turns into KeyboardInterrupt) does not kill
    pip half-way through changing the target: pip is waited for, and the interrupt is
    reported once it is done."""
    out = subprocess.DEVNULL if quiet else (sys.stderr.fileno() if stdout_to_stderr else None)

    def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        # its own process group: a Ctrl-C at the terminal reaches safe-install only (which
        # lets pip finish, or stops pip and everything it started, e.g. a build backend)
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True,
                                start_new_session=hasattr(os, "killpg"))

    proc = _start(calls, args, start)
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
                    kill_group(proc)
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
        common.append("--no-compile")  # last: it wins; compiled by bytecode.Compiler
    return common


class EarlyInstall(Background[None]):
    """The ``pip install`` of the checked files, started while the check is still running, so
    that pip's start-up (its imports, under the target interpreter: :func:`pip_calls`)
    overlaps with the check.

    pip reads its requirements file from its standard input (``-r /dev/stdin``): until the
    list of checked, verified files is written there it can do nothing but wait. If the run
    ends any other way (a refusal, an error, an interrupt, nothing to install) it is killed
    while still waiting; if safe-install itself is killed, pip reads an empty list and stops
    without installing anything. Where there is no ``/dev/stdin``, :func:`start_install`
    returns None and pip starts after the check."""

    def __init__(self, calls: Sequence[PipCall], args: Sequence[str],
                 stdout: int | None) -> None:
        super().__init__("install")

        def start(cmd: list[str], env: dict[str, str]) -> None:
            # its own process group, so that cancel() stops whatever pip started too (the
            # plain ``pip --python`` re-runs itself in a child process, and that child,
            # holding our stdout, must not be left waiting); an interrupt reaches
            # safe-install only, which then waits for pip if pip is already installing
            self.start_process(cmd, env=env, stdin=subprocess.PIPE, stdout=stdout,
                               new_session=True)

        _start(calls, args, start)

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
    args = ["install", "--no-deps", "--no-index", "--require-hashes", "-r",
            "/dev/stdin"] + _install_args(settings, passthrough)
    out = sys.stderr.fileno() if stdout_to_stderr else None
    return EarlyInstall(pip_calls(python, environ_without_pip(environ)), args, out)


def prepare(result: CheckResult, cache: ArtifactCache, settings: PipSettings,
            environ: Mapping[str, str], workdir: Path,
            progress: Callable[[str], None] = lambda _m: None, *,
            on_bytes: Callable[[int], None] | None = None) -> InstallPlan:
    """Download and verify every artifact; build sdists/local projects into wheels.
    ``on_bytes``: called with each amount of bytes downloaded (or found already there)."""
    from concurrent.futures import ThreadPoolExecutor

    from safeinstall.candidates import IndexCandidate

    calls = pip_calls(result.target.executable if settings.python else None,
                      environ_without_pip(environ))
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
                downloads[pkg.name] = pool.submit(_fetch_counted, cache, cand.file,
                                                  frozenset(pkg.trusted_hashes), on_bytes)
        return _assemble(result, settings, calls, workdir, progress, wanted, downloads)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _fetch_counted(cache: ArtifactCache, f: IndexFile, expected: frozenset[str],
                   on_bytes: Callable[[int], None] | None) -> Path:
    """``cache.fetch``, reporting bytes as they arrive; a file downloaded earlier in the run
    (or cached) counts once it is there. A retry starts from 0 again: counted only past the
    most reached before."""
    if on_bytes is None:
        return cache.fetch(f, expected=expected)
    seen = 0

    def step(done: int) -> None:
        nonlocal seen
        if done > seen:
            on_bytes(done - seen)
            seen = done

    path = cache.fetch(f, expected=expected, progress=step)
    size = f.size if f.size is not None else path.stat().st_size
    if size > seen:
        on_bytes(size - seen)
    return path


def _assemble(result: CheckResult, settings: PipSettings, calls: Sequence[PipCall],
              workdir: Path, progress: Callable[[str], None], wanted: list[PackageResult],
              downloads: Mapping[str, Future[Path]]) -> InstallPlan:
    """The plan, in the check's order: downloaded wheels, and wheels built from sdists."""
    from safeinstall.artifacts import sha256_file
    from safeinstall.buildenv import pip_build_args
    from safeinstall.builds import index_args
    from safeinstall.candidates import DirectCandidate, IndexCandidate

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
        args = ["wheel", "--no-deps", "--quiet", "-w", str(out)]
        if isinstance(cand, DirectCandidate) and cand.kind == "vcs":
            args += index_args(settings)  # unverifiable by the user's choice: pip clones it
        else:  # no index: only its checked build dependencies, pinned by sha256
            args += pip_build_args(result.build_envs.get(pkg.name),
                                   no_build_isolation=settings.no_build_isolation)
        args += [source]
        _run(calls, args, f"building {source}", quiet=True,
             failed_hint=_build_hint(result, pkg.name))
        made = sorted(out.glob("*.whl"))
        if len(made) != 1:
            raise PipError(f"building {source} produced {len(made)} wheels, expected one")
        wheels.append((pkg.name, made[0], sha256_file(made[0])))
        built.append(pkg.name)
    return InstallPlan(tuple(wheels), tuple(editables), tuple(built))


def _same_metadata(result: CheckResult, name: str, path: Path) -> None:
    """The wheel's own METADATA must declare what we resolved with (read via range/.metadata)."""
    from packaging.utils import canonicalize_name

    from safeinstall.distmeta import parse_metadata, read_wheel_metadata

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
            stdout_to_stderr: bool = False, early: EarlyInstall | None = None) -> list[str]:
    """Run pip on exactly the prepared files; returns warnings to show (bytecode).
    ``stdout_to_stderr`` keeps pip's output out of stdout when the JSON report goes there
    (``--report -``). ``early``: the pip process
    started for this by :func:`start_install` (it must have the same settings)."""
    env = environ_without_pip(environ)
    calls = pip_calls(result.target.executable if settings.python else None, env)
    common = _install_args(settings, passthrough)
    warnings: list[str] = []
    compile_error: CompileFailed | None = None
    if plan.wheels:
        text = "".join(f"{path} --hash=sha256:{digest}\n" for _name, path, digest in plan.wheels)
        what = "installing the checked artifacts"
        # what pip writes from now on is new (less a margin for coarse file timestamps)
        since = time.time() - FRESH_MARGIN
        # the wheels' code is compiled while pip installs them; the .pyc files are written
        # once pip has finished, never before
        with contextlib.ExitStack() as stack:
            compiler = stack.enter_context(Compiler(
                result.target.executable, [p for _n, p, _d in plan.wheels], settings, env,
                workdir=workdir)) if compiles_afterwards(settings, passthrough) else None
            if early is not None:
                early.finish(text, what)
            else:
                req = workdir / "checked-requirements.txt"
                req.write_text(text)
                _run(calls, ["install", "--no-deps", "--no-index", "--require-hashes", "-r",
                             str(req)] + common, what, quiet=False,
                     stdout_to_stderr=stdout_to_stderr, shield=True)
            if compiler is not None:
                try:
                    warnings += compiler.finish(since)
                except CompileFailed as exc:  # the editables are still installed, then this
                    compile_error = exc
    elif early is not None:
        early.cancel()
    editable_args = _install_args(settings, passthrough, editable=True)
    if plan.editables:
        from safeinstall.buildenv import pip_build_args
    for name, path in plan.editables:
        args = ["install", "--no-deps", "-e", path]
        args += pip_build_args(result.build_envs.get(name),
                               no_build_isolation=settings.no_build_isolation)
        args += [a for a in editable_args if a != "--no-build-isolation"]
        _run(calls, args, f"installing the editable project {path}", quiet=False,
             stdout_to_stderr=stdout_to_stderr, shield=True)
    if compile_error is not None:
        raise compile_error
    return warnings
