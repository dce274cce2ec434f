"""The targets of a lock and the environment markers that tell them apart.

Targets are ``NamedTarget`` values of :mod:`safeinstall.releaseview` (``--targets
current,3.12:win_amd64``, as for ``timeline``); :func:`target_label` names one in a lock,
:func:`for_lock` gives it the marker environment of the machine it describes, and
:func:`marker_for` writes the marker that selects some of a lock's targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from safeinstall.errors import ResolutionError

if TYPE_CHECKING:
    from safeinstall.releaseview import NamedTarget
    from safeinstall.target import TargetPython


def target_label(target: TargetPython) -> str:
    """A short, stable name for a target: ``cp312-manylinux_2_28_x86_64``."""
    return f"{target.implementation}{target.version[0]}{target.version[1]}-{target.platform_tag}"


#: The marker variables that tell the lock's targets apart, most readable first.
MARKER_KEYS = ("sys_platform", "python_version", "platform_machine", "implementation_name")


def marker_for(labels: Sequence[str], envs: Mapping[str, Mapping[str, str]], *,
               what: str, versions: Mapping[str, str] | None = None) -> str | None:
    """A PEP 508 marker true for the targets ``labels`` and false for the lock's other targets
    (``envs``: every target's marker environment), or None when ``labels`` are all of them.

    One variable whose values split the targets is used when there is one
    (``sys_platform == "win32"``); else a disjunction of each target's distinguishing values.
    Targets that no marker can tell apart (same platform, machine and Python, different tags)
    are an error saying so."""
    chosen = set(labels)
    others = [t for t in envs if t not in chosen]
    if not others:
        return None
    for key in MARKER_KEYS:
        mine = {envs[t].get(key, "") for t in chosen}
        theirs = {envs[t].get(key, "") for t in others}
        if not mine & theirs:
            if key == "python_version" and len(mine) > 1:
                ranged = _version_range(mine, theirs)
                if ranged is not None:
                    return ranged
            return " or ".join(f'{key} == "{v}"' for v in sorted(mine))
    varying = [k for k in MARKER_KEYS if len({envs[t].get(k, "") for t in envs}) > 1]

    def values(t: str) -> tuple[str, ...]:
        return tuple(envs[t].get(k, "") for k in varying)

    for t in chosen:
        twin = next((o for o in others if values(o) == values(t)), None)
        if twin is not None:
            described = ", ".join(f"{k}={envs[t].get(k, '')!r}" for k in MARKER_KEYS)
            found = "; ".join(f"{v} for {x}" for x, v in (versions or {}).items())
            raise ResolutionError(
                f"{what} is needed for target {t} but not for {twin}, and no environment "
                f"marker can tell these two apart (both have {described}); "
                + (f"the targets resolve to: {found}" if found else ""),
                hint="pin the versions so that these targets agree, or lock them into "
                "separate files")
    clauses = sorted({" and ".join(f'{k} == "{envs[t].get(k, "")}"' for k in varying)
                      for t in chosen})
    return " or ".join(f"({c})" if len(clauses) > 1 and " and " in c else c for c in clauses)


def _version_range(mine: set[str], theirs: set[str]) -> str | None:
    """``python_version >= "3.11"`` (or ``<``) when ``mine`` are all the lock's Python versions
    above (or below) ``theirs``."""
    try:
        lo, hi = min(map(Version, mine)), max(map(Version, mine))
        others = [Version(v) for v in theirs]
    except InvalidVersion:
        return None
    if all(v < lo for v in others):
        return f'python_version >= "{lo}"'
    if all(v > hi for v in others):
        return f'python_version <= "{hi}"'
    return None


_PLATFORM_ENV = (
    ("win", {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"}),
    ("macos", {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"}),
    ("linux", {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}),
)
_MACHINES = (("amd64", "AMD64"), ("x86_64", "x86_64"), ("aarch64", "aarch64"),
             ("arm64", "arm64"), ("i686", "i686"), ("win32", "x86"), ("armv7l", "armv7l"),
             ("ppc64le", "ppc64le"), ("s390x", "s390x"), ("universal2", "arm64"))


def lock_environment(python: str, platform_tag: str,
                     base: Mapping[str, str]) -> dict[str, str]:
    """The marker environment of CPython ``python`` on a machine of ``platform_tag`` (a wheel
    platform tag such as ``win_amd64``, ``manylinux_2_28_x86_64``, ``macosx_14_0_arm64``):
    what its pip evaluates markers with. Values that cannot be known stay ``base``'s."""
    env = dict(base)
    tag = platform_tag.lower()
    for prefix, values in _PLATFORM_ENV:
        if tag.startswith(prefix) or (prefix == "linux" and "linux" in tag):
            env.update(values)
            break
    for suffix, machine in _MACHINES:
        if tag.endswith(suffix):
            env["platform_machine"] = machine
            break
    if python and python[0].isdigit():
        env["python_version"] = ".".join(python.split(".")[:2])
        env["python_full_version"] = python if python.count(".") >= 2 else f"{python}.0"
        env["implementation_name"] = "cpython"
        env["platform_python_implementation"] = "CPython"
        env["implementation_version"] = env["python_full_version"]
    return env


def for_lock(named: NamedTarget) -> NamedTarget:
    """``named`` with the marker environment of the machine it describes (``current`` is
    unchanged): a lock made on Linux for ``3.12:win_amd64`` evaluates ``sys_platform ==
    "win32"`` as true for that target."""
    from dataclasses import replace

    if named.platform == "current":
        return named
    from safeinstall.releaseview import PLATFORM_FAMILIES

    tags = PLATFORM_FAMILIES.get(named.platform) or tuple(named.platform.split("+"))
    env = lock_environment(named.python, tags[0] if tags else "", named.target.environment)
    return replace(named, target=replace(named.target, environment=env))
