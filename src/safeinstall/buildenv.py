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

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from safeinstall.distmeta import MAX_METADATA_BYTES
from safeinstall.errors import IndexAccessError, IntegrityError, PipError, UsageError
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

_HOOK = r"""
import importlib, json, os, site, sys
site_dir, backend, backend_path, hook, out = sys.argv[1:6]
if site_dir:
    site.addsitedir(site_dir)
for p in reversed(json.loads(backend_path)):
    sys.path.insert(0, os.path.abspath(p))
module, _, attr = backend.partition(":")
obj = importlib.import_module(module.strip())
for part in attr.strip().split(".") if attr.strip() else ():
    obj = getattr(obj, part)
fn = getattr(obj, hook, None)
if hook == "prepare_metadata_for_build_wheel":
    # as pip (pyproject_hooks): the backend's metadata hook, else METADATA of a built wheel
    where = out + ".d"
    os.mkdir(where)
    if fn is not None:
        with open(os.path.join(where, fn(where, None), "METADATA"), "rb") as fh:
            data = fh.read()
    else:
        import zipfile
        with zipfile.ZipFile(os.path.join(where, obj.build_wheel(where, None, None))) as zf:
            name = [n for n in zf.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")][0]
            data = zf.read(name)
    with open(out, "wb") as fh:
        fh.write(data)
    sys.exit(0)
if fn is None and hook == "get_requires_for_build_editable":
    fn = getattr(obj, "get_requires_for_build_wheel", None)
result = list(fn(None)) if fn is not None else []
with open(out, "w", encoding="utf-8") as fh:
    json.dump([str(r) for r in result], fh)
"""


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


def _unpack(source: Path, into: Path) -> Path:
    """The source tree of an sdist (extracted safely), or a project directory itself."""
    if source.is_dir():
        return source
    into.mkdir(parents=True, exist_ok=True)
    try:
        if source.name.endswith(".zip"):
            with zipfile.ZipFile(source) as zf:
                for member in zf.namelist():
                    target = (into / member).resolve()
                    if not str(target).startswith(str(into.resolve()) + os.sep):
                        raise IndexAccessError(f"{source.name}: member {member!r} would be "
                                               "written outside the source tree")
                zf.extractall(into)
        else:
            with tarfile.open(source) as tf:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(into, filter="data")
                else:  # pragma: no cover - Pythons without extraction filters
                    for m in tf.getmembers():
                        target = (into / m.name).resolve()
                        if not str(target).startswith(str(into.resolve()) + os.sep) or \
                                m.issym() or m.islnk() or m.isdev():
                            raise IndexAccessError(f"{source.name}: unsafe member {m.name!r}")
                    tf.extractall(into)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise IndexAccessError(f"{source.name} cannot be unpacked: {exc}",
                               hint="the sdist is broken; pin another version") from None
    tops = [p for p in into.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else into


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


def prepare_build(*, owner: str, source: Path, env: BuildEnv | None, python: str,
                  pip_python: str | None, environ: Mapping[str, str], workdir: Path,
                  editable: bool = False,
                  metadata_if: Callable[[tuple[str, ...]], bool] | None = None
                  ) -> tuple[tuple[str, ...], bytes | None]:
    """:func:`dynamic_requirements`, and then, if ``metadata_if`` says the environment holds
    all of them (nothing more is to be checked or installed), the METADATA the backend
    prepares (``prepare_metadata_for_build_wheel``, as pip would run it) in that same
    environment and source tree: one environment of the checked files serves both hooks, as
    in pip's own build, instead of pip installing the same files again for the metadata."""
    backend, backend_path = backend_of(source)
    work = Path(tempfile.mkdtemp(prefix="build-requires-", dir=workdir))
    try:
        tree = _unpack(source, work / "src")
        site_dir = ""
        clean = environ_without_pip(environ)
        if env is not None and env.pins:
            reqs = work / "requirements.txt"
            reqs.write_text("".join(f"{Path(env.files) / p.filename} --hash=sha256:{p.sha256}\n"
                                    for p in env.pins), encoding="utf-8")
            site_dir = str(work / "site")
            cmd = list(PIP_COMMAND) + (["--python", pip_python] if pip_python else [])
            cmd += ["install", "--no-deps", "--require-hashes", "--target", site_dir,
                    "--no-compile", "--no-warn-script-location", "--quiet",
                    *pip_build_args(env), "-r", str(reqs)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  env=clean, timeout=3600)
            if proc.returncode != 0:
                raise PipError(
                    f"pip could not prepare the checked build environment of {owner}:\n"
                    f"{proc.stderr.strip()[-1500:]}",
                    hint="the build dependencies passed their checks; see pip's message")
        out = work / "requires.json"
        hook = "get_requires_for_build_editable" if editable else \
            "get_requires_for_build_wheel"
        if site_dir and (Path(site_dir) / "bin").is_dir():  # scripts of the build files
            clean = {**clean, "PATH": os.pathsep.join(
                [str(Path(site_dir) / "bin"), *filter(None, [clean.get("PATH")])])}
        cmd = [python, "-I", "-S", "-c", _HOOK, site_dir, backend, json.dumps(backend_path),
               hook, str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              cwd=str(tree), env=clean, timeout=3600)
        if proc.returncode != 0 or not out.is_file():
            raise UsageError(
                f"the build backend of {owner} ({backend}) failed while listing its build "
                f"requirements ({hook}):\n{(proc.stderr or proc.stdout).strip()[-1500:]}",
                hint="fix the project so that it builds, or install a wheel of it")
        try:
            data = json.loads(out.read_text(encoding="utf-8"))
        except (ValueError, OSError):  # the backend's code wrote over its own answer
            data = None
        if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
            raise UsageError(f"the build backend of {owner} returned no list of requirements "
                             f"from {hook}")
        requires = tuple(data)
        if editable or metadata_if is None or not metadata_if(requires):
            return requires, None
        meta = work / "METADATA"
        cmd = [python, "-I", "-S", "-c", _HOOK, site_dir, backend, json.dumps(backend_path),
               "prepare_metadata_for_build_wheel", str(meta)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              cwd=str(tree), env=clean, timeout=3600)
        if proc.returncode != 0 or not meta.is_file():
            raise UsageError(
                f"the build backend of {owner} ({backend}) could not prepare its metadata "
                f"(prepare_metadata_for_build_wheel):\n"
                f"{(proc.stderr or proc.stdout).strip()[-1500:]}",
                hint="fix the project so that it builds, or install a wheel of it")
        with meta.open("rb") as fh:
            data = fh.read(MAX_METADATA_BYTES + 1)
        if len(data) > MAX_METADATA_BYTES:  # refused, as wheel and index metadata are
            raise IntegrityError(
                f"the metadata the build backend of {owner} prepared is larger than "
                f"{MAX_METADATA_BYTES // (1024 * 1024)} MiB",
                hint="a project's METADATA is a few KiB; this build is not to be trusted")
        return requires, data
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["BuildEnv", "BuildPin", "pip_build_args", "materialize", "dynamic_requirements",
           "prepare_build",
           "backend_of"]
