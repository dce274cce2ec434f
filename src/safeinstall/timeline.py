"""A release's timeline: when it began, when each of its files appeared, and which came late."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from packaging.version import Version

from safeinstall.finder import IndexFile, ProjectListing, Source
from safeinstall.policy import DatedFile

# CPython feature releases (x.y.0), used only to explain a late wheel, never to excuse it.
CPYTHON_RELEASES: dict[tuple[int, int], date] = {
    (3, 6): date(2016, 12, 23), (3, 7): date(2018, 6, 27), (3, 8): date(2019, 10, 14),
    (3, 9): date(2020, 10, 5), (3, 10): date(2021, 10, 4), (3, 11): date(2022, 10, 24),
    (3, 12): date(2023, 10, 2), (3, 13): date(2024, 10, 7), (3, 14): date(2025, 10, 7),
    (3, 15): date(2026, 10, 1),
}


@dataclass(frozen=True)
class ReleaseTimeline:
    """All files of one version on one source, with upload times."""

    project: str
    version: Version
    source: Source
    files: tuple[IndexFile, ...]  # ordered by upload time, files without one last

    @cached_property
    def release_start(self) -> datetime | None:
        times = [f.upload_time for f in self.files if f.upload_time is not None]
        return min(times) if times else None

    @property
    def has_upload_times(self) -> bool:
        return bool(self.files) and all(f.upload_time is not None for f in self.files)

    @cached_property
    def start_problem(self) -> str | None:
        """Why this release's start is not known, or None when it is: every file must be dated
        (a late file among undated ones would otherwise become the start), and a filename listed
        more than once must agree on its upload time and sha256."""
        if not self.files:
            return f"{self.project} {self.version} lists no files on {self.source.url}"
        undated = [f.filename for f in self.files if f.upload_time is None]
        if undated:
            shown = ", ".join(undated[:3]) + (f" and {len(undated) - 3} more"
                                              if len(undated) > 3 else "")
            return (f"{self.source.url} gives no readable upload time for {shown}, so the "
                    f"start of {self.project} {self.version} is unknown")
        seen: dict[str, IndexFile] = {}
        for f in self.files:
            prev = seen.setdefault(f.filename, f)
            if prev is not f and (prev.upload_time != f.upload_time or
                                  (prev.sha256 and f.sha256 and prev.sha256 != f.sha256)):
                return (f"{self.source.url} lists {f.filename} more than once with different "
                        "upload times or hashes: the timeline of "
                        f"{self.project} {self.version} is inconsistent")
        return None

    def date(self, f: IndexFile) -> DatedFile:
        """``f`` placed in this timeline (the one place where a file is dated)."""
        dated = next((g for g in self.files if g.filename == f.filename), f)
        problem = self.start_problem
        if problem is None and dated.upload_time is None:
            problem = f"{self.source.url} gives no upload time for {f.filename}"
        start = None if problem else self.release_start
        lateness = None
        if start is not None and dated.upload_time is not None:
            lateness = dated.upload_time - start
        return DatedFile(f.filename, f.sha256 or dated.sha256, dated.upload_time, start,
                         lateness, problem)

    def lateness(self, f: IndexFile) -> timedelta | None:
        start = self.release_start
        if start is None or f.upload_time is None:
            return None
        return f.upload_time - start

    def late_files(self, threshold: timedelta) -> list[IndexFile]:
        out = []
        for f in self.files:
            late = self.lateness(f)
            if late is not None and late > threshold:
                out.append(f)
        return out


def release_timeline(listing: ProjectListing, version: Version, source: Source) -> ReleaseTimeline:
    files = listing.release(version, source)
    far = datetime.max.replace(tzinfo=None)
    ordered = sorted(
        files,
        key=lambda f: (f.upload_time is None,
                       f.upload_time.replace(tzinfo=None) if f.upload_time else far, f.filename),
    )
    return ReleaseTimeline(listing.name, version, source, tuple(ordered))


def timeline_for(listing: ProjectListing, f: IndexFile, reference: Sequence[IndexFile] = (),
                 sha256: str | None = None) -> tuple[ReleaseTimeline, str | None]:
    """The timeline that dates ``f``: its own source's, or, when that source has no upload
    times (a mirror, find-links), another configured index -- or a ``--times-from`` index, whose
    files are ``reference`` -- listing the *same file* (same name and sha256) with times.
    ``sha256`` is the file's digest when the listing has none (computed on download).
    Returns the timeline and, if borrowed, a note saying from where."""
    own = release_timeline(listing, f.version, f.source)
    digest = f.sha256 or sha256
    if own.has_upload_times or not digest:
        return own, None
    for other in (*listing.files, *reference):
        if (other.source != f.source and other.filename == f.filename
                and other.sha256 == digest and other.upload_time is not None):
            times_from = other.source.kind == "times-from"
            pool = ProjectListing(listing.name, tuple(reference)) if times_from else listing
            borrowed = release_timeline(pool, f.version, other.source)
            return borrowed, (f"{f.source.url} gives no upload times; dated by the identical "
                              f"file (same sha256) on {other.source.url}"
                              + (" (--times-from)" if times_from else ""))
    return own, None


def likely_reason(f: IndexFile, start: datetime | None) -> str | None:
    """A benign explanation that *may* fit a late wheel. Information only, never an exemption."""
    if not f.is_wheel or start is None:
        return None
    newest: tuple[int, int] | None = None
    for tag in f.tags:
        interp = tag.interpreter
        if interp.startswith("cp") and interp[2:].isdigit() and len(interp) >= 4:
            ver = (int(interp[2]), int(interp[3:]))
            if newest is None or ver > newest:
                newest = ver
    if newest is None:
        return None
    released = CPYTHON_RELEASES.get(newest)
    if released is not None and released > start.date():
        return (f"the wheel is for CPython {newest[0]}.{newest[1]}, released {released}, after "
                f"this release began ({start.date()}): a typical backfill - but an attacker would "
                "choose exactly this disguise, so compare the wheel with the on-time files")
    return None
