"""Which file pip would install: pip's link evaluation and preference order, reproduced.

This follows pip 26's ``LinkEvaluator``, ``CandidateEvaluator`` and the resolver's
``FoundCandidates`` exactly (see docs/pip-differences.md for where unearth differs):

1. a file is a candidate only if its format is allowed (``--only-binary``/``--no-binary``), its
   ``Requires-Python`` admits the *full* target version, and (wheels) one of its tags is supported;
2. candidates are filtered by the merged specifier (pre-releases as pip decides) and, in
   hash-checking mode, by allowed hashes (unless no file matches);
3. they are ordered by pip's sort key ``(hash allowed, not yanked, prefer-binary, version,
   tag priority, build tag)``; among equal keys the copy pip met *last* wins;
4. yanked files are passed over unless the specifier pins a version that only yanked files match;
5. per version only the best file is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile
from safeinstall.target import TargetPython
from safeinstall.urls import redact_url

logger = logging.getLogger(__name__)

Hashes = Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class FormatControl:
    """pip's --only-binary / --no-binary sets, with pip's precedence rules."""

    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()

    @classmethod
    def from_options(cls, only_binary: Sequence[str], no_binary: Sequence[str]) -> FormatControl:
        only: set[str] = set()
        no: set[str] = set()

        def handle(value: str, target: set[str], other: set[str]) -> None:
            names = value.split(",")
            while ":all:" in names:
                other.clear()
                target.clear()
                target.add(":all:")
                del names[: names.index(":all:") + 1]
                if ":none:" not in names:
                    return
            for name in names:
                if name == ":none:":
                    target.clear()
                    continue
                cname = canonicalize_name(name)
                other.discard(cname)
                target.add(cname)

        for value in only_binary:
            handle(value, only, no)
        for value in no_binary:
            handle(value, no, only)
        return cls(frozenset(only), frozenset(no))

    def allowed(self, name: NormalizedName) -> frozenset[str]:
        result = {"binary", "source"}
        if name in self.only_binary:
            result.discard("source")
        elif name in self.no_binary:
            result.discard("binary")
        elif ":all:" in self.only_binary:
            result.discard("source")
        elif ":all:" in self.no_binary:
            result.discard("binary")
        return frozenset(result)


@dataclass(frozen=True)
class SelectionRules:
    """Everything besides the requirement that decides pip's choice."""

    target: TargetPython
    format_control: FormatControl = field(default_factory=FormatControl)
    prefer_binary: bool = False
    allow_all_prereleases: bool = False
    ignore_requires_python: bool = False
    uploaded_prior_to: datetime | None = None  # pip's --uploaded-prior-to (absolute cut-off)

    _verdicts: dict[tuple[object, ...], str | None] = field(
        default_factory=dict, compare=False, hash=False, repr=False)
    #: the files already logged as passed over, yanked or outranked (-v: one line each)
    _logged_skipped: set[str] = field(default_factory=set, compare=False, hash=False, repr=False)

    @cached_property
    def tag_priority(self) -> dict[Tag, int]:
        """Tag -> rank (0 = most preferred): a dict lookup instead of a scan of ~900 tags."""
        return {tag: i for i, tag in enumerate(self.target.tags)}

    @cached_property
    def tag_set(self) -> frozenset[Tag]:
        return frozenset(self.tag_priority)


@dataclass(frozen=True)
class Ranked:
    """A candidate file with pip's sort key and the reasons that make it up."""

    file: IndexFile
    key: tuple[object, ...]
    tag_rank: int | None  # index of the best supported tag (wheels); None for sdists

    def reasons(self, rules: SelectionRules, hash_mode: bool) -> list[str]:
        out = []
        if hash_mode:
            out.append("hash allowed" if self.key[0] else "no allowed hash")
        if self.file.is_yanked:
            out.append("yanked (only yanked files match a pinned version)")
        if self.file.is_wheel:
            if rules.prefer_binary:
                out.append("prefer-binary: wheels over sdists")
            tag = rules.target.tags[self.tag_rank] if self.tag_rank is not None else None
            out.append(f"wheel tag {tag} is #{(self.tag_rank or 0) + 1} of "
                       f"{len(rules.target.tags)} supported tags")
        else:
            out.append("sdist (ranked below every compatible wheel of the same version)")
        return out


