"""The interpreter we select artifacts for: its tags, marker environment and installed set.

The target is always an explicit value handed to the finder and resolver; nothing downstream
looks at ``sys`` to decide what is compatible.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import packaging
from packaging.markers import default_environment
from packaging.tags import Tag, parse_tag, sys_tags

from safeinstall.background import Background, BackgroundTimeout, Finished
from safeinstall.errors import UsageError


@dataclass(frozen=True)
class TargetPython:
    """Everything about the target interpreter that decides which artifact pip installs."""

    executable: str
    version: tuple[int, int, int]
    implementation: str  # interpreter short name as in tags: "cp", "pp", ...
    tags: tuple[Tag, ...]  # most preferred first, exactly pip's order
    environment: Mapping[str, str] = field(hash=False, compare=False)
    #: the interpreter's ``sys.prefix`` (its environment); "" where unknown
    prefix: str = field(default="", hash=False, compare=False)
    #: why pip refuses ``--user`` for this interpreter (pip's words), "" if it does not
    user_site_refusal: str = field(default="", hash=False, compare=False)
    #: the PEP 668 ``EXTERNALLY-MANAGED`` file that makes pip refuse to install into this
    #: interpreter's environment, "" if there is none (or it is a virtual environment)
    externally_managed: str = field(default="", hash=False, compare=False)

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def platform_tag(self) -> str:
        """The most specific platform tag, e.g. ``manylinux_2_36_x86_64``."""
        return self.tags[0].platform if self.tags else "unknown"

    def describe(self) -> str:
        return f"{self.implementation}{self.version[0]}{self.version[1]} on {self.platform_tag}"


#: pip's ``decide_user_install`` checks (pip/_internal/commands/install.py, utils/virtualenv.py),
#: and its PEP 668 check (``check_externally_managed``, pip/_internal/utils/misc.py),
#: run by the target interpreter itself: a virtual environment without the global site-packages
#: cannot see the user site, and a Python may have the user site disabled. ``-I`` (with which
#: the probe runs) turns the user site off, so ``PYTHONNOUSERSITE`` and the uid are read as
#: ``site.check_enableusersite`` reads them for the pip that installs.
_USER_SITE = r"""
def user_site_refusal():
    import os, re, site, sys
    hidden = "User site-packages are not visible in this virtualenv."
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        try:
            with open(os.path.join(sys.prefix, "pyvenv.cfg"), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError:
            return hidden
        for line in lines:
            m = re.match(r"include-system-site-packages\s*=\s*(?P<value>true|false)", line)
            if m is not None and m.group("value") == "false":
                return hidden
    elif hasattr(sys, "real_prefix"):
        marker = os.path.join(os.path.dirname(site.__file__), "no-global-site-packages.txt")
        if os.path.exists(marker):
            return hidden
    disabled = os.environ.get("PYTHONNOUSERSITE") or (
        hasattr(os, "getuid") and (os.getuid() != os.geteuid() or os.getgid() != os.getegid()))
    return "User site-packages are disabled for this Python." if disabled else ""


def externally_managed():
    import os, sys, sysconfig
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix) or hasattr(sys, "real_prefix"):
        return ""
    marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
    return marker if os.path.isfile(marker) else ""
