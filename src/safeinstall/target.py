"""The interpreter we select artifacts for: its tags, marker environment and installed set.

The target is always an explicit value handed to the finder and resolver; nothing downstream
looks at ``sys`` to decide what is compatible.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import packaging
from packaging.markers import default_environment
from packaging.tags import Tag, parse_tag, sys_tags

from safeinstall.errors import UsageError


@dataclass(frozen=True)
class TargetPython:
    """Everything about the target interpreter that decides which artifact pip installs."""

    executable: str
    version: tuple[int, int, int]
    implementation: str  # interpreter short name as in tags: "cp", "pp", ...
    tags: tuple[Tag, ...]  # most preferred first, exactly pip's order
    environment: Mapping[str, str] = field(hash=False, compare=False)

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def platform_tag(self) -> str:
        """The most specific platform tag, e.g. ``manylinux_2_36_x86_64``."""
        return self.tags[0].platform if self.tags else "unknown"

    def describe(self) -> str:
        return f"{self.implementation}{self.version[0]}{self.version[1]} on {self.platform_tag}"


_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from packaging.markers import default_environment
from packaging.tags import sys_tags, interpreter_name
print(json.dumps({
    "executable": sys.executable,
    "version": list(sys.version_info[:3]),
    "implementation": interpreter_name(),
    "tags": [str(t) for t in sys_tags()],
    "environment": default_environment(),
}))
"""


def current_target() -> TargetPython:
    """The interpreter safe-install itself runs on."""
    from packaging.tags import interpreter_name

    return TargetPython(
        executable=sys.executable,
        version=(sys.version_info[0], sys.version_info[1], sys.version_info[2]),
        implementation=interpreter_name(),
        tags=tuple(sys_tags()),
        environment={k: str(v) for k, v in default_environment().items()},
    )


def probe_interpreter(executable: str) -> TargetPython:
    """Ask the interpreter at ``executable`` for its tags and markers (as ``pip --python`` does).

    The probe imports only our copy of :mod:`packaging`, put on its path for this one run, so the
    target needs nothing installed.
    """
    return PendingProbe(executable).result()