@lru_cache(maxsize=4096)
def _requires_python_excludes(requires_python: str, version: str) -> bool:
    """True if ``requires_python`` excludes ``version`` (an invalid one excludes nothing, as in
    pip). Cached: a project's files repeat a handful of Requires-Python strings."""
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return False
    return not spec.contains(version, prereleases=True)


def evaluate_file(f: IndexFile, rules: SelectionRules) -> str | None:
    """Why pip would not consider ``f`` at all for this target, or None if it is a candidate.

    The verdict depends only on the file and the rules, so it is computed once per run."""
    key = (f.url, f.source.url, f.requires_python, f.upload_time)
    verdicts = rules._verdicts
    if key in verdicts:
        return verdicts[key]
    verdict = _evaluate_file(f, rules)
    verdicts[key] = verdict
    return verdict


def _evaluate_file(f: IndexFile, rules: SelectionRules, *,
                   pip_words: bool = False) -> str | None:
    """The verdict, or with ``pip_words`` the log message pip writes for it (without the URL:
    only for ``-v``, never cached)."""
    allowed = rules.format_control.allowed(f.project)
    if f.is_wheel and "binary" not in allowed:
        return f"Skipping link: No binaries permitted for {f.project}" if pip_words \
            else "wheels are not allowed for this project (--no-binary)"
    if not f.is_wheel and "source" not in allowed:
        return f"Skipping link: No sources permitted for {f.project}" if pip_words \
            else "sdists are not allowed for this project (--only-binary)"
    if rules.uploaded_prior_to is not None and not f.url.startswith("file:"):
        if f.upload_time is None:
            why = f"Index {f.source.url} does not provide upload-time metadata."
            return f"Skipping link: {why}" if pip_words else why
        if f.upload_time >= rules.uploaded_prior_to:
            why = f"Upload time {f.upload_time} not prior to {rules.uploaded_prior_to}"
            return f"Skipping link: {why}" if pip_words else why
    if f.requires_python and not rules.ignore_requires_python and \
            _requires_python_excludes(f.requires_python, rules.target.version_string):
        if pip_words:
            return (f"Link requires a different Python ({rules.target.version_string} not "
                    f"in: {f.requires_python!r})")
        return (f"Requires-Python {f.requires_python} excludes "
                f"Python {rules.target.version_string}")
    if f.is_wheel and f.tags.isdisjoint(rules.tag_set):
        if pip_words:
            return (f"Skipping link: none of the wheel's tags "
                    f"({', '.join(sorted(str(t) for t in f.tags))}) are compatible "
                    "(run pip debug --verbose to show compatible tags)")
        return "no tag of this wheel is supported by the target"
    return None


def _compatible(files: Iterable[IndexFile], rules: SelectionRules,
                explain: bool) -> list[IndexFile]:
    """The files pip would consider at all; with ``explain`` (and ``-v``), the others are
    logged in pip's words, once each."""
    if not (explain and logger.isEnabledFor(logging.DEBUG)):
        return [f for f in files if evaluate_file(f, rules) is None]
    out = []
    for f in files:
        if evaluate_file(f, rules) is None:
            out.append(f)
        elif f.url not in rules._logged_skipped:
            rules._logged_skipped.add(f.url)
            logger.debug("%s: %s", _evaluate_file(f, rules, pip_words=True),
                         redact_url(f.url))
    return out


def _log_outranked(loser: Ranked, winner: Ranked, rules: SelectionRules) -> None:
    """A candidate of a version passed over for a better file of it (pip's preference order;
    the caller checks that debug records are wanted)."""
    f, best = loser.file, winner.file
    if f.url in rules._logged_skipped:
        return
    rules._logged_skipped.add(f.url)
    n = len(rules.target.tags)
    if loser.key[0] != winner.key[0]:
        why = "no allowed hash"
    elif loser.key[1] != winner.key[1]:
        why = "yanked"
    elif not f.is_wheel and best.is_wheel:
        why = "an sdist ranks below every compatible wheel"
    elif loser.tag_rank is not None and winner.tag_rank is not None \
            and loser.tag_rank != winner.tag_rank:
        why = (f"its best tag {rules.target.tags[loser.tag_rank]} is #{loser.tag_rank + 1} of "
               f"{n} supported tags, {best.filename}'s {rules.target.tags[winner.tag_rank]} "
               f"is #{winner.tag_rank + 1}")
    elif loser.key != winner.key:
        why = "a lower build tag"
    else:
        why = "an equal file met later wins, as in pip"
    logger.debug("Skipping link: %s %s prefers %s (%s): %s", f.project, f.version,
                 best.filename, why, redact_url(f.url))


