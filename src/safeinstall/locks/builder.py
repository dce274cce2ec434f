"""Building a lock from on-time files.

:class:`OnTimeFinder` is a :class:`~safeinstall.finder.Finder` that hides every late file
(unless an ``--allow-late`` exception covers it), so a lock is resolved from on-time files
only and says which files it left out and why. With ``--on-late verify`` it shows late wheels
until the check fails to prove one a benign backfill (:meth:`OnTimeFinder.unprove`).
:func:`build_lock` merges one checked resolution per target into a
:class:`~safeinstall.locks.model.Lock`, which :mod:`safeinstall.locks.writer` writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from safeinstall.errors import ResolutionError, UsageError
from safeinstall.finder import Finder
from safeinstall.listing import ProjectListing
from safeinstall.locks.model import LeftOut, Lock, LockedArtifact, LockedPackage
from safeinstall.locks.targets import marker_for
from safeinstall.models import IndexFile
from safeinstall.policy import Policy
from safeinstall.timeline import timeline_for

if TYPE_CHECKING:
    from safeinstall.backfill import Proof
    from safeinstall.results import CheckResult, PackageResult


class OnTimeFinder(Finder):
    """A finder that does not show late files to the resolver.

    Files the policy judges late are hidden (and remembered in :attr:`hidden`) unless an
    ``--allow-late`` exception covers them. Files whose lateness is unknown (an undated or
    inconsistent timeline) stay visible, so the check still refuses them.

    With ``--on-late verify`` a late wheel stays visible, so that the check can prove it a
    benign backfill (``late-verified``); one it could not prove is hidden from the next
    resolution (:meth:`unprove`), with the reason in its :class:`LeftOut`.
    """

    def __init__(self, *, policy: Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.hidden: dict[str, LeftOut] = {}  # by filename
        self.unproven: dict[str, str] = {}  # filename -> why it is not late-verified
        self._filtered: dict[NormalizedName, ProjectListing] = {}

    def unprove(self, why_by_filename: Mapping[str, str]) -> bool:
        """Hide these late files from now on (their proof failed); False when nothing is new."""
        new = {k: v for k, v in why_by_filename.items() if k not in self.unproven}
        if not new:
            return False
        self.unproven.update(new)
        self._filtered.clear()
        return True

    def project(self, name: str) -> ProjectListing:
        from safeinstall.durations import format_duration

        key = canonicalize_name(name)
        cached = self._filtered.get(key)
        if cached is not None:
            return cached
        listing = super().project(key)
        kept: list[IndexFile] = []
        for f in listing.files:
            tl, _ = timeline_for(listing, f)
            judgment = self.policy.judge(f.project, f.version, tl.date(f))
            if judgment.verdict == "late":
                if self.policy.on_late == "verify" and f.is_wheel and \
                        f.filename not in self.unproven:
                    kept.append(f)  # the check proves it (late-verified) or refuses it
                    continue
                late = judgment.dated.lateness
                assert late is not None
                why = self.unproven.get(f.filename)
                self.hidden[f.filename] = LeftOut(
                    str(f.project), str(f.version), f.filename, f.sha256, "late",
                    f"late: uploaded {format_duration(late)} after its release began "
                    f"(threshold {format_duration(self.policy.late_after)})"
                    + (f"; {why}" if why else ""),
                    judgment.dated.upload_time, late)
                continue
            kept.append(f)
        filtered = ProjectListing(listing.name, tuple(kept), listing.notes)
        self._filtered[key] = filtered
        return filtered

    def unfiltered(self, name: str) -> ProjectListing:
        return super().project(name)


def build_lock(results: Sequence[tuple[str, CheckResult]], finder: OnTimeFinder, *,
               policy: Policy, now: datetime) -> Lock:
    """Merge one checked resolution per target (label, result) into a lock.

    Different files per target are all recorded. A release that only some targets install
    (a dependency behind an environment marker, or another version of the same project)
    carries an environment marker that selects exactly those of the lock's targets
    (:func:`marker_for`), so the lock is right on every target it names.
    """
    from safeinstall.candidates import IndexCandidate

    versions: dict[str, dict[str, str]] = {}
    chosen: dict[tuple[str, str], dict[str, tuple[IndexFile, list[str]]]] = {}
    required_by: dict[str, list[str]] = {}
    starts: dict[tuple[str, str], datetime | None] = {}
    allowed: dict[str, str] = {}
    proofs: dict[str, Proof] = {}
    build: dict[tuple[str, str], dict[str, tuple[PackageResult, list[str]]]] = {}
    for label, result in results:
        for pkg in result.packages:
            if pkg.build_time:  # a build dependency of an sdist: kept apart
                if pkg.filename and pkg.url and pkg.sha256:
                    entry_b = build.setdefault((pkg.name, pkg.version), {}).setdefault(
                        pkg.filename, (pkg, []))
                    entry_b[1].append(label)
                continue
            cand = result.plan.get(pkg.name)
            if not isinstance(cand, IndexCandidate):
                where = pkg.url or pkg.filename or pkg.name
                raise UsageError(
                    f"{pkg.name} {pkg.version} comes from {where}, not from an index: a lock "
                    "records checked index artifacts only",
                    hint="lock the project's dependencies (list them, or use -r), and install "
                    "the project itself separately")
            versions.setdefault(pkg.name, {})[label] = pkg.version
            files = chosen.setdefault((pkg.name, pkg.version), {})
            f = cand.file
            entry = files.setdefault(f.filename, (f, []))
            entry[1].append(label)
            for who in pkg.required_by:
                if who not in required_by.setdefault(pkg.name, []):
                    required_by[pkg.name].append(who)
            starts[(pkg.name, pkg.version)] = pkg.release_start
            for finding in pkg.findings:
                if finding.kind == "late" and finding.severity == "info" and \
                        finding.filename == f.filename:
                    allowed[f.filename] = finding.message
            if pkg.proof is not None and pkg.filename == f.filename:
                proofs[f.filename] = pkg.proof
    envs = {label: dict(result.target.environment) for label, result in results}
    markers: dict[tuple[str, str], str | None] = {}
    for name, by_label in versions.items():
        for version in set(by_label.values()):
            markers[(name, version)] = marker_for(
                [t for t, v in by_label.items() if v == version], envs,
                what=f"{name} {version}", versions=by_label)
    packages: list[LockedPackage] = []
    left_out: list[LeftOut] = []
    for key in sorted(chosen, key=lambda k: (k[0], Version(k[1]))):
        name, version = key
        arts: list[LockedArtifact] = []
        listing = finder.unfiltered(name)
        for filename, (f, labels) in sorted(chosen[key].items()):
            tl, _ = timeline_for(listing, f)
            dated = tl.date(f)
            arts.append(LockedArtifact(
                filename=f.filename, url=f.url, index=f.source.url, sha256=f.sha256 or "",
                size=f.size, upload_time=dated.upload_time, lateness=dated.lateness,
                is_wheel=f.is_wheel, selected_by=tuple(labels),
                allowed_late=allowed.get(filename), proof=proofs.get(filename)))
        packages.append(LockedPackage(name, version, tuple(arts),
                                      tuple(required_by.get(name, ())), starts.get(key),
                                      markers.get(key)))
        recorded = {a.filename for a in arts}
        sources = {f.source for f, _ in chosen[key].values()}
        for g in listing.files:
            if str(g.version) != version or g.source not in sources or \
                    g.filename in recorded:
                continue
            hidden = finder.hidden.get(g.filename)
            if hidden is not None:
                left_out.append(hidden)
            elif g.is_yanked:
                left_out.append(LeftOut(name, version, g.filename, g.sha256, "yanked",
                                        "yanked" + (f": {g.yanked}" if g.yanked else "")))
            else:
                left_out.append(LeftOut(name, version, g.filename, g.sha256, "not-selected",
                                        "no locked target selects it", g.upload_time))
        for fname in recorded:
            if not next(iter(a for a in arts if a.filename == fname)).sha256:
                raise ResolutionError(f"{fname}: the index publishes no sha256 for it, so it "
                                      "cannot be locked by hash")
    build_packages = []
    for (name, version), by_file in sorted(build.items()):
        first = next(iter(by_file.values()))[0]
        build_packages.append(LockedPackage(name, version, tuple(
            LockedArtifact(filename=fn, url=p.url or "", index=p.index or "",
                           sha256=p.sha256 or "", size=None, upload_time=p.upload_time,
                           lateness=p.lateness, is_wheel=fn.endswith(".whl"),
                           selected_by=tuple(labels))
            for fn, (p, labels) in sorted(by_file.items())), first.required_by,
            first.release_start))
    return Lock(tuple(packages), tuple(left_out), tuple(label for label, _ in results), now,
                policy.late_after, build_packages=tuple(build_packages))