class PendingProbe:
    """:func:`probe_interpreter`, started now and read when needed (the target interpreter
    starts while safe-install itself does)."""

    def __init__(self, executable: str) -> None:
        from safeinstall.installed import interpreter_path

        self.executable = executable
        path = interpreter_path(executable)
        packaging_parent = os.path.dirname(os.path.dirname(packaging.__file__))
        self._error: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._result: TargetPython | None = None
        try:
            self._proc = subprocess.Popen(
                [path, "-I", "-c", _PROBE, packaging_parent], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            self._error = str(exc.strerror)

    def result(self) -> TargetPython:
        if self._result is not None:
            return self._result
        executable = self.executable
        if self._proc is None:
            raise UsageError(
                f"cannot run the target interpreter {executable!r}: {self._error}",
                hint="pass --python the path of a Python executable or virtual environment",
            )
        try:
            stdout, stderr = self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.close()
            raise UsageError(f"the target interpreter {executable!r} did not report its tags "
                             "within 60 s") from None
        if self._proc.returncode != 0:
            raise UsageError(
                f"the target interpreter {executable!r} failed to report its tags: "
                f"{stderr.strip()[-500:]}",
                hint="pip 26 supports CPython/PyPy 3.9 and newer",
            )
        try:
            data = json.loads(stdout)
        except ValueError:
            raise UsageError(
                f"the target interpreter {executable!r} did not report its tags (it printed "
                f"{stdout.strip()[:200]!r})",
                hint="pip 26 supports CPython/PyPy 3.9 and newer",
            ) from None
        version = tuple(int(v) for v in data["version"])
        tags: list[Tag] = []
        for text in data["tags"]:
            tags.extend(parse_tag(text))
        self._result = TargetPython(
            executable=data["executable"],
            version=(version[0], version[1], version[2]),
            implementation=data["implementation"],
            tags=tuple(tags),
            environment=dict(data["environment"]),
        )
        return self._result

    def close(self) -> None:
        """Stop the probe if its answer is no longer wanted."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()


def _apple_platforms(arch: str, prefix: str) -> list[str]:
    import re

    from packaging.tags import ios_platforms, mac_platforms

    match = re.match(r"(.+)_(\d+)_(\d+)_(.+)", arch)
    if not match:
        return [arch]
    name, major, minor, actual = match.groups()
    version = (int(major), int(minor))
    expand = mac_platforms if prefix == "macosx" else ios_platforms
    return [f"{name}_{a[len(prefix) + 1:]}" for a in expand(version, actual)]


def _expand_platform(arch: str) -> list[str]:
    """pip's ``--platform`` expansion (pip/_internal/utils/compatibility_tags.py)."""
    import re

    from packaging.tags import android_platforms

    prefix, sep, suffix = arch.partition("_")
    if arch.startswith("macosx"):
        return _apple_platforms(arch, "macosx")
    if arch.startswith("ios"):
        return _apple_platforms(arch, "ios")
    if prefix == "android":
        m = re.fullmatch(r"android_(\d+)_(.+)", arch)
        return list(android_platforms(int(m.group(1)), m.group(2))) if m else [arch]
    if prefix == "manylinux2014":
        extra = ["manylinux2010" + sep + suffix, "manylinux1" + sep + suffix] \
            if suffix in ("i686", "x86_64") else []
        return [arch, *extra]
    if prefix == "manylinux2010":
        return [arch, "manylinux1" + sep + suffix]
    return [arch]


def parse_python_version(value: str) -> tuple[int, ...]:
    """pip's ``--python-version``: '3', '3.12', '312' or '3.12.1'."""
    text = value.strip()
    try:
        if "." in text:
            parts = tuple(int(p) for p in text.split("."))
        elif len(text) > 1:
            parts = (int(text[0]), int(text[1:]))
        else:
            parts = (int(text),)
    except ValueError:
        raise UsageError(f"invalid --python-version {value!r}",
                         hint="write it as pip does: '3.12', '312' or '3.12.1'") from None
    if not parts or len(parts) > 3:
        raise UsageError(f"invalid --python-version {value!r}")
    return parts


def foreign_target(*, python_version: str | None, platforms: Sequence[str] | None,
                   implementation: str | None = None, abis: Sequence[str] | None = None,
                   base: TargetPython) -> TargetPython:
    """A target described as pip's ``--python-version/--platform/--implementation/--abi`` do.

    Tags are generated exactly as pip's ``get_supported``; Requires-Python is checked against
    the given version padded with zeros (pip's ``normalize_version_info``); environment markers
    stay those of ``base`` (the interpreter pip runs on), because that is what pip evaluates.
    """
    from packaging.tags import (
        compatible_tags,
        cpython_tags,
        generic_tags,
        interpreter_name,
        interpreter_version,
    )

    version_info = parse_python_version(python_version) if python_version else None
    nodot = "".join(map(str, version_info[:2])) if version_info else None
    py_tuple: tuple[int, ...] | None = None
    if nodot is not None:
        py_tuple = (int(nodot[0]), int(nodot[1:])) if len(nodot) > 1 else (int(nodot[0]),)
    impl = implementation or interpreter_name()
    interpreter = f"{impl}{nodot or interpreter_version()}"
    expanded: list[str] | None = None
    if platforms:
        expanded = []
        for p in platforms:
            for q in _expand_platform(p):
                if q not in expanded:
                    expanded.append(q)
    tags: list[Tag] = []
    if impl == "cp":
        tags.extend(cpython_tags(python_version=py_tuple, abis=list(abis) if abis else None,
                                 platforms=expanded))
    else:
        tags.extend(generic_tags(interpreter=interpreter, abis=list(abis) if abis else None,
                                 platforms=expanded))
    tags.extend(compatible_tags(python_version=py_tuple, interpreter=interpreter,
                                platforms=expanded))
    if version_info is not None:
        full = (tuple(version_info) + (0, 0, 0))[:3]
        version = (full[0], full[1], full[2])
    else:
        version = base.version
    return TargetPython(
        executable=base.executable,
        version=version,
        implementation=impl,
        tags=tuple(tags),
        environment=dict(base.environment),
    )


def marker_environment(target: TargetPython, extra: str | None = None) -> dict[str, str]:
    env = dict(target.environment)
    env["extra"] = extra or ""
    return env


def build_key(target: TargetPython) -> str:
    """What a metadata build depends on besides the sdist: the target's marker environment
    (also the key of the target's dependency hints)."""
    data = json.dumps(dict(target.environment), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


__all__ = ["TargetPython", "current_target", "probe_interpreter", "foreign_target",
           "marker_environment", "default_environment", "parse_python_version", "build_key"]