"""

_PROBE = _USER_SITE + r"""
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
    "prefix": sys.prefix,
    "user_site_refusal": user_site_refusal(),
    "externally_managed": externally_managed(),
}))
"""


def _own_checks() -> tuple[str, str]:
    """``user_site_refusal()`` and ``externally_managed()`` of :data:`_USER_SITE`, here."""
    namespace: dict[str, object] = {}
    exec(_USER_SITE, namespace)  # noqa: S102 - our own constant, shared with the probe
    user, managed = namespace["user_site_refusal"], namespace["externally_managed"]
    assert callable(user) and callable(managed)
    return str(user()), str(managed())


def current_target() -> TargetPython:
    """The interpreter safe-install itself runs on."""
    from packaging.tags import interpreter_name

    user_site_refusal, externally_managed = _own_checks()
    return TargetPython(
        executable=sys.executable,
        version=(sys.version_info[0], sys.version_info[1], sys.version_info[2]),
        implementation=interpreter_name(),
        tags=tuple(sys_tags()),
        environment={k: str(v) for k, v in default_environment().items()},
        prefix=sys.prefix,
        user_site_refusal=user_site_refusal,
        externally_managed=externally_managed,
    )


def same_environment(prefix: str, other: str) -> bool:
    """Whether two ``sys.prefix`` values (or environment directories) are one environment."""
    if not prefix or not other:
        return False
    try:
        return os.path.samefile(prefix, other)
    except OSError:
        return os.path.realpath(prefix) == os.path.realpath(other)


def active_environment(environ: Mapping[str, str]) -> str | None:
    """The virtual environment ``VIRTUAL_ENV`` names (set by ``activate``, ``uv``, ``poetry
    shell`` ...), when it is not the one safe-install runs in: the target when no ``--python``
    is given, so that a tool installed once (pipx, ``uv tool``, a venv of its own) installs
    into the project's environment, as that environment's own ``pip`` would."""
    venv = environ.get("VIRTUAL_ENV", "")
    if not venv.strip():
        return None
    if same_environment(venv, sys.prefix):
        return None
    if not os.path.isdir(venv) or interpreter_path(venv) == venv:
        raise UsageError(
            f"VIRTUAL_ENV names {venv!r}, which is not a virtual environment (no bin/python "
            "in it)",
            hint="activate an existing environment, unset VIRTUAL_ENV (deactivate), or pass "
                 "--python the interpreter to install into",
        )
    return venv


def interpreter_path(executable: str) -> str:
    """The interpreter a ``--python`` value names: a venv directory means its python."""
    if os.path.isdir(executable):  # pip accepts a venv directory too
        for candidate in ("bin/python", "Scripts/python.exe"):
            if os.path.exists(os.path.join(executable, candidate)):
                return os.path.join(executable, candidate)
    return executable


def probe_interpreter(executable: str) -> TargetPython:
    """Ask the interpreter at ``executable`` for its tags and markers (as ``pip --python`` does).

    The probe imports only our copy of :mod:`packaging`, put on its path for this one run, so the
    target needs nothing installed.
    """
    with PendingProbe(executable) as probe:
        return probe.result()


class PendingProbe(Background[TargetPython]):
    """:func:`probe_interpreter`, started now and read when needed (the target interpreter
    starts while safe-install itself does)."""

    def __init__(self, executable: str) -> None:
        super().__init__("probe")
        self.executable = executable
        path = interpreter_path(executable)
        packaging_parent = os.path.dirname(os.path.dirname(packaging.__file__))
        self._error: str | None = None
        try:
            self.start_process([path, "-I", "-c", _PROBE, packaging_parent])
        except OSError as exc:
            self._error = str(exc.strerror)

    def result(self, timeout: float | None = 60) -> TargetPython:
        executable = self.executable
        if self.proc is None:
            raise UsageError(
                f"cannot run the target interpreter {executable!r}: {self._error}",
                hint="pass --python the path of a Python executable or virtual environment",
            )
        try:
            return super().result(timeout)
        except BackgroundTimeout as exc:
            raise UsageError(f"the target interpreter {executable!r} did not report its tags "
                             f"within {exc.timeout:.0f} s") from None

    def read(self, finished: Finished) -> TargetPython:
        executable, stdout = self.executable, finished.stdout
        if finished.returncode != 0:
            raise UsageError(
                f"the target interpreter {executable!r} failed to report its tags: "
                f"{finished.stderr.strip()[-500:]}",
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
        return TargetPython(
            executable=data["executable"],
            version=(version[0], version[1], version[2]),
            implementation=data["implementation"],
            tags=tuple(tags),
            environment=dict(data["environment"]),
            prefix=str(data.get("prefix", "")),
            user_site_refusal=str(data.get("user_site_refusal", "")),
            externally_managed=str(data.get("externally_managed", "")),
        )


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
        prefix=base.prefix,
        user_site_refusal=base.user_site_refusal,
        externally_managed=base.externally_managed,
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
           "active_environment", "same_environment",
           "marker_environment", "parse_python_version", "build_key"]