def _log_yanked(f: IndexFile, rules: SelectionRules) -> None:
    """A yanked file passed over (the caller checks that debug records are wanted)."""
    if f.url in rules._logged_skipped:
        return
    rules._logged_skipped.add(f.url)
    logger.debug("Skipping link: yanked for reason: %s (a yanked file counts only when the "
                 "specifier pins a version that only yanked files match): %s",
                 f.yanked or "<none given>", redact_url(f.url))


def rank(f: IndexFile, rules: SelectionRules, hashes: Hashes) -> Ranked:
    support_num = len(rules.target.tags)
    if f.is_wheel:
        tag_rank = min(rules.tag_priority[t] for t in f.tags if t in rules.tag_priority)
        pri = -tag_rank
        binary_pref = 1 if rules.prefer_binary else 0
        build_tag: tuple[()] | tuple[int, str] = f.build_tag
    else:
        tag_rank = None
        pri = -support_num
        binary_pref = 0
        build_tag = ()
    has_allowed_hash = int(f.hash_allowed(dict(hashes))) if hashes else 0
    yank_value = -int(f.is_yanked)
    return Ranked(f, (has_allowed_hash, yank_value, binary_pref, f.version, pri, build_tag),
                  tag_rank)


def is_pinned(specifier: SpecifierSet) -> bool:
    for sp in specifier:
        if sp.operator == "===":
            return True
        if sp.operator == "==" and not sp.version.endswith(".*"):
            return True
    return False


def _pin_clause(specifier: SpecifierSet) -> SpecifierSet:
    """For looking files up in a listing only: the first ``==V`` clause of ``specifier``
    alone (without one, ``specifier``). It admits every version the whole specifier admits,
    and at most a few more of version V, which :func:`order_candidates` then drops by the
    whole specifier: the same files come out, after one comparison per listed version
    instead of one per clause (a constraint's pin merged with the requirements' ranges has
    ten clauses; issue 21). Not with an ``===`` clause, which compares version strings: the
    listing compares one spelling per version (``1.0`` for ``1.0.0`` too), and the files it
    gives for the whole specifier stay what they were."""
    if any(sp.operator == "===" for sp in specifier):
        return specifier
    for sp in specifier:
        if sp.operator == "==" and not sp.version.endswith(".*"):
            return _single_clause(str(sp))
    return specifier


@lru_cache(maxsize=4096)
def _single_clause(text: str) -> SpecifierSet:
    return SpecifierSet(text)


def _filter_hashes(candidates: list[IndexFile], hashes: Hashes) -> list[IndexFile]:
    if not hashes:
        return candidates
    kept = []
    matches = 0
    for f in candidates:
        if not f.hashes:
            kept.append(f)
        elif f.hash_allowed(dict(hashes)):
            matches += 1
            kept.append(f)
    return kept if matches else candidates


