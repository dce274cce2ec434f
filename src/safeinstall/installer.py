"""Install exactly the checked artifacts, through pip, pinned by hash, with no resolution left.

Every index artifact is downloaded once, verified against the index's sha256 and any trusted
hash, and stored by hash.  sdists (already checked) and local projects are built into wheels
first; then a single ``pip install --no-deps --no-index --require-hashes -r <checked.txt>`` gets
the local files with their sha256: pip cannot pick anything else, and cannot fetch anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from safeinstall.artifacts import ArtifactStore, parse_metadata, read_wheel_metadata, sha256_file
from safeinstall.checker import CheckResult, index_args
from safeinstall.errors import IntegrityError, PipError
from safeinstall.pipoptions import PipSettings, environ_without_pip
from safeinstall.resolver import DirectCandidate, IndexCandidate


@dataclass(frozen=True)
class InstallPlan:
    wheels: tuple[tuple[str, Path, str], ...]  # (name, wheel path, sha256)
    editables: tuple[str, ...]
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
    cmd = [sys.executable, "-m", "pip"]
    if target_python:
        cmd += ["--python", target_python]
    return cmd


def _run(cmd: Sequence[str], env: Mapping[str, str], what: str, quiet: bool) -> None:
    proc = subprocess.run(list(cmd), env=dict(env), check=False,
                          stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise PipError(f"pip failed while {what} (exit {proc.returncode}):\n"
                       f"{proc.stderr.strip()[-3000:]}",
                       hint="the checks passed; the failure is pip's - see its message above")
    if proc.stderr and not quiet:
        sys.stderr.write(proc.stderr)


def prepare(result: CheckResult, store: ArtifactStore, settings: PipSettings,
            environ: Mapping[str, str], workdir: Path,
            progress: Callable[[str], None] = lambda _m: None) -> InstallPlan:
    """Download and verify every artifact; build sdists/local projects into wheels."""
    wheels: list[tuple[str, Path, str]] = []
    editables: list[str] = []
    built: list[str] = []
    env = environ_without_pip(environ)
    target_python = result.target.executable if settings.python else None
    for pkg in result.packages:
        if pkg.decision != "install":
            continue
        cand = result.plan[pkg.name]
        if isinstance(cand, IndexCandidate):
            f = cand.file
            progress(f"downloading {f.filename}")
            trusted = frozenset(pkg.trusted_hashes)
            path = store.fetch(f, expected=trusted)
            if f.is_wheel:
                _same_metadata(result, pkg.name, path)
                wheels.append((pkg.name, path, sha256_file(path)))
                continue
            source = str(path)
        elif isinstance(cand, DirectCandidate):
            if cand.kind == "editable":
                editables.append(cand.local_path or cand.url)
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
        cmd += index_args(settings) + [source]
        _run(cmd, env, f"building {source}", quiet=True)
        made = sorted(out.glob("*.whl"))
        if len(made) != 1:
            raise PipError(f"building {source} produced {len(made)} wheels, expected one")
        wheels.append((pkg.name, made[0], sha256_file(made[0])))
        built.append(pkg.name)
    return InstallPlan(tuple(wheels), tuple(editables), tuple(built))


def _same_metadata(result: CheckResult, name: str, path: Path) -> None:
    """The wheel's own METADATA must declare what we resolved with (read via range/.metadata)."""
    used = result.metadata.get(name)
    if used is None or used.source in ("wheel", "cache"):
        return
    own = parse_metadata(read_wheel_metadata(path, name), path.name)[0]
    if sorted(own.requires_dist) != sorted(used.requires_dist) or \
            canonicalize_name(own.name) != canonicalize_name(used.name) or \
            own.version != used.version:
        raise IntegrityError(
            f"{path.name}: the metadata served separately ({used.source}) differs from the "
            "wheel's own METADATA",
            hint="the index served inconsistent data; nothing was installed",
        )


def install(plan: InstallPlan, result: CheckResult, settings: PipSettings,
            environ: Mapping[str, str], workdir: Path, passthrough: Sequence[str]) -> None:
    env = environ_without_pip(environ)
    target_python = result.target.executable if settings.python else None
    common = location_args(settings) + list(passthrough)
    if settings.verbosity < 0:
        common += ["-" + "q" * -settings.verbosity]
    elif settings.verbosity > 0:
        common += ["-" + "v" * settings.verbosity]
    if settings.force_reinstall:
        common.append("--force-reinstall")
    if settings.ignore_installed:
        common.append("--ignore-installed")
    if plan.wheels:
        req = workdir / "checked-requirements.txt"
        req.write_text("".join(f"{path} --hash=sha256:{digest}\n"
                               for _name, path, digest in plan.wheels))
        cmd = _pip(target_python) + ["install", "--no-deps", "--no-index", "--require-hashes",
                                     "-r", str(req)] + common
        _run(cmd, env, "installing the checked artifacts", quiet=False)
    for path in plan.editables:
        cmd = _pip(target_python) + ["install", "--no-deps", "-e", path] + index_args(settings) \
            + common
        _run(cmd, env, f"installing the editable project {path}", quiet=False)
