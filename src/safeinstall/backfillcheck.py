"""``--on-late verify``: choose the on-time files a late wheel is proven against, fetch them
(verified by sha256, like every download) and run the content proofs of
:mod:`safeinstall.backfill` on the exact bytes that will be installed.

References, all of the same release on the same index and judged on time by the policy:

* for a pure-Python wheel (``Root-Is-Purelib: true``), the first on-time sdist;
* for any wheel, then, up to :data:`MAX_WHEEL_REFERENCES` on-time wheels, those for the same
  operating system and architecture first, then for the same Python.

A late sdist is never verified: what it installs is decided by running its build.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from safeinstall.artifacts import ArtifactCache
from safeinstall.backfill import (
    Mismatch,
    Outcome,
    Proof,
    is_pure_wheel,
    verify_against_wheel,
    verify_pure_wheel,
)
from safeinstall.errors import SafeInstallError
from safeinstall.models import IndexFile
from safeinstall.policy import Policy
from safeinstall.timeline import ReleaseTimeline
from safeinstall.urls import redact_url

MAX_SDIST_REFERENCES = 1
MAX_WHEEL_REFERENCES = 2

_PLATFORM = re.compile(r"^(manylinux_\d+_\d+|manylinux\d+|musllinux_\d+_\d+|linux|"
                       r"macosx_\d+_\d+|win)_(.+)$")


def os_and_arch(platform: str) -> tuple[str, str]:
    """A wheel platform tag as (operating system, architecture): ``manylinux2014_x86_64`` and
    ``manylinux_2_17_x86_64`` are both ("linux", "x86_64"); musl is a system of its own."""
    p = platform.lower()
    if p == "win32":
        return "win", "x86"
    m = _PLATFORM.match(p)
    if m is None:
        return p, p
    system = m.group(1)
    if system.startswith(("manylinux", "linux")):
        system = "linux"
    elif system.startswith("musllinux"):
        system = "musllinux"
    elif system.startswith("macosx"):
        system = "macosx"
    return system, m.group(2)


def _rank(late: IndexFile, ref: IndexFile) -> tuple[bool, bool, bool]:
    mine = {os_and_arch(t.platform) for t in late.tags}
    theirs = {os_and_arch(t.platform) for t in ref.tags}
    same_platform = bool(mine & theirs)
    same_os = bool({s for s, _ in mine} & {s for s, _ in theirs})
    same_python = bool({t.interpreter for t in late.tags} & {t.interpreter for t in ref.tags})
    return (not same_platform, not same_os, not same_python)


def references(late: IndexFile, on_time: Sequence[IndexFile], *, pure: bool) -> list[IndexFile]:
    """The on-time files ``late`` is compared with, in order (see the module docstring).
    ``on_time`` is in upload order; a file without a sha256 from the index is never a
    reference (its bytes could not be tied to what the index lists as on time)."""
    usable = [g for g in on_time if g.sha256 and g.invalid is None
              and g.filename != late.filename and (late.is_yanked or not g.is_yanked)]
    sdists = [g for g in usable if not g.is_wheel][:MAX_SDIST_REFERENCES] if pure else []
    wheels = sorted((g for g in usable if g.is_wheel), key=lambda g: _rank(late, g))
    return sdists + wheels[:MAX_WHEEL_REFERENCES]


def prove_late_wheel(cache: ArtifactCache, late: IndexFile, late_path: Path,
                     on_time: Sequence[IndexFile]) -> tuple[Outcome, int]:
    """Try the references in order; the first proof wins. Returns the outcome (a
    :class:`Mismatch` with the first reference's first difference when none proves it) and
    the number of references tried."""
    refs = references(late, on_time, pure=is_pure_wheel(late_path))
    if not refs:
        return Mismatch("", (
            f"{redact_url(late.source.url)} lists no on-time file of this release to compare "
            "it with (a pure-Python wheel is compared with an on-time sdist, any wheel with an "
            "on-time wheel; files without a sha256 from the index are not used)")), 0
    first: Mismatch | None = None
    for ref in refs:
        outcome: Outcome
        try:
            path = cache.fetch(ref)
        except SafeInstallError as exc:
            outcome = Mismatch(ref.filename, f"the on-time {ref.filename} could not be "
                               f"downloaded to compare with: {exc.message}")
        else:
            outcome = (verify_against_wheel(late_path, path, reference_sha256=ref.sha256)
                       if ref.is_wheel else
                       verify_pure_wheel(late_path, path, sdist_sha256=ref.sha256))
        if isinstance(outcome, Proof):
            return outcome, len(refs)
        if first is None:
            first = outcome
    assert first is not None
    return first, len(refs)


def prove_dated(cache: ArtifactCache, policy: Policy, late: IndexFile, timeline: ReleaseTimeline,
                release_files: Sequence[IndexFile]) -> tuple[Outcome, int]:
    """``--on-late verify`` for one late file of a release: ``release_files`` are the files of
    the release on the late file's index, each dated in ``timeline`` (the one that dates the
    late file) and judged by ``policy``; the on-time ones, oldest first, are the candidates.
    The late file is fetched (verified by sha256): the very bytes an install then uses."""
    if not late.is_wheel:
        return Mismatch("", "a late sdist is never verified: what it installs is decided by "
                        "running its build"), 0
    on_time: list[tuple[datetime, str, IndexFile]] = []
    for g in release_files:
        judged = policy.judge(late.project, late.version, timeline.date(g))
        if judged.verdict == "on-time" and judged.dated.upload_time is not None:
            on_time.append((judged.dated.upload_time, g.filename, g))
    return prove_late_wheel(cache, late, cache.fetch(late),
                            [g for _t, _n, g in sorted(on_time, key=lambda x: x[:2])])


def unproven_hint(mismatch: Mismatch, tried: int) -> str:
    """Why a late file is not late-verified (the first difference found), for a hint."""
    where = f"compared with the on-time {mismatch.reference}: " if mismatch.reference else ""
    others = f" (and {tried - 1} other on-time file(s))" if tried > 1 else ""
    return f"not proven a benign backfill (--on-late verify){others}: {where}{mismatch.reason}"
