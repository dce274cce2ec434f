"""Findings and the policy that turns them into decisions. Policies fail closed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.backfill import Proof
from safeinstall.errors import UsageError

logger = logging.getLogger(__name__)

Severity = Literal["error", "warning", "info"]
Action = Literal["refuse", "warn"]
#: what a late file does: ``verify`` refuses it unless its content is proven to be a benign
#: backfill of on-time files (safeinstall.backfill), then it is ``late-verified``
LateAction = Literal["refuse", "warn", "verify"]

DEFAULT_LATE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Finding:
    kind: str  # late, unknown-upload-time, untrusted-hash, unverifiable-source, late-unselected...
    severity: Severity
    message: str
    filename: str | None = None
    sha256: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class LateException:
    """A narrow, reviewed exception: one release (``name==version``) or one file (``sha256:``)."""

    name: str | None = None
    version: Version | None = None
    sha256: str | None = None
    reason: str = ""
    origin: str = "command line"

    @classmethod
    def parse(cls, text: str, *, reason: str = "", origin: str = "command line") -> LateException:
        value = text.strip()
        if value.startswith("sha256:"):
            digest = value[len("sha256:"):].lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise UsageError(f"invalid --allow-late value {text!r} ({origin})",
                                 hint="a file exception is sha256: followed by 64 hex digits")
            return cls(sha256=digest, reason=reason, origin=origin)
        name, eq, version = value.partition("==")
        if not eq or not name.strip() or not version.strip() or "*" in version:
            raise UsageError(
                f"invalid --allow-late value {text!r} ({origin})",
                hint="exceptions are narrow: NAME==VERSION for one release, or sha256:HEX for "
                "one file",
            )
        try:
            parsed = Version(version.strip())
        except InvalidVersion:
            raise UsageError(f"invalid version in --allow-late {text!r} ({origin})") from None
        return cls(name=canonicalize_name(name), version=parsed, reason=reason, origin=origin)

    def matches(self, name: str, version: Version, sha256: str | None) -> bool:
        if self.sha256 is not None:
            return sha256 is not None and sha256.lower() == self.sha256
        return canonicalize_name(name) == self.name and version == self.version

    def __str__(self) -> str:
        return f"sha256:{self.sha256}" if self.sha256 else f"{self.name}=={self.version}"


@dataclass(frozen=True)
class DatedFile:
    """One file placed in its release's timeline (made by ``ReleaseTimeline.date``).

    ``lateness`` is known only when the release start is: every file of that version on the
    indexes consulted is dated, consistently. Otherwise ``problem`` says why not, and the file
    is judged ``unknown``: a check an index can switch off by omitting a field is no check.
    """

    filename: str
    sha256: str | None
    upload_time: datetime | None
    release_start: datetime | None
    lateness: timedelta | None
    problem: str | None = None  # why the lateness is unknown, naming the files
    #: the problem is a contradiction (one file name listed with different times or hashes),
    #: not a gap: always refused, whatever ``--on-unknown-upload-time`` says
    inconsistent: bool = False
    #: a local version (``1.0+x``), dated against its public release's start as well
    local_variant: bool = False


Verdict = Literal["on-time", "late", "allowed-late", "late-verified", "unknown"]
#: the finding a judgment gives, if any (``late`` also for allowed-late, as an info finding)
JudgmentKind = Literal["late", "late-verified", "unknown-upload-time", "inconsistent-timeline"]


@dataclass(frozen=True)
class Judgment:
    """The policy's word on one dated file: the one rule used by install, lock, guard, audit,
    watch and timeline."""

    verdict: Verdict
    dated: DatedFile
    late_after: timedelta
    exception: LateException | None = None
    severity: Severity | None = None  # of the finding (None: on time, no finding)
    #: the content proof that made a late file ``late-verified`` (``--on-late verify``)
    proof: Proof | None = None

    @property
    def is_late(self) -> bool:
        """Later than the threshold, whether or not an exception or a proof allows it."""
        return self.verdict in ("late", "allowed-late", "late-verified")

    @property
    def kind(self) -> JudgmentKind | None:
        """The finding kind this judgment gives: None when the file is on time."""
        if self.verdict == "unknown":
            return "inconsistent-timeline" if self.dated.inconsistent else "unknown-upload-time"
        if self.verdict == "late-verified":
            return "late-verified"
        return "late" if self.is_late else None

    @property
    def refused(self) -> bool:
        """The policy refuses the file (an error finding)."""
        return self.severity == "error"


@dataclass(frozen=True)
class Policy:
    late_after: timedelta = DEFAULT_LATE_AFTER
    on_late: LateAction = "refuse"
    on_unknown_upload_time: Action = "refuse"
    on_untrusted_hash: Action = "warn"  # always refuse in hash-checking mode
    on_unverifiable: Action = "refuse"  # remote URLs and VCS; local paths are the user's own
    on_multiple_indexes: Action = "refuse"  # a name on several indexes: dependency confusion
    allow_late: tuple[LateException, ...] = field(default_factory=tuple)
    #: the files already logged as late or undated (-v: one line each, however often judged)
    _logged: set[tuple[str, str | None, str]] = field(
        default_factory=set, compare=False, hash=False, repr=False)

    def exception_for(self, name: str, version: Version, sha256: str | None) -> \
            LateException | None:
        for exc in self.allow_late:
            if exc.matches(name, version, sha256):
                return exc
        return None

    def judge(self, name: str, version: Version, dated: DatedFile, *,
              proof: Proof | None = None) -> Judgment:
        """Compare a dated file with the threshold and apply the exceptions: the one place
        where lateness meets ``late_after``. A file whose lateness is unknown (an undated or
        inconsistent timeline) is never on time; an inconsistent timeline is always refused.

        ``proof``: a content proof (safeinstall.backfill) that the late file carries only what
        an on-time file of its release carried. It counts only with ``on_late == "verify"``
        and only for a late file no exception covers: the verdict is then ``late-verified``
        (an info finding). It never makes an on-time, unknown or allowed-late file anything
        else."""
        if dated.lateness is None:
            severity: Severity = "error" if dated.inconsistent \
                else severity_for(self.on_unknown_upload_time)
            judgment = Judgment("unknown", dated, self.late_after, severity=severity)
        elif dated.lateness <= self.late_after:
            return Judgment("on-time", dated, self.late_after)
        else:
            judgment = self.judge_late(name, version, dated, proof=proof)
        if logger.isEnabledFor(logging.DEBUG):
            self._log(judgment)
        return judgment

    def _log(self, judgment: Judgment) -> None:
        """Why a file is not on time, once per file and verdict."""
        from safeinstall.durations import format_duration

        dated = judgment.dated
        key = (dated.filename, dated.sha256, judgment.verdict)
        if key in self._logged:
            return
        self._logged.add(key)
        if judgment.exception is not None:
            outcome = f"allowed by exception {judgment.exception}"
        elif judgment.proof is not None:
            outcome = f"allowed as a proven backfill of {judgment.proof.reference}"
        elif judgment.verdict == "late" and self.on_late == "verify":
            outcome = "refused unless proven a benign backfill: --on-late verify"
        else:
            outcome = "the policy warns" if judgment.severity == "warning" \
                else "the policy refuses it"
        if judgment.verdict == "unknown":
            logger.debug("Upload time unknown: %s: %s (%s)", dated.filename,
                         dated.problem or "no upload time", outcome)
            return
        assert dated.lateness is not None
        logger.debug("Late file: %s was uploaded %s after its release began, more than the %s "
                     "threshold (%s)", dated.filename, format_duration(dated.lateness),
                     format_duration(self.late_after), outcome)

    def judge_late(self, name: str, version: Version, dated: DatedFile, *,
                   proof: Proof | None = None) -> Judgment:
        """A file known to be late: past the threshold (:meth:`judge`), or added to its
        release after this store first saw the release (trust on first use), whatever its
        upload time says. The exceptions and the ``--on-late`` action apply the same way."""
        exc = self.exception_for(name, version, dated.sha256)
        if exc is not None:
            return Judgment("allowed-late", dated, self.late_after, exc, severity="info")
        if proof is not None and self.on_late == "verify":
            return Judgment("late-verified", dated, self.late_after, severity="info",
                            proof=proof)
        return Judgment("late", dated, self.late_after, severity=severity_for(self.on_late))

    def relaxations(self) -> list[str]:
        """Human-readable list of settings weaker than the defaults (logged in every report)."""
        out = []
        if self.on_late == "warn":
            out.append("--on-late warn: late artifacts are installed with a warning")
        if self.on_unknown_upload_time == "warn":
            out.append("--on-unknown-upload-time warn: artifacts with no upload time are "
                       "installed with a warning")
        if self.on_unverifiable == "warn":
            out.append("--on-unverifiable warn: direct URL/VCS requirements are installed "
                       "unchecked")
        if self.on_multiple_indexes == "warn":
            out.append("--on-multiple-indexes warn: packages found on several indexes (where "
                       "dependency confusion happens) are installed with a warning")
        if self.late_after > timedelta(days=14):
            out.append(f"--late-after {self.late_after} is longer than PyPI's 14-day window")
        return out


def parse_action(value: str, option: str) -> Action:
    low = value.strip().lower()
    if low == "refuse":
        return "refuse"
    if low == "warn":
        return "warn"
    raise UsageError(f"invalid {option} value {value!r}", hint="choose 'refuse' or 'warn'")


def parse_late_action(value: str, option: str) -> LateAction:
    """``--on-late``: refuse, warn, or verify (refuse unless proven a benign backfill)."""
    low = value.strip().lower()
    if low == "verify":
        return "verify"
    if low in ("refuse", "warn"):
        return parse_action(low, option)
    raise UsageError(f"invalid {option} value {value!r}",
                     hint="choose 'refuse', 'warn' or 'verify' (install a late file only when "
                     "its content is proven identical to an on-time file of its release)")


def severity_for(action: LateAction) -> Severity:
    """An action's severity: only ``warn`` is a warning (a late file ``verify`` could not
    prove is refused)."""
    return "warning" if action == "warn" else "error"


def is_refused(findings: Sequence[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