def order_candidates(
    files: Iterable[IndexFile],
    specifier: SpecifierSet,
    rules: SelectionRules,
    hashes: Hashes | None = None,
    *,
    explain: bool = False,
) -> list[Ranked]:
    """The files pip's resolver would try, best first, one per version. ``explain``: log the
    files passed over (for the resolver's own look-ups, not for the hints' ones)."""
    hashes = hashes or {}
    compatible = _compatible(files, rules, explain)
    prereleases = True if rules.allow_all_prereleases else None
    by_version = {str(f.version): f.version for f in compatible}
    allowed_versions = set(specifier.filter(by_version.values(), prereleases=prereleases))
    applicable = [f for f in compatible if f.version in allowed_versions]
    applicable = _filter_hashes(applicable, hashes)
    ranked = sorted((rank(f, rules, hashes) for f in applicable), key=lambda r: r.key)
    all_yanked = all(r.file.is_yanked for r in ranked)
    pinned = is_pinned(specifier)
    out: list[Ranked] = []
    seen: dict[Version, Ranked] = {}
    log = explain and logger.isEnabledFor(logging.DEBUG)
    for r in reversed(ranked):
        if r.file.is_yanked and not (all_yanked and pinned):
            if log:
                _log_yanked(r.file, rules)
            continue
        if r.file.version in seen:
            if log:
                _log_outranked(r, seen[r.file.version], rules)
            continue
        seen[r.file.version] = r
        out.append(r)
    return out


def iter_ranked(
    listing: ProjectListing,
    specifier: SpecifierSet,
    rules: SelectionRules,
    hashes: Hashes | None = None,
    *,
    explain: bool = False,
) -> Iterator[Ranked]:
    """What :func:`order_candidates` returns for all of ``listing``'s files, computed lazily:
    version by version from the highest, so a resolver that takes the first candidate parses
    and judges the files of one or two releases instead of every file ever uploaded.

    Exact in every case: hash-checking mode, ``--prefer-binary`` (both rank other things above
    the version) and pinned specifiers (where yanked files can count) take the eager path.
    Otherwise the order is by version and yanked files never count, so the best file of each
    version can be picked version by version. The only whole-listing fact needed is the
    specifier's pre-release fallback ("pre-releases only if no compatible final release
    matches"), settled by the first matching final release that has a compatible file.

    ``explain`` (the resolver's own look-ups, not the look-ahead's): with ``-v``, log why each
    file met lost, in the resolver's thread, so the lines come in a stable order.
    """
    hashes = hashes or {}
    if hashes or rules.prefer_binary or is_pinned(specifier):
        yield from order_candidates(listing.candidates(_pin_clause(specifier)), specifier, rules,
                                    hashes, explain=explain)
        return
    prereleases = True if rules.allow_all_prereleases else None
    versions = listing.versions()
    loose = set(specifier.filter(versions, prereleases=True))
    strict = set(specifier.filter(versions, prereleases=prereleases))
    order = [v for v in versions if v in loose]

    def judged(version: Version) -> tuple[bool, Ranked | None]:
        """(has a compatible file, yanked or not; the best compatible non-yanked file)."""
        compatible = _compatible(listing.files_of(version), rules, explain)
        best: Ranked | None = None
        log = explain and logger.isEnabledFor(logging.DEBUG)
        losers: list[Ranked] = []
        for f in compatible:
            if f.is_yanked:
                if log:
                    _log_yanked(f, rules)
                continue
            r = rank(f, rules, hashes)
            if best is None or r.key >= best.key:  # equal keys: the copy met last wins
                if log and best is not None:
                    losers.append(best)
                best = r
            elif log:
                losers.append(r)
        if best is not None:
            for r in losers:
                _log_outranked(r, best, rules)
        return bool(compatible), best

    some_final_matches = any(v in strict and not v.is_prerelease for v in order)
    if strict == loose or not some_final_matches:
        # the pre-release fallback cannot change which versions count
        for v in order:
            if v in strict:
                found = judged(v)[1]
                if found is not None:
                    yield found
        return
    held: list[Ranked] = []  # candidates met before the fallback question is settled
    pending: list[Version] = []  # versions that count only if no compatible final matches
    for i, v in enumerate(order):
        if v not in strict:
            pending.append(v)
            continue
        compatible, best = judged(v)
        if compatible and not v.is_prerelease:
            # a compatible final matches: pre-releases outside the specifier stay out
            yield from held
            if best is not None:
                yield best
            for rest in order[i + 1:]:
                if rest in strict:
                    found = judged(rest)[1]
                    if found is not None:
                        yield found
            return
        if best is not None:
            held.append(best)
    # no compatible final release matches: pip takes the matching pre-releases too
    extra = [found for found in (judged(v)[1] for v in pending) if found is not None]
    yield from sorted([*held, *extra], key=lambda r: r.file.version, reverse=True)
