"""Judging one selected candidate: date its file in its release's timeline
(:meth:`~safeinstall.timeline.ReleaseTimeline.date`), let the policy judge it
(:meth:`~safeinstall.policy.Policy.judge`), and turn the verdict and the other checks (source,
mirrors, hashes, local variants) into the findings and the decision of a
:class:`~safeinstall.models.PackageResult`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from packaging.specifiers import SpecifierSet

from safeinstall.artifacts import sha256_file
from safeinstall.backfill import Mismatch, Outcome, Proof
from safeinstall.candidates import (
    DirectCandidate,
    IndexCandidate,
    InstalledCandidate,
    ResolvedPackage,
)
from safeinstall.checkcontext import CheckContext
from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile, LightFile
from safeinstall.policy import Finding, is_refused, severity_for
from safeinstall.results import Decision, PackageResult
from safeinstall.selection import order_candidates
from safeinstall.timeline import ReleaseTimeline, likely_reason, release_timeline, timeline_for


def _hint_for_late(ctx: CheckContext, c: IndexCandidate, tl: ReleaseTimeline) -> str:
    assert ctx.rules is not None
    on_time = [f for f in tl.files
               if ctx.policy.judge(c.name, c.version, tl.date(f)).verdict == "on-time"]
    alt = order_candidates(on_time, SpecifierSet(f"=={c.version}"), ctx.rules)
    parts = []
    if alt:
        parts.append(f"on-time alternative for this target: {alt[0].file.filename} "
                     f"(uploaded {_fmt(alt[0].file.upload_time)})")
    else:
        parts.append("no on-time file of this release fits this target")
    reason = likely_reason(c.file, tl.release_start)
    if reason:
        parts.append(f"likely reason: {reason}")
    only_file = f" (or this file only: --allow-late sha256:{c.file.sha256})" \
        if c.file.sha256 else ""
    parts.append(f"to accept this release after review: --allow-late '{c.name}=={c.version}'"
                 f"{only_file}")
    parts.append("to keep it, add to safe-install.toml:")
    parts += allow_late_toml(f"{c.name}=={c.version}").splitlines()
    return "\n".join(parts)


def allow_late_toml(release: str) -> str:
    """A TOML block (valid as printed, indented or not) that keeps an exception for
    ``release`` in safe-install.toml."""

    return ("[[allow-late]]\n"
            f"release = {json.dumps(release)}\n"
            'reason = "reviewed: why this late file is acceptable"')


def _fmt(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t else "unknown"


def evaluate_index_candidate(ctx: CheckContext, c: IndexCandidate, required_by: Sequence[str],
                             extras: Sequence[str], *, build_time: bool = False,
                             specifiers: Sequence[str] = ()) -> PackageResult:
    """Judge one selected index file. ``specifiers``: the version specifiers of the
    requirements that selected it (to say when a local variant was taken for a requirement
    that names none)."""
    from safeinstall.durations import format_duration

    f = c.file
    listing = ctx.finder.project(c.name)
    # an entry with invalid index data is never downloaded, so not hashed to be dated either
    digest, reference = (f.sha256, None) if f.invalid is not None else \
        _dating_inputs(ctx, f, listing)
    tl, borrowed = timeline_for(listing, f, reference or (), digest)
    findings: list[Finding] = []
    if f.invalid is not None:
        findings.append(Finding(
            "invalid-index-data", "error",
            f"{f.source.url} lists {f.filename!r}, the file pip would select, with invalid "
            f"index data: {f.invalid}",
            f.filename, f.sha256,
            hint="the index is broken or hostile: nothing was downloaded from this entry. "
            "Pin another version, or report it to the index's operator",
        ))
    notes: list[str] = [borrowed] if borrowed else []
    findings += _source_findings(ctx, c, listing, reference, digest, notes)
    policy = ctx.policy
    dated = tl.date(f, digest)
    judgment = policy.judge(c.name, c.version, dated)
    unproven: tuple[Mismatch, int] | None = None
    if judgment.verdict == "late" and policy.on_late == "verify" and f.invalid is None:
        outcome, tried = _prove_backfill(ctx, c, tl, listing)
        if isinstance(outcome, Proof):
            judgment = policy.judge(c.name, c.version, dated, proof=outcome)
        else:
            unproven = outcome, tried
    start = dated.release_start
    upload = dated.upload_time
    lateness = dated.lateness
    family = (f" (a local variant: dated against the start of {c.version.public} and all "
              "its local variants)" if dated.local_variant else "")
    if judgment.kind == "inconsistent-timeline":
        findings.append(Finding(
            "inconsistent-timeline", "error",
            f"{dated.problem}; whether {f.filename} was added late to its release cannot "
            "be checked",
            f.filename, dated.sha256,
            hint="an index that lists one file name twice with different upload times or "
            "hashes is broken or hostile (PyPI never does): one of the entries is false. "
            "Report it to the index's operators; this is not overridden by any option",
        ))
    elif judgment.kind == "unknown-upload-time":
        why = dated.problem or f"{f.source.url} gives no upload time for {f.filename}"
        if reference is not None and ctx.finder.times_from:
            why += (f", and no --times-from index ({', '.join(ctx.finder.times_from)}) lists "
                    "the identical file (same name and sha256)")
        assert judgment.severity is not None
        findings.append(Finding(
            "unknown-upload-time", judgment.severity,
            f"{why}; whether {f.filename} was added late to its release cannot be checked"
            f"{family}",
            f.filename, f.sha256,
            hint="the start of a release is known only when every file of it is dated: a late "
            "file among undated ones would otherwise pass for the first. Use an index that "
            "serves PEP 691 JSON with upload-time for every file (e.g. PyPI); for a mirror "
            "without upload times, date its files by the index it mirrors with "
            "--times-from https://pypi.org/simple/ (the identical file, same name and sha256); "
            "or accept the risk with --on-unknown-upload-time warn",
        ))
    elif judgment.is_late:
        assert lateness is not None
        message = (f"{f.filename} was uploaded {format_duration(lateness)} after its release "
                   f"began ({_fmt(start)}), more than the {format_duration(policy.late_after)} "
                   f"threshold{family}")
        exc = judgment.exception
        if exc is not None:
            findings.append(Finding(
                "late", "info",
                f"{message}; allowed by exception {exc} ({exc.origin}"
                + (f": {exc.reason}" if exc.reason else "") + ")",
                f.filename, f.sha256))
        elif judgment.proof is not None:
            proof = judgment.proof
            findings.append(Finding(
                "late-verified", "info",
                f"{message}; proven a benign backfill of the on-time {proof.reference} "
                f"(--on-late verify): {proof.describe()}",
                f.filename, f.sha256))
        else:
            assert judgment.severity is not None
            hint = _hint_for_late(ctx, c, tl)
            if unproven is not None:
                from safeinstall.backfillcheck import unproven_hint

                hint = unproven_hint(*unproven) + "\n" + hint
            findings.append(Finding("late", judgment.severity, message, f.filename, f.sha256,
                                    hint=hint))
    if start is not None:
        for other in tl.files:
            if other.filename == f.filename:
                continue
            seen = policy.judge(c.name, c.version, tl.date(other))
            if not seen.is_late:
                continue
            late = seen.dated.lateness
            assert late is not None
            findings.append(Finding(
                "late-unselected", "info",
                f"{other.filename} was added {format_duration(late)} after the release began; "
                "it is not selected for this target",
                other.filename, other.sha256))
    if dated.local_variant:
        findings.append(_local_variant_finding(c, specifiers))
    # trust
    # runtime hash pins do not apply to a build-time resolution (as in pip); build files are
    # trusted by the user's --build-constraint hashes only
    trusted = (ctx.build_trusted if build_time else ctx.trusted).get(c.name)
    if build_time and not trusted and ctx.settings.build_with_pins:
        pin = ctx.runtime_pins.get(c.name)  # the build takes the pinned, hashed version
        if pin is not None and pin.specifier.contains(c.version, prereleases=True):
            trusted = set(pin.hashes.get("sha256", ())) or None
    if trusted:
        if digest and digest not in trusted:
            findings.append(Finding(
                "hash-mismatch", "error",
                f"{f.filename} (sha256 {digest}) is not among the {len(trusted)} trusted "
                f"hash(es) given for {c.name}",
                f.filename, digest,
                hint="a file you did not pin would be installed: if this is a new file added to "
                "the release, find out why before trusting it",
            ))
    else:
        # pip's hash-checking mode does not cover build dependencies either
        # (pip: a --hash in a --build-constraint file turns it on for build environments)
        refuse = (ctx.build_hash_mode if build_time else ctx.hash_mode) \
            or policy.on_untrusted_hash == "refuse"
        findings.append(Finding(
            "untrusted-hash", "error" if refuse else "warning",
            f"no trusted hash for {c.name} {c.version}"
            + (" (a build dependency)" if build_time else "")
            + ": the index's sha256 proves integrity, not that this is the file you reviewed",
            f.filename, f.sha256,
            hint=("pin build dependencies by hash in a --build-constraint file "
                  "('name==version --hash=sha256:...'), e.g. the one `safe-install-tool lock` "
                  "writes" if build_time else
                  "hash-checking mode requires a --hash for every package, including "
                  "dependencies" if ctx.hash_mode else
                  "pin it with --hash in a requirements file (a lock of checked files)"),
        ))
    strong = [a for a, _ in f.hashes if a in ("sha256", "sha384", "sha512", "sha224")]
    if not strong:
        weak = sorted(a for a, _ in f.hashes)
        findings.append(Finding(
            "weak-hash", "info" if trusted else "warning",
            f"{f.source.url} publishes "
            + (f"only {'/'.join(weak)} (broken algorithms)" if weak else "no hash")
            + f" for {f.filename}: a file altered on the mirror or on the way is not detected "
            "by the index's hash"
            + ("; your --hash pins it" if trusted else "")
            + (f" (its sha256, computed on download, is {digest})" if digest else ""),
            f.filename, digest,
            hint="use an index that publishes sha256 (PEP 503 #sha256= or PEP 691 hashes), or "
            "pin the file with --hash",
        ))
    decision: Decision = "refuse" if is_refused(findings) else "install"
    reasons = tuple(c.ranked.reasons(ctx.rules, ctx.hash_mode)) if c.ranked and ctx.rules else ()
    passed_over = _passed_over(ctx, c, listing.release(c.version, f.source))
    return PackageResult(
        name=c.name, version=str(c.version), kind="index", filename=f.filename, url=f.url,
        index=f.source.url, sha256=digest, upload_time=upload, release_start=start,
        lateness=lateness, findings=tuple(findings), decision=decision,
        required_by=tuple(required_by), extras=tuple(sorted(extras)),
        selection_reasons=reasons, release_files=len(tl.files), notes=tuple(notes),
        trusted_hashes=tuple(sorted(trusted or ())),
        passed_over=passed_over,
        build_time=build_time,
        proof=judgment.proof,
    )


def _prove_backfill(ctx: CheckContext, c: IndexCandidate, tl: ReleaseTimeline,
                    listing: ProjectListing) -> tuple[Outcome, int]:
    """``--on-late verify``: prove the late file a benign backfill of the on-time files of its
    release on its index (safeinstall.backfillcheck), on the downloaded, hash-checked bytes
    that the install will use. Once per file and run."""
    from safeinstall.backfillcheck import prove_dated

    f = c.file

    def compute() -> tuple[Outcome, int]:
        if f.is_wheel:
            ctx.progress(f"comparing {f.filename} with the on-time files of its release")
        return prove_dated(ctx.cache, ctx.policy, f, tl, listing.release(c.version, f.source))

    return ctx.proofs.get((f.url, f.sha256), compute)


def _local_variant_finding(c: IndexCandidate, specifiers: Sequence[str]) -> Finding:
    """A local version (``1.0+evil``) was selected: say so, loudly when no requirement named a
    local label (``==1.0`` is satisfied by ``1.0+anything``, which anyone who can upload to the
    index can add to a release)."""
    named = [s for s in specifiers if "+" in s]
    public = c.version.public
    if named:
        return Finding("local-version", "info",
                       f"{c.file.filename} is a local variant ({c.version}) of {c.name} "
                       f"{public}, as the requirement names ({', '.join(named)})",
                       c.file.filename, c.file.sha256)
    asked = ", ".join(s for s in specifiers if s) or "any version"
    return Finding(
        "local-version", "warning",
        f"a local variant was chosen for a requirement that did not name one: "
        f"{c.file.filename} ({c.version}) satisfies {c.name} {asked} in place of {public}; "
        f"it was dated against the start of {public} and all its local variants",
        c.file.filename, c.file.sha256,
        hint=f"if you meant the public release, pin it: {c.name}==={public}; if you meant "
        f"this variant, name it: {c.name}=={c.version}",
    )


def _dating_inputs(ctx: CheckContext, f: IndexFile, listing: ProjectListing
                   ) -> tuple[str | None, tuple[IndexFile, ...] | None]:
    """The file's sha256 and the ``--times-from`` files of its project (looked up only when
    the file's own source cannot date it). A listing without a sha256 is downloaded (and
    verified against what the index does publish) and hashed: the digest is what the file is
    matched by, on other indexes and in the release snapshots, and what ``--allow-late
    sha256:`` and a lock name. (The download is this run's: the same bytes are installed.)
    Without it, an index could swap a file it had served under the same name and leave the
    sha256 out of its page, and trust on first use would compare names only."""

    digest = f.sha256
    if digest is None:
        path = ctx.cache.downloaded(f)  # already downloaded (for its metadata)?
        if path is None:
            ctx.progress(f"hashing {f.filename}: its index gives no sha256")
            path = ctx.cache.fetch(f)
        digest = sha256_file(path)
    if release_timeline(listing, f.version, f.source).has_upload_times:
        return digest, None
    reference = ctx.finder.reference(f.project) if ctx.finder.times_from else ()
    return digest, reference


def _versions_text(files: Sequence[LightFile]) -> str:
    versions = sorted({g.version for g in files if g.version is not None})
    shown = ", ".join(str(v) for v in versions[-8:])
    return ("..., " if len(versions) > 8 else "") + shown


def _source_findings(ctx: CheckContext, c: IndexCandidate, listing: ProjectListing,
                     reference: Sequence[IndexFile] | None, digest: str | None,
                     notes: list[str]) -> list[Finding]:
    """``mirror-mismatch``: the selected file's name with another sha256 on another configured
    (or --times-from) index; ``multiple-indexes``: the name on several configured indexes."""
    f = c.file
    findings: list[Finding] = []
    seen: set[str] = set()
    for other in (*listing.named(f.filename), *(reference or ())):
        # the same name with another sha256, on another source or twice on the same page
        if other.filename != f.filename or other == f or not other.sha256 \
                or not digest or other.sha256 == digest or other.source.url in seen:
            continue
        seen.add(other.source.url)
        findings.append(Finding(
            "mirror-mismatch", "error",
            f"{f.filename} from {f.source.url} has sha256 {digest}, but "
            f"{other.source.url}{' (--times-from)' if other.source.kind == 'times-from' else ''}"
            f" lists a file of the same name with sha256 {other.sha256}",
            f.filename, digest,
            hint="two indexes serve different files under one name (PyPI never lets a file name "
            "be reused): one of them was altered. Find out which before installing anything "
            "of this release",
        ))
    if len(listing.index_urls()) > 1:  # (cheap: most projects are on one index)
        # Identical copies (same names and sha256) never tell which index is the origin: a
        # private index whose files an attacker re-hosts next to a 99.0 of his own looks like
        # a mirror of the attacker's. Only the user can say where a name comes from
        # ([index-for]); until then every index offering it is a source of its own.
        light = listing.light()
        indexes = list(dict.fromkeys(g.source.url for g in light if g.source.is_origin))
        per_index = "; ".join(
            f"{url} ({_versions_text([g for g in light if g.source.url == url])})"
            for url in indexes)
        contents = [{(g.filename, g.sha256) for g in light if g.source.url == url and g.sha256}
                    for url in indexes]
        copies = " (some of them identical copies, which do not show which index is the " \
            "origin)" if any(a & b for i, a in enumerate(contents) for b in contents[i + 1:]) \
            else ""
        findings.append(Finding(
            "multiple-indexes", severity_for(ctx.policy.on_multiple_indexes),
            f"{c.name} is on {len(indexes)} configured indexes{copies}: {per_index}"
            + (" (a find-links page on a server counts as an index)"
               if any(g.source.kind == "find-links" and g.source.url in indexes for g in light)
               else "")
            + ". pip merges "
            "them and takes the best version from any of them, which is how "
            "dependency-confusion attacks work",
            f.filename, f.sha256,
            hint=f"if {c.name} must come from one index, pin it there in safe-install.toml:"
            f"\n    [index-for]\n    {c.name} = \"<one of: {', '.join(indexes)}>\"\n"
            f"(or --index-for {c.name}=URL); to accept the merge after review: "
            "--on-multiple-indexes warn",
        ))
    return findings


def _passed_over(ctx: CheckContext, c: IndexCandidate,
                 files: Sequence[IndexFile]) -> tuple[tuple[str, str], ...]:
    """Why each other file of the selected release was not the one pip takes."""
    from safeinstall.selection import evaluate_file, rank

    assert ctx.rules is not None
    hashes = {"sha256": frozenset(ctx.trusted.get(c.name, set()))} \
        if ctx.trusted.get(c.name) else {}
    chosen = rank(c.file, ctx.rules, hashes)
    out: list[tuple[str, str]] = []
    for g in files:
        if g.filename == c.file.filename:
            continue
        why = evaluate_file(g, ctx.rules)
        if why is None:
            other = rank(g, ctx.rules, hashes)
            if hashes and not other.key[0]:
                why = "its hash is not among the trusted hashes (hash-checking mode)"
            elif g.is_yanked:
                why = "yanked"
            elif not g.is_wheel:
                why = "an sdist ranks below a compatible wheel of the same version"
            elif other.tag_rank is not None and chosen.tag_rank is not None \
                    and other.tag_rank > chosen.tag_rank:
                why = (f"its best tag {ctx.rules.target.tags[other.tag_rank]} ranks "
                       f"#{other.tag_rank + 1}, below the selected file's "
                       f"#{chosen.tag_rank + 1}")
            elif other.key <= chosen.key:
                why = "ranks lower by pip's order (build tag or an equal copy pip met earlier)"
            else:
                why = "ranks higher, but pip never reached it (should not happen)"
        if g.invalid is not None:
            why += f"; its index data is invalid ({g.invalid}): it is never downloaded"
        out.append((g.filename, why))
    return tuple(out)


def evaluate(ctx: CheckContext, pkg: ResolvedPackage, *, build_time: bool = False) -> \
        PackageResult:
    c = pkg.candidate
    if isinstance(c, IndexCandidate):
        result = evaluate_index_candidate(ctx, c, pkg.required_by, sorted(pkg.extras),
                                          build_time=build_time, specifiers=pkg.specifiers)
        meta = ctx._metadata.get(c)
        if meta is not None:
            result = replace(result, metadata_source=meta.source)
        return result
    if isinstance(c, InstalledCandidate):
        return PackageResult(
            name=c.name, version=str(c.version), kind="installed", filename=None, url=None,
            index=None, sha256=None, upload_time=None, release_start=None, lateness=None,
            findings=(), decision="already-satisfied", required_by=pkg.required_by,
            extras=tuple(sorted(pkg.extras)),
            notes=("already installed in the target and satisfies the requirements; pip "
                   "leaves it alone",),
        )
    assert isinstance(c, DirectCandidate)
    if c.kind in ("local", "editable"):
        finding = Finding("unverifiable-source", "info",
                          f"{c.url} is a local {'editable ' if c.kind == 'editable' else ''}"
                          "path: your own code, not checked", None, None)
    else:
        severity = "info" if c.hashes else severity_for(ctx.policy.on_unverifiable)
        finding = Finding("unverifiable-source", severity,
                          f"{c.url} is a {'VCS' if c.kind == 'vcs' else 'direct URL'} "
                          "requirement with no index, upload time or timeline"
                          + ("; pinned by the hash you gave" if c.hashes else ""),
                          None, None)
    return PackageResult(
        name=c.name, version=str(c.version), kind=c.kind,  # type: ignore[arg-type]
        filename=os.path.basename(c.local_path) if c.local_path else None, url=c.url,
        index=None, sha256=None, upload_time=None, release_start=None, lateness=None,
        findings=(finding,), decision="refuse" if finding.severity == "error" else "install",
        required_by=pkg.required_by, extras=tuple(sorted(pkg.extras)),
        metadata_source=c.metadata.source,
    )
