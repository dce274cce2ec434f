"""Build environments that receive exactly the checked files.

Building an sdist (or the user's own project) runs its build backend, and first installs its
build requirements into an isolated environment: code that runs with the user's rights before
anything is installed. pip resolves those requirements again, in a subprocess that inherits the
outer command's index options. safe-install therefore never lets a build reach an index:

* each build environment gets a directory holding exactly the files the check selected and
  passed (hard links or copies of the verified downloads), and a constraints file pinning each
  of them by version and sha256 (:class:`BuildEnv`);
* every pip run that builds gets ``--no-index --find-links DIR --build-constraint FILE``
  (:func:`pip_build_args`): pip hands these to the build environment's own pip run, and to
  nested builds;
* requirements the backend adds at build time (``get_requires_for_build_wheel``, PEP 517) are
  asked for in an environment made of the checked static requirements only
  (:func:`dynamic_requirements`); the caller resolves and checks them before anything is built.

Nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from safeinstall import treeops
from safeinstall.backendhooks import HOOK_SCRIPT, BackendHooks
from safeinstall.errors import IndexAccessError, PipError
from safeinstall.pipconfig import PIP_COMMAND
from safeinstall.pipoptions import environ_without_pip

#: pip's backend when pyproject.toml names none.
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


@dataclass(frozen=True)
class BuildPin:
    """One checked file a build environment may receive."""

    name: str
    version: str
    sha256: str
    filename: str
    path: str  # the verified download


@dataclass(frozen=True)
class BuildEnv:
    """What one build environment may receive: ``files``, a directory holding exactly the
    checked files, and ``constraints``, a pip constraints file pinning each by version and
    sha256 (pip's ``--build-constraint``)."""

    files: str
    constraints: str
    pins: tuple[BuildPin, ...]  # its own: the resolution of its build requirements
    nested: tuple[BuildPin, ...] = ()  # for the builds of sdists among ``pins``

    def satisfies(self, text: str, environment: Mapping[str, str]) -> bool:
        """Whether the requirement ``text`` is met by a pinned file (markers evaluated for
        the target). A requirement with extras is never taken as met: its extras may need
        more than what is pinned."""
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return False
        if req.marker is not None and not req.marker.evaluate({**environment, "extra": ""}):
            return True
        if req.extras or req.url:
            return False
        name = canonicalize_name(req.name)
        return any(canonicalize_name(p.name) == name
                   and req.specifier.contains(p.version, prereleases=True)
                   for p in self.pins)


def pip_build_args(env: BuildEnv | None, *, no_build_isolation: bool = False) -> list[str]:
    """The options of a pip run that builds: it may reach no index, only the checked files.
    With ``no_build_isolation`` (as in pip) nothing is installed for the build: the build
    requirements come from the target environment."""
    if no_build_isolation:
        return ["--no-index", "--no-build-isolation"]
    if env is None:
        return ["--no-index"]
    return ["--no-index", "--find-links", env.files, "--build-constraint", env.constraints]


def materialize(directory: Path, pins: Sequence[BuildPin],
                nested: Sequence[BuildPin] = ()) -> BuildEnv:
    """Write ``directory/files`` (the checked files) and ``directory/constraints.txt``.
    ``nested``: the files of build environments of sdists among ``pins`` (pip builds those
    with the same options); one is added only if its project is not pinned already."""
    files = directory / "files"
    files.mkdir(parents=True, exist_ok=False)
    chosen = list(pins)
    extra: list[BuildPin] = []
    names = {canonicalize_name(p.name) for p in pins}
    for p in nested:
        if canonicalize_name(p.name) not in names and p not in extra:
            extra.append(p)
    chosen += extra
    by_name: dict[tuple[str, str], list[str]] = {}
    for p in chosen:
        target = files / p.filename
        if not target.exists():
            try:
                os.link(p.path, target)
            except OSError:
                shutil.copyfile(p.path, target)
        by_name.setdefault((canonicalize_name(p.name), p.version), []).append(p.sha256)
    lines = []
    for (name, version), hashes in sorted(by_name.items()):
        lines.append(f"{name}=={version} " + " ".join(f"--hash=sha256:{h}"
                                                       for h in sorted(set(hashes))) + "\n")
    constraints = directory / "constraints.txt"
    constraints.write_text("".join(lines), encoding="utf-8")
    return BuildEnv(str(files), str(constraints), tuple(pins), tuple(extra))


# -- requirements a backend adds at build time ---------------------------------------------------


def backend_of(source: Path) -> tuple[str, tuple[str, ...]]:
    """``[build-system] build-backend`` and ``backend-path`` of an sdist or project
    directory, read without running it (pip's legacy setuptools backend when none)."""
    from safeinstall.distmeta import read_member as _read_member

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    data = _read_member(source, "pyproject.toml")
    if data is None:
        return LEGACY_BACKEND, ()
    try:
        table = tomllib.loads(data.decode("utf-8")).get("build-system")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IndexAccessError(f"{source.name}: pyproject.toml is not valid TOML ({exc})",
                               hint="the sdist is broken; pin another version") from None
    if not isinstance(table, dict):
        return LEGACY_BACKEND, ()
    backend = table.get("build-backend")
    path = table.get("backend-path", [])
    if backend is None:
        return LEGACY_BACKEND, ()
    if not isinstance(backend, str) or not isinstance(path, list) \
            or not all(isinstance(p, str) for p in path):
        raise IndexAccessError(f"{source.name}: [build-system] build-backend or backend-path "
                               "is not valid", hint="the sdist is broken; pin another version")
    return backend, tuple(path)


#: how a child process runs :mod:`safeinstall.treeops` (isolated: only the standard library)
_TREEOPS = [sys.executable, "-I", "-S", treeops.__file__]


def _start_treeop(*args: str) -> subprocess.Popen[bytes] | None:
    """A child process doing one :func:`treeops.main` operation, or None if it cannot start."""
    if not _TREEOPS[0]:
        return None
    try:
        return subprocess.Popen([*_TREEOPS, *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None


def _treeop_answer(proc: subprocess.Popen[bytes]) -> dict[str, object] | None:
    """The child's answer (waited for), or None when it gave none (it could not run)."""
    try:
        out, _ = proc.communicate()
    except BaseException:  # interrupted: the child does not outlive the wait
        proc.kill()
        proc.wait()
        raise
    try:
        answer = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    except (UnicodeDecodeError, ValueError, IndexError):
        return None
    return answer if isinstance(answer, dict) and isinstance(answer.get("ok"), bool) else None


def _unpack_error(error: treeops.TreeError) -> IndexAccessError:
    return IndexAccessError(error.message, hint="the sdist is broken; pin another version"
                            if error.broken else None)


class _Unpacking:
    """The extraction of an sdist (:func:`treeops.extract`) into ``into``, started at once in
    a child process and waited for by :meth:`result`; done in this process when the child
    cannot run. A project directory is its own tree."""

    def __init__(self, source: Path, into: Path) -> None:
        self.source, self.into = source, into
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: IndexAccessError | None = None
        if source.is_dir():
            return
        into.mkdir(parents=True, exist_ok=True)
        self.proc = _start_treeop("extract", str(source), str(into))
        if self.proc is None:
            self._in_process()

    def _in_process(self) -> None:
        try:
            treeops.extract(str(self.source), str(self.into))
        except treeops.TreeError as exc:
            self.error = _unpack_error(exc)

    def result(self) -> Path:
        """The source tree (the one top directory, else ``into``); the extraction's error."""
        if self.source.is_dir():
            return self.source
        if self.proc is not None:
            proc, self.proc = self.proc, None
            answer = _treeop_answer(proc)
            if answer is None:  # no answer: once more here, from an empty directory
                shutil.rmtree(self.into, ignore_errors=True)
                self.into.mkdir(parents=True, exist_ok=True)
                self._in_process()
            elif not answer["ok"]:
                self.error = _unpack_error(treeops.TreeError(
                    str(answer.get("error")), broken=answer.get("broken") is True))
        if self.error is not None:
            raise self.error
        tops = [p for p in self.into.iterdir() if p.is_dir()]
        return tops[0] if len(tops) == 1 else self.into

    def close(self) -> None:
        """Stop the extraction if it still runs (a failure elsewhere came first)."""
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.communicate()
            self.proc = None


def _unpack(source: Path, into: Path) -> Path:
    """The source tree of an sdist (extracted safely), or a project directory itself."""
    unpacking = _Unpacking(source, into)
    try:
        return unpacking.result()
    finally:
        unpacking.close()


def _copy_tree(source: Path, target: Path) -> None:
    """A real copy (no links) of the tree ``source`` as ``target``, made by a child process;
    here when it cannot run or fails (the error is then this process's own, as before)."""
    proc = _start_treeop("copy", str(source), str(target))
    answer = None if proc is None else _treeop_answer(proc)
    if answer is None or not answer["ok"]:
        shutil.rmtree(target, ignore_errors=True)
        treeops.copy(str(source), str(target))


#: removals of build directories still running (reaped by the next one)
_removals: list[subprocess.Popen[bytes]] = []
_removals_lock = threading.Lock()


def _remove_later(path: Path) -> None:
    """Remove a build's directory in a child process that is not waited for: it is off the
    build's critical path, and the run's temporary directory (where it lives) is removed at
    the end of the run anyway. Here, at once, when the child cannot start."""
    proc = _start_treeop("remove", str(path))
    with _removals_lock:
        _removals[:] = [p for p in _removals if p.poll() is None]
        if proc is not None:
            _removals.append(proc)
    if proc is None:
        shutil.rmtree(path, ignore_errors=True)


def dynamic_requirements(*, owner: str, source: Path, env: BuildEnv | None, python: str,
                         pip_python: str | None, environ: Mapping[str, str], workdir: Path,
                         editable: bool = False) -> tuple[str, ...]:
    """What the backend of ``source`` asks for at build time
    (``get_requires_for_build_wheel``, or ``..._editable``), asked in an environment holding
    only ``env``'s checked files, installed from its directory with their sha256.
    ``python`` runs the hook (the target interpreter); ``pip_python`` is the ``--python``
    value for pip, if any. The backend's code runs here, as it would in pip's build."""
    return prepare_build(owner=owner, source=source, env=env, python=python,
                         pip_python=pip_python, environ=environ, workdir=workdir,
                         editable=editable)[0]


class SiteTemplates:
    """The checked build files installed (``pip install --target``) once per run for each
    set of pins and interpreter, as templates: a build never runs in a template, it gets a
    fresh copy of its own (:meth:`copy_for`), so a backend that writes into its environment
    changes nothing another build sees. Thread-safe: sdists prepare in parallel; a second
    thread that needs the same template waits for the first one's install."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[object, ...], _Template] = {}
        #: pip runs made (one per distinct template): observable by tests and benchmarks
        self.installs = 0

    def copy_for(self, *, owner: str, env: BuildEnv, python: str, pip_python: str | None,
                 environ: Mapping[str, str], workdir: Path, into: Path,
                 progress: Callable[[str], None] = lambda _m: None) -> _Template:
        """Make ``into`` a fresh copy of the site directory holding ``env``'s pins (installed
        first if no build of this run needed the same pins yet); the template, for
        :meth:`learn` once the build is done. ``python`` runs the build: once a build has
        told which modules it imported, the next build that needs the same files has them
        byte-compiled in a new template (each copy would otherwise compile them again on
        import; compiling every module costs more than two builds' worth of that)."""
        key = (python, pip_python, tuple(sorted((p.sha256, p.filename) for p in env.pins)),
               tuple(sorted((p.sha256, p.filename) for p in env.nested)))
        with self._lock:
            entry = self._entries.setdefault(key, _Template())
        with entry.lock:
            if entry.path is None and entry.failure is None:
                with self._lock:
                    self.installs += 1
                progress(f"installing the checked build files for the build of {owner} "
                         f"({', '.join(f'{p.name} {p.version}' for p in env.pins)})")
                where = Path(tempfile.mkdtemp(prefix="site-template-", dir=workdir)) / "site"
                entry.failure = _install_pins(env, pip_python, environ, workdir, where)
                if entry.failure is None:
                    entry.path = where
            if entry.path is None:
                raise PipError(f"pip could not prepare the checked build environment of "
                               f"{owner}:\n{entry.failure}",
                               hint="the build dependencies passed their checks; see pip's "
                                    "message")
            template, modules = entry.path, entry.imported or ()
            compile_now = not entry.compiled and bool(modules)
            entry.compiled = entry.compiled or compile_now
        if compile_now:
            # compiled in a copy of its own, published when done: a template is never
            # written to once published, so copies need no lock; builds meanwhile copy the
            # first one. Byte-compiling the template's own files runs none of their code; a
            # failure only costs time.
            staging = Path(tempfile.mkdtemp(prefix="site-template-", dir=workdir)) / "site"
            _copy_tree(template, staging)
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run([python, "-I", "-m", "compileall", "-q", "-q", "-i", "-"],
                               input="".join(f"{staging / m}\n" for m in modules),
                               capture_output=True, text=True, check=False,
                               env=environ_without_pip(environ), timeout=600)
            with entry.lock:
                entry.path = template = staging
        # a real copy (no links): the backend runs arbitrary code and may write into it
        _copy_tree(template, into)
        return entry

    @staticmethod
    def learn(entry: _Template, site: Path) -> None:
        """After a build in a copy of ``entry`` (``site``): the modules it imported, i.e.
        the names of the bytecode files Python wrote there, kept as the template's source
        files to byte-compile for later builds. Only names are read, never what a build
        wrote; a name that is not a source file of the template is ignored."""
        with entry.lock:
            template = entry.path
            if entry.imported is not None or template is None:
                return
        found: set[str] = set()
        for dirpath, _dirs, files in os.walk(site):  # symlinked directories: not entered
            if os.path.basename(dirpath) != "__pycache__" or len(found) > _MAX_MODULES:
                continue
            parent = os.path.relpath(os.path.dirname(dirpath), site)
            for name in files:
                if not name.endswith(".pyc"):
                    continue
                rel = os.path.normpath(os.path.join(parent, name.split(".", 1)[0] + ".py"))
                source = template / rel
                if not rel.startswith("..") and not source.is_symlink() and source.is_file():
                    found.add(rel)
        with entry.lock:
            if entry.imported is None and found:  # (a build that failed early: the next)
                entry.imported = tuple(sorted(found))


#: at most this many module names are taken from a build (they only choose what to compile)
_MAX_MODULES = 50_000


class _Template:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.path: Path | None = None
        self.failure: str | None = None  # pip's message, when its install failed
        #: the template's modules a build imported (relative paths of their source files)
        self.imported: tuple[str, ...] | None = None
        self.compiled = False


def _install_pins(env: BuildEnv, pip_python: str | None, environ: Mapping[str, str],
                  workdir: Path, site_dir: Path) -> str | None:
    """``pip install --target site_dir`` of exactly ``env``'s checked files, by sha256;
    pip's message when it fails, else None."""
    fd, name = tempfile.mkstemp(prefix="requirements-", suffix=".txt", dir=workdir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{Path(env.files) / p.filename} --hash=sha256:{p.sha256}\n"
                         for p in env.pins))
    cmd = list(PIP_COMMAND) + (["--python", pip_python] if pip_python else [])
    cmd += ["install", "--no-deps", "--require-hashes", "--target", str(site_dir),
            "--no-compile", "--no-warn-script-location", "--quiet",
            *pip_build_args(env), "-r", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env=environ_without_pip(environ), timeout=3600)
    return proc.stderr.strip()[-1500:] if proc.returncode != 0 else None


def prepare_build(*, owner: str, source: Path, env: BuildEnv | None, python: str,
                  pip_python: str | None, environ: Mapping[str, str], workdir: Path,
                  editable: bool = False,
                  metadata_if: Callable[[tuple[str, ...]], bool] | None = None,
                  templates: SiteTemplates | None = None,
                  progress: Callable[[str], None] = lambda _m: None,
                  ) -> tuple[tuple[str, ...], bytes | None]:
    """:func:`dynamic_requirements`, and then, if ``metadata_if`` says the environment holds
    all of them (nothing more is to be checked or installed), the METADATA the backend
    prepares (``prepare_metadata_for_build_wheel``, as pip would run it) in that same
    environment and source tree: one environment of the checked files serves both hooks, as
    in pip's own build, instead of pip installing the same files again for the metadata.
    Both hooks run in one process: it writes the requirements, then waits for the parent's
    answer (``metadata_if``, decided here) before it prepares the metadata or exits.
    ``templates``: the run's installed build files, copied for this build (else installed
    for it alone)."""
    backend, backend_path = backend_of(source)
    work = Path(tempfile.mkdtemp(prefix="build-requires-", dir=workdir)).resolve()
    template: _Template | None = None
    unpacking: _Unpacking | None = None
    try:
        # the sdist is extracted (by a child process) while its build files are installed or
        # copied: the two are independent
        unpacking = _Unpacking(source, work / "src")
        site_dir = ""
        clean = environ_without_pip(environ)
        failed: Exception | None = None
        try:
            if env is not None and env.pins:
                site_dir = str(work / "site")
                if templates is None:
                    failure = _install_pins(env, pip_python, environ, work, Path(site_dir))
                    if failure is not None:
                        raise PipError(
                            f"pip could not prepare the checked build environment of {owner}:"
                            f"\n{failure}",
                            hint="the build dependencies passed their checks; see pip's "
                                 "message")
                else:
                    template = templates.copy_for(
                        owner=owner, env=env, python=python, pip_python=pip_python,
                        environ=environ, workdir=workdir, into=Path(site_dir),
                        progress=progress)
        except Exception as exc:
            failed = exc
        tree = unpacking.result()  # an unpack error is reported first
        if failed is not None:
            raise failed
        hook = "get_requires_for_build_editable" if editable else \
            "get_requires_for_build_wheel"
        if site_dir and (Path(site_dir) / "bin").is_dir():  # scripts of the build files
            clean = {**clean, "PATH": os.pathsep.join(
                [str(Path(site_dir) / "bin"), *filter(None, [clean.get("PATH")])])}
        hooks = BackendHooks(owner=owner, backend=backend, work=work, tree=tree, env=clean,
                             cmd=[python, "-I", "-S", "-c", HOOK_SCRIPT, site_dir, backend,
                                  json.dumps(backend_path)])
        ask = None if editable else metadata_if
        if ask is not None and os.name == "posix":
            return hooks.both(hook, ask)
        requires = hooks.requirements(hook)
        if ask is None or not ask(requires):
            return requires, None
        return requires, hooks.metadata()
    finally:
        if unpacking is not None:
            unpacking.close()
        if templates is not None and template is not None:
            templates.learn(template, work / "site")
        _remove_later(work)


__all__ = ["BuildEnv", "BuildPin", "pip_build_args", "materialize", "dynamic_requirements",
           "prepare_build", "SiteTemplates",
           "backend_of"]
