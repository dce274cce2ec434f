"""Which environment an install changes, refused up front where it must not happen.

* pip's own refusals of ``--user`` (``decide_user_install``), made before the check rather than
  by the final ``pip install`` after it;
* safe-install's own environment: an install into the environment safe-install runs from must
  not change the distributions safe-install itself imports (pip, unearth, resolvelib, ...);
  a downgraded resolvelib, say, breaks every later run. The isolated layout (the tool in an
  environment of its own, aimed at the project's with ``--python`` or ``VIRTUAL_ENV``) avoids
  the question altogether.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker
from packaging.utils import NormalizedName, canonicalize_name

from safeinstall.errors import UsageError
from safeinstall.pipoptions import PipSettings
from safeinstall.target import TargetPython, same_environment

#: the import package whose distribution is safe-install's own
OWN_PACKAGE = "safeinstall"
#: the name this project's distribution is published under (pyproject.toml)
OWN_DISTRIBUTION = "late-artifact-guard"

ISOLATED_LAYOUT = "\n        ".join((
    "install safe-install in an environment of its own and aim it at this one, e.g.",
    "python3 -m venv /opt/safe-install",
    "/opt/safe-install/bin/pip install --require-hashes -r install/requirements.lock",
    "/opt/safe-install/bin/pip install --no-deps --no-build-isolation --no-index "
    "<safe-install checkout>",
    "/opt/safe-install/bin/safe-install --python {python} ...   (or with VIRTUAL_ENV set)",
    "(see 'Install safe-install itself' in README.md)",
))


def check_user_install(settings: PipSettings, target: TargetPython) -> None:
    """pip's refusal of ``--user`` where the user site is not used by the target interpreter
    (inside a virtual environment without the global site-packages, or with the user site
    disabled), before anything is checked. ``--user`` with ``--target``/``--prefix`` is
    refused with the settings (:func:`safeinstall.pipoptions.effective_settings`)."""
    if not settings.user or not target.user_site_refusal:
        return
    where = f" ({target.prefix})" if target.prefix else ""
    raise UsageError(
        f"cannot install with --user for {target.executable}{where}: "
        f"{target.user_site_refusal} pip refuses this install too",
        hint="leave out --user to install into that environment, or pass --python the "
             "interpreter whose user site-packages you mean",
    )


def check_externally_managed(settings: PipSettings, target: TargetPython) -> None:
    """pip's PEP 668 refusal, before the check: an install into an environment its
    distributor manages (an ``EXTERNALLY-MANAGED`` file beside the standard library, outside
    a virtual environment), unless ``--break-system-packages`` or ``--target``/``--prefix``/
    ``--root`` sends the files elsewhere. A dry run installs nothing and is checked as asked."""
    if (not target.externally_managed or settings.dry_run or settings.break_system_packages
            or settings.target_dir or settings.prefix or settings.root):
        return
    raise UsageError(
        f"{target.executable} is an externally managed environment ({target.externally_managed},"
        " PEP 668): pip refuses to install into it, and so does safe-install",
        hint="create a virtual environment and pass --python (or activate it); or use the "
             "distribution's packages; --break-system-packages overrides, as for pip",
    )


def targets_own_environment(settings: PipSettings, target: TargetPython) -> bool:
    """Whether the install changes the environment safe-install runs from: the target
    interpreter is in it (``--user`` of that interpreter included: its user site comes first
    on our path), and no ``--target``/``--prefix``/``--root`` sends the files elsewhere."""
    if settings.target_dir or settings.prefix or settings.root:
        return False
    return same_environment(target.prefix, sys.prefix)


@dataclass(frozen=True)
class OwnChange:
    """One of safe-install's own dependencies that an install would replace."""

    name: NormalizedName
    installed: str
    planned: str

    def describe(self) -> str:
        return f"{self.name} {self.installed} -> {self.planned}"


def own_dependencies() -> dict[NormalizedName, str]:
    """safe-install's installed distribution and the distributions it requires, transitively
    (markers evaluated for this interpreter; extras of our own distribution followed where
    their requirements are installed), with the installed versions."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    roots = _own_roots(metadata)
    found: dict[NormalizedName, str] = {}
    queue: list[tuple[str, frozenset[str] | None]] = [(r, None) for r in roots]
    while queue:
        name, extras = queue.pop()
        key = canonicalize_name(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist.version
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if _applies(req.marker, extras):
                queue.append((req.name, frozenset(req.extras)))
    return found


def _own_roots(metadata: Any) -> list[str]:
    """The distribution(s) that install our import package. The usual case, the distribution
    of this project under its own name holding ``safeinstall/__init__.py``, costs one RECORD
    read; otherwise every installed distribution's files are read (``packages_distributions``,
    0.07-0.2 s on a run's critical path)."""
    try:
        dist = metadata.distribution(OWN_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None and any(str(f).replace("\\", "/") == f"{OWN_PACKAGE}/__init__.py"
                                for f in dist.files or ()):
        return [OWN_DISTRIBUTION]
    return list(metadata.packages_distributions().get(OWN_PACKAGE) or [])


def _applies(marker: Marker | None, extras: frozenset[str] | None) -> bool:
    """Whether a requirement's marker holds here with ``extras`` requested (None: every
    extra, for our own distribution)."""
    if marker is None:
        return True
    if extras is None:
        import re

        named = re.search(r"""extra\s*==\s*["']([^"']+)["']""", str(marker))
        extras = frozenset({named.group(1)} if named else ())
    return any(marker.evaluate({"extra": e}) for e in {"", *extras})


def own_changes(packages: Iterable[tuple[str, str]],
                own: dict[NormalizedName, str] | None = None) -> list[OwnChange]:
    """The planned installs (``(name, version)``) that replace one of safe-install's own
    dependencies (:func:`own_dependencies`)."""
    own = own_dependencies() if own is None else own
    changes = []
    for name, version in packages:
        key = canonicalize_name(name)
        if key in own:
            changes.append(OwnChange(key, own[key], version))
    return changes


class OwnEnvironmentError(UsageError):
    """An install would change the distributions safe-install itself runs on (exit 2)."""


def refuse_own_changes(changes: list[OwnChange], target: TargetPython) -> None:
    if not changes:
        return
    listed = ", ".join(c.describe() for c in changes)
    raise OwnEnvironmentError(
        f"this install would change safe-install's own environment ({target.prefix}): "
        f"{listed}; safe-install itself runs on {'it' if len(changes) == 1 else 'them'}, "
        "and a changed version can break this and every later run",
        hint=ISOLATED_LAYOUT.format(python=target.executable),
    )


__all__ = ["OwnChange", "OwnEnvironmentError", "check_externally_managed", "check_user_install",
           "own_changes", "own_dependencies", "refuse_own_changes", "targets_own_environment"]
