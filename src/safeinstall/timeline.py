"""A release's timeline: when it began, when each of its files appeared, and which came late."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from packaging.version import Version

from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile, Source
from safeinstall.policy import DatedFile
from safeinstall.urls import redact_url

# CPython feature releases (x.y.0), used only to explain a late wheel, never to excuse it.
CPYTHON_RELEASES: dict[tuple[int, int], date] = {
    (3, 6): date(2016, 12, 23), (3, 7): date(2018, 6, 27), (3, 8): date(2019, 10, 14),
    (3, 9): date(2020, 10, 5), (3, 10): date(2021, 10, 4), (3, 11): date(2022, 10, 24),
    (3, 12): date(2023, 10, 2), (3, 13): date(2024, 10, 7), (3, 14): date(2025, 10, 7),
    (3, 15): date(2026, 10, 1),
}


@dataclass(frozen=True)
class ReleaseTimeline:
    """All files of one version on one source, with upload times.

    ``related``: for a local version (``1.0+cpu``), the files of its public version and of the
    other local variants of it on the same source. A local variant is dated against the
    earliest start of that whole family, so that ``1.0+evil`` uploaded a month after ``1.0``
    is late, not a release of its own (a requirement ``==1.0`` is satisfied by either).
    """

    project: str
    version: Version
    source: Source
    files: tuple[IndexFile, ...]  # ordered by upload time, files without one last
    related: tuple[IndexFile, ...] = ()

    @property
    def family(self) -> tuple[IndexFile, ...]:
        """Every file that decides the start: this version's and ``related``."""
        return self.files + self.related

    @cached_property
    def first_upload(self) -> datetime | None:
        """The earliest upload time given for any file of the family (display only: it is the
        release start only when :attr:`start_problem` is None)."""
        times = [f.upload_time for f in self.family if f.upload_time is not None]
        return min(times) if times else None

    @cached_property
    def release_start(self) -> datetime | None:
        """When the release began, or None when that is not known (:attr:`start_problem`)."""
        return None if self.start_problem is not None else self.first_upload

    @property
    def has_upload_times(self) -> bool:
        return bool(self.files) and all(f.upload_time is not None for f in self.family)

    @cached_property
    def start_inconsistent(self) -> bool:
        """A file name is listed more than once with different upload times or hashes."""
        return self._conflict() is not None

    def _conflict(self) -> tuple[IndexFile, IndexFile] | None:
        seen: dict[str, IndexFile] = {}
        for f in self.family:
            prev = seen.setdefault(f.filename, f)
            if prev is f:
                continue
            same_bytes = prev.sha256 == f.sha256 and (prev.sha256 is not None
                                                      or prev.url == f.url)
            if prev.upload_time != f.upload_time or not same_bytes:
                return prev, f
        return None

    @cached_property
    def start_problem(self) -> str | None:
        """Why this release's start is not known, or None when it is: every file must be dated
        (a late file among undated ones would otherwise become the start), and a filename listed
        more than once must agree on its upload time and sha256."""
        where = redact_url(self.source.url)
        what = f"{self.project} {self.version}"
        if not self.files:
            return f"{where} lists no files of {what}"
        conflict = self._conflict()
        if conflict is not None:
            a, b = conflict
            differ = []
            if a.upload_time != b.upload_time:
                differ.append(f"upload times {_when(a)} and {_when(b)}")
            if a.sha256 != b.sha256 or (a.sha256 is None and a.url != b.url):
                differ.append(f"sha256 {a.sha256 or 'none'} and {b.sha256 or 'none'}")
            return (f"{where} lists {a.filename} more than once, with different "
                    f"{' and '.join(differ)}: the timeline of {what} is inconsistent")
        undated = [f for f in self.family if f.upload_time is None]
        if undated:
            parts = [f"an unreadable upload-time for {f.filename} ({f.upload_time_error})"
                     if f.upload_time_error else f"no upload time for {f.filename}"
                     for f in undated[:3]]
            more = f" and for {len(undated) - 3} more file(s)" if len(undated) > 3 else ""
            family = (f" (with its public release and local variants: "
                      f"{self.version.public}, {self.version.public}+...)"
                      if self.related else "")
            return (f"{where} gives {'; '.join(parts)}{more}, so the start of {what}"
                    f"{family} is unknown")
        return None

    def date(self, f: IndexFile, sha256: str | None = None) -> DatedFile:
        """``f`` placed in this timeline (the one place where a file is dated). ``sha256``:
        the file's digest when its listing has none (computed on download).

        The lateness is known only when the release start is (:attr:`start_problem`) and
        ``f`` is one of this timeline's files (same name, and same sha256 when both are
        known); otherwise ``problem`` says why and the lateness is None."""
        digest = f.sha256 or sha256
        listed = next((g for g in self.files if g.filename == f.filename
                       and (digest is None or g.sha256 is None or g.sha256 == digest)), None)
        problem = self.start_problem
        if problem is None and listed is None:
            problem = (f"{f.filename} is not among the files of {self.project} "
                       f"{self.version} on {redact_url(self.source.url)}")
        dated = listed or f
        start = None if problem else self.release_start
        lateness = None
        if start is not None and dated.upload_time is not None:
            lateness = dated.upload_time - start
        return DatedFile(f.filename, digest or dated.sha256, dated.upload_time, start,
                         lateness, problem,
                         inconsistent=problem is not None and self.start_inconsistent,
                         local_variant=self.version.local is not None)

    def lateness(self, f: IndexFile) -> timedelta | None:
        """``date(f).lateness``: None unless the release start is known."""
        return self.date(f).lateness


def _when(f: IndexFile) -> str:
    if f.upload_time is not None:
        return f.upload_time.isoformat().replace("+00:00", "Z")
    return "none" if f.upload_time_error is None else "unreadable"


def release_timeline(listing: ProjectListing, version: Version, source: Source) -> ReleaseTimeline:
    files = listing.release(version, source)
    related: tuple[IndexFile, ...] = ()
    if version.local is not None:
        public = Version(version.public)
        related = tuple(g for v in listing.versions()
                        if v != version and Version(v.public) == public
                        for g in listing.release(v, source))
    return ReleaseTimeline(listing.name, version, source, _by_time(files), _by_time(related))


def _by_time(files: Sequence[IndexFile]) -> tuple[IndexFile, ...]:
    far = datetime.max.replace(tzinfo=None)
    return tuple(sorted(
        files,
        key=lambda f: (f.upload_time is None,
                       f.upload_time.replace(tzinfo=None) if f.upload_time else far, f.filename),
    ))


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
