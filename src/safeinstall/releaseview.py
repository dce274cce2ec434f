"""A release seen from several machines: each file's place in time, and which file pip would
select on each target.

Targets are named: ``current`` (the interpreter safe-install runs for) and, for the common set,
``cp312-manylinux_x86_64`` and the like, built with :func:`safeinstall.target.foreign_target`
exactly as ``pip --python-version 3.12 --platform ...`` would describe them. The common set is
CPython 3.10-3.14 on six platform families (:data:`PLATFORM_FAMILIES`); a family is the list of
platform tags a typical machine of that kind supports, most preferred first, as pip lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from safeinstall.errors import UsageError
from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile, Source
from safeinstall.policy import Policy, Verdict
from safeinstall.selection import SelectionRules, order_candidates
from safeinstall.target import TargetPython, foreign_target
from safeinstall.timeline import ReleaseTimeline, release_timeline

COMMON_PYTHONS: tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13", "3.14")
#: glibc and musl versions assumed for the Linux families (Ubuntu 24.04 / Alpine 3.x era).
GLIBC = (2, 39)
MUSL = (1, 2)
#: macOS version assumed for the macOS families (pip expands it to every older one).
MACOS = "15_0"


def _manylinux(arch: str) -> tuple[str, ...]:
    # packaging/pip order: the bare linux tag, then manylinux newest first, legacy aliases
    # where their glibc falls.
    out = [f"linux_{arch}"]
    oldest = 5 if arch in ("x86_64", "i686") else 17
    for minor in range(GLIBC[1], oldest - 1, -1):
        out.append(f"manylinux_2_{minor}_{arch}")
        if minor == 17:
            out.append(f"manylinux2014_{arch}")
        if minor == 12 and arch in ("x86_64", "i686"):
            out.append(f"manylinux2010_{arch}")
        if minor == 5:
            out.append(f"manylinux1_{arch}")
    return tuple(out)


def _musllinux(arch: str) -> tuple[str, ...]:
    return (f"linux_{arch}", *(f"musllinux_1_{m}_{arch}" for m in range(MUSL[1], -1, -1)))


#: Platform families of the common targets: name -> pip ``--platform`` values.
PLATFORM_FAMILIES: dict[str, tuple[str, ...]] = {
    "manylinux_x86_64": _manylinux("x86_64"),
    "manylinux_aarch64": _manylinux("aarch64"),
    "musllinux_x86_64": _musllinux("x86_64"),
    "macos_arm64": (f"macosx_{MACOS}_arm64",),
    "macos_x86_64": (f"macosx_{MACOS}_x86_64",),
    "win_amd64": ("win_amd64",),
}


@dataclass(frozen=True)
class NamedTarget:
    """A target with a short name (``current``, ``cp312-win_amd64``) for reports."""

    name: str
    target: TargetPython
    python: str  # "3.12"
    platform: str  # a family name, a platform tag, or "current"
    description: str


def current_named(target: TargetPython, *, note: str = "this interpreter") -> NamedTarget:
    py = f"{target.version[0]}.{target.version[1]}"
    return NamedTarget("current", target, py, "current",
                       f"{target.describe()} ({note})")


def named_target(python: str, platform: str, *, base: TargetPython) -> NamedTarget:
    """CPython ``python`` (``3.12``) on ``platform``: a family, or tags joined with ``+``."""
    platforms = PLATFORM_FAMILIES.get(platform)
    if platforms is None:
        platforms = tuple(p for p in platform.split("+") if p)
        for p in platforms:
            if not re.fullmatch(r"[a-z0-9_.]+", p):
                raise UsageError(
                    f"invalid target platform {p!r}",
                    hint="give a platform family (" + ", ".join(PLATFORM_FAMILIES) + ") or a "
                    "wheel platform tag such as manylinux_2_28_x86_64 or macosx_14_0_arm64")
    target = foreign_target(python_version=python, platforms=platforms, implementation="cp",
                            base=base)
    nodot = python.replace(".", "")
    return NamedTarget(f"cp{nodot}-{platform}", target, python, platform,
                       f"CPython {python} on {platform}")


def _pythons(text: str) -> list[str]:
    if text in ("*", "common"):
        return list(COMMON_PYTHONS)
    match = re.fullmatch(r"(\d+)\.(\d+)(?:-(\d+)\.(\d+))?", text)
    if not match:
        raise UsageError(f"invalid Python version {text!r} in a target",
                         hint="write 3.12, or a range such as 3.10-3.14")
    major, lo = int(match.group(1)), int(match.group(2))
    if match.group(3) is None:
        return [f"{major}.{lo}"]
    if int(match.group(3)) != major or int(match.group(4)) < lo:
        raise UsageError(f"invalid Python version range {text!r}",
                         hint="write a range within one major version, such as 3.10-3.14")
    return [f"{major}.{m}" for m in range(lo, int(match.group(4)) + 1)]


def parse_targets(specs: Iterable[str], *, current: NamedTarget) -> tuple[NamedTarget, ...]:
    """Parse ``--targets`` values: comma-separated ``current``, ``common`` or ``PY:PLATFORM``.

    ``PY`` is ``3.12``, a range ``3.10-3.14`` or ``*`` (3.10-3.14); ``PLATFORM`` is a family of
    :data:`PLATFORM_FAMILIES`, ``*`` (all of them), or wheel platform tags joined with ``+``.
    """
    out: dict[str, NamedTarget] = {}
    for spec in specs:
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            if item == "current":
                out.setdefault(current.name, current)
                continue
            if item == "common":
                item = "*:*"
            py, sep, platform = item.partition(":")
            if not sep or not py or not platform:
                raise UsageError(
                    f"invalid target {item!r}",
                    hint="write current, common, or PYTHON:PLATFORM such as "
                    "3.12:manylinux_x86_64, 3.10-3.14:win_amd64 or 3.13:macosx_14_0_arm64")
            families = list(PLATFORM_FAMILIES) if platform == "*" else [platform]
            for version in _pythons(py):
                for family in families:
                    t = named_target(version, family, base=current.target)
                    out.setdefault(t.name, t)
    if not out:
        # no target at all: a lock for nothing, an audit of no environment
        raise UsageError(f"--targets {', '.join(repr(s) for s in specs)} names no target",
                         hint="write current, common, or PYTHON:PLATFORM such as "
                         "3.12:manylinux_x86_64, separated by commas")
    return tuple(out.values())


def compress_names(names: Sequence[str], targets: Sequence[NamedTarget]) -> str:
    """A short text for a set of target names, e.g. ``current; 3.10-3.12 manylinux_x86_64,
    win_amd64; 3.14 macos_arm64`` (platforms sharing the same Python versions are joined)."""
    chosen = set(names)
    if not chosen:
        return ""
    if len(targets) > 2 and chosen == {t.name for t in targets}:
        return f"all {len(targets)} targets"
    parts: list[str] = []
    by_platform: dict[str, list[str]] = {}
    for t in targets:
        if t.name not in chosen:
            continue
        if t.platform == "current":
            parts.append("current")
        else:
            by_platform.setdefault(t.platform, []).append(t.python)
    by_pythons: dict[str, list[str]] = {}
    for platform, pythons in by_platform.items():
        by_pythons.setdefault(_ranges(pythons), []).append(platform)
    for versions, platforms in by_pythons.items():
        parts.append(f"{versions} {', '.join(platforms)}")
    return "; ".join(parts)


def _ranges(pythons: Sequence[str]) -> str:
    minors = sorted({(int(p.split(".")[0]), int(p.split(".")[1])) for p in pythons})
    runs: list[list[tuple[int, int]]] = []
    for v in minors:
        if runs and runs[-1][-1][0] == v[0] and runs[-1][-1][1] + 1 == v[1]:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ",".join(f"{r[0][0]}.{r[0][1]}" if len(r) == 1 else
                    f"{r[0][0]}.{r[0][1]}-{r[-1][0]}.{r[-1][1]}" for r in runs)


# -- selection and views --------------------------------------------------------------------------

RulesFor = Callable[[TargetPython], SelectionRules]


def selections(listing: ProjectListing, version: Version, targets: Sequence[NamedTarget],
               rules_for: RulesFor) -> dict[str, IndexFile | None]:
    """Target name -> the file ``pip install NAME==VERSION`` would select there (None: none).

    All configured sources are pooled, as pip pools them; no hashes are assumed.
    """
    files = [f for f in listing.files if f.version == version]
    spec = SpecifierSet(f"=={version}")
    out: dict[str, IndexFile | None] = {}
    for t in targets:
        ranked = order_candidates(files, spec, rules_for(t.target))
        out[t.name] = ranked[0].file if ranked else None
    return out


@dataclass(frozen=True)
class FileRow:
    file: IndexFile
    offset: timedelta | None  # from the release start; None when that or its time is unknown
    late: bool  # the policy judges it late (allowed by an exception or not)
    selected_by: tuple[str, ...]  # target names, in target order
    verdict: Verdict = "on-time"


@dataclass(frozen=True)
class ReleaseView:
    """One release on one source: files in upload order, with lateness and selection."""

    project: str
    version: Version
    source: Source
    timeline: ReleaseTimeline
    late_after: timedelta
    rows: tuple[FileRow, ...]
    targets: tuple[NamedTarget, ...]
    selection: tuple[tuple[str, IndexFile | None], ...]  # every target, across all sources

    @property
    def start(self) -> datetime | None:
        """The release start, None when it is unknown (see :attr:`problem`)."""
        return self.timeline.release_start

    @property
    def problem(self) -> str | None:
        """Why the release start (so every file's lateness) is unknown, or None."""
        return self.timeline.start_problem

    @property
    def end(self) -> datetime | None:
        times = [f.upload_time for f in self.timeline.files if f.upload_time is not None]
        return max(times) if times else None

    @property
    def spread(self) -> timedelta | None:
        start, end = self.start, self.end
        return end - start if start is not None and end is not None else None

    @property
    def late_rows(self) -> tuple[FileRow, ...]:
        return tuple(r for r in self.rows if r.late)


def release_views(listing: ProjectListing, version: Version, targets: Sequence[NamedTarget],
                  rules_for: RulesFor, policy: Policy) -> list[ReleaseView]:
    """One view per source that lists files of ``version`` (pip's source order), each file
    dated and judged by the policy (:meth:`ReleaseTimeline.date`, :meth:`Policy.judge`)."""
    chosen = selections(listing, version, targets, rules_for)
    sources: list[Source] = []
    for f in listing.files:
        if f.version == version and f.source not in sources:
            sources.append(f.source)
    views = []
    for source in sources:
        tl = release_timeline(listing, version, source)
        rows = []
        for f in tl.files:
            judgment = policy.judge(listing.name, version, tl.date(f))
            selected = tuple(name for name, g in chosen.items()
                             if g is not None and g.url == f.url and g.source == f.source)
            rows.append(FileRow(f, judgment.dated.lateness, judgment.is_late, selected,
                                judgment.verdict))
        views.append(ReleaseView(listing.name, version, source, tl, policy.late_after,
                                 tuple(rows), tuple(targets), tuple(chosen.items())))
    return views


__all__ = ["COMMON_PYTHONS", "PLATFORM_FAMILIES", "FileRow", "NamedTarget", "ReleaseView",
           "RulesFor",
           "compress_names", "current_named", "named_target", "parse_targets",
           "release_views", "selections"]
