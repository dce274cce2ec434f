"""The judging stage called directly (safeinstall.evaluate): one selected candidate, from a
real local index, becomes a PackageResult with its findings and decision."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from safeinstall.artifacts import ArtifactCache
from safeinstall.candidates import (
    DirectCandidate,
    IndexCandidate,
    InstalledCandidate,
    ResolvedPackage,
)
from safeinstall.checkcontext import CheckContext
from safeinstall.distmeta import CoreMetadata
from safeinstall.evaluate import allow_late_toml, evaluate, evaluate_index_candidate
from safeinstall.finder import Finder
from safeinstall.http import HttpClient
from safeinstall.models import IndexFile
from safeinstall.pipoptions import PipSettings
from safeinstall.policy import LateException, Policy
from safeinstall.selection import FormatControl, SelectionRules
from safeinstall.session import LightSession, Session
from safeinstall.target import current_target
from safeinstall.tls import default_context
from support.artifacts import build_sdist, build_wheel

NAME = canonicalize_name("demo")


@pytest.fixture
def demo(local_index, tmp_path: Path, t0: datetime):
    """demo 1.0: an sdist at the release, a wheel three days later."""
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "demo", "1.0"), upload_time=t0 + timedelta(days=3))
    return local_index


def _context(index_url: str, policy: Policy | None = None) -> CheckContext:
    client = HttpClient(Session(lambda: None, LightSession(default_context(), timeout=5.0)),
                        retries=1, sleep=lambda s: None)
    target = current_target()
    return CheckContext(
        settings=PipSettings(index_url=index_url), policy=policy or Policy(), target=target,
        finder=Finder(index_urls=[index_url], session=client),
        cache=ArtifactCache(client, None), environ={},
        now=datetime(2025, 1, 1, tzinfo=timezone.utc), cwd=".",
        rules=SelectionRules(target=target, format_control=FormatControl.from_options((), ())))


def _candidate(ctx: CheckContext, filename: str) -> IndexCandidate:
    f: IndexFile = next(f for f in ctx.finder.project(NAME).files if f.filename == filename)
    return IndexCandidate(NAME, f.version, f)


def test_a_late_file_is_refused_with_the_way_to_allow_it(demo) -> None:
    ctx = _context(demo.url)
    result = evaluate_index_candidate(ctx, _candidate(ctx, "demo-1.0-py3-none-any.whl"),
                                      ["the user"], [])
    assert result.decision == "refuse"
    late = [f for f in result.findings if f.kind == "late"]
    assert [f.severity for f in late] == ["error"]
    assert late[0].hint is not None and "--allow-late 'demo==1.0'" in late[0].hint
    assert result.lateness == timedelta(days=3)
    assert result.release_files == 2
    assert result.required_by == ("the user",)


def test_the_on_time_file_is_installed_and_the_late_one_is_named(demo) -> None:
    ctx = _context(demo.url)
    result = evaluate_index_candidate(ctx, _candidate(ctx, "demo-1.0.tar.gz"), [], [])
    assert result.decision == "install"
    assert [(f.kind, f.severity) for f in result.findings] == [
        ("late-unselected", "info"), ("untrusted-hash", "warning")]
    assert dict(result.passed_over)["demo-1.0-py3-none-any.whl"]


def test_an_exception_allows_the_late_file(demo) -> None:
    policy = Policy(allow_late=(LateException.parse("demo==1.0", reason="reviewed"),))
    ctx = _context(demo.url, policy)
    result = evaluate_index_candidate(ctx, _candidate(ctx, "demo-1.0-py3-none-any.whl"), [], [])
    assert result.decision == "install"
    assert [f.severity for f in result.findings if f.kind == "late"] == ["info"]


def _meta() -> CoreMetadata:
    return CoreMetadata("demo", "1.0", (), None, (), "build")


@pytest.mark.parametrize(("kind", "hashes", "decision", "severity"), [
    ("vcs", frozenset(), "refuse", "error"),
    ("url", frozenset({"a" * 64}), "install", "info"),
    ("local", frozenset(), "install", "info"),
])
def test_direct_requirements_are_unverifiable_sources(kind, hashes, decision, severity) -> None:
    ctx = _context("https://index.invalid/simple/")
    c = DirectCandidate(NAME, Version("1.0"), "git+https://example.invalid/demo", kind,
                        _meta(), hashes=hashes)
    result = evaluate(ctx, ResolvedPackage(NAME, Version("1.0"), c, frozenset(), ("the user",)))
    assert result.decision == decision
    assert [(f.kind, f.severity) for f in result.findings] == [
        ("unverifiable-source", severity)]


def test_an_installed_distribution_is_left_alone() -> None:
    ctx = _context("https://index.invalid/simple/")
    c = InstalledCandidate(NAME, Version("1.0"), ())
    result = evaluate(ctx, ResolvedPackage(NAME, Version("1.0"), c, frozenset(), ("x 1.0",)))
    assert (result.kind, result.decision, result.findings) == ("installed",
                                                               "already-satisfied", ())


def test_the_allow_late_block_is_valid_toml() -> None:
    import tomllib

    assert tomllib.loads(allow_late_toml('a"b==1.0'))["allow-late"] == [
        {"release": 'a"b==1.0', "reason": "reviewed: why this late file is acceptable"}]
