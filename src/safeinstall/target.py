"""The interpreter we select artifacts for: its tags, marker environment and installed set.

The target is always an explicit value handed to the finder and resolver; nothing downstream
looks at ``sys`` to decide what is compatible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
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
    path = executable
    if os.path.isdir(path):  # pip accepts a venv directory too
        for candidate in ("bin/python", "Scripts/python.exe"):
            if os.path.exists(os.path.join(path, candidate)):
                path = os.path.join(path, candidate)
                break
    packaging_parent = os.path.dirname(os.path.dirname(packaging.__file__))
    try:
        proc = subprocess.run(
            [path, "-I", "-c", _PROBE, packaging_parent],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as exc:
        raise UsageError(
            f"cannot run the target interpreter {executable!r}: {exc.strerror}",
            hint="pass --python the path of a Python executable or virtual environment",
        ) from None
    if proc.returncode != 0:
        raise UsageError(
            f"the target interpreter {executable!r} failed to report its tags: "
            f"{proc.stderr.strip()[-500:]}",
            hint="pip 26 supports CPython/PyPy 3.9 and newer",
        )
    data = json.loads(proc.stdout)
    version = tuple(int(v) for v in data["version"])
    tags: list[Tag] = []
    for text in data["tags"]:
        tags.extend(parse_tag(text))
    return TargetPython(
        executable=data["executable"],
        version=(version[0], version[1], version[2]),
        implementation=data["implementation"],
        tags=tuple(tags),
        environment=dict(data["environment"]),
    )


def marker_environment(target: TargetPython, extra: str | None = None) -> dict[str, str]:
    env = dict(target.environment)
    env["extra"] = extra or ""
    return env


__all__ = ["TargetPython", "current_target", "probe_interpreter", "marker_environment",
           "default_environment"]
