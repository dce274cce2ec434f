"""The shared domain values (safeinstall.models) and the stages that use them load without
the HTTP stack, the resolver or pip: a leaf module, checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from safeinstall.errors import PolicyRefusal
from safeinstall.models import IndexFile, Source
from safeinstall.policy import Finding
from safeinstall.results import CheckRefused, PackageResult

#: what only the network stages need: the HTTP client, sessions, unearth, the resolver, pip
HEAVY = ("safeinstall.http", "safeinstall.session", "safeinstall.finder",
         "safeinstall.checker", "safeinstall.resolver", "safeinstall.artifacts", "unearth",
         "resolvelib", "httpx", "requests", "urllib3", "pip", "rich", "ssl", "http.client")


def _loaded_after(module: str) -> list[str]:
    code = (f"import json, sys; import {module}; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded: list[str] = json.loads(out)
    return loaded


@pytest.mark.parametrize("module", ["safeinstall.models", "safeinstall.results",
                                    "safeinstall.timeline",
                                    "safeinstall.listing", "safeinstall.indexdata",
                                    "safeinstall.policy", "safeinstall.releaseview"])
def test_the_judging_stages_load_without_the_http_stack(module: str) -> None:
    loaded = _loaded_after(module)
    heavy = [m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY]
    assert heavy == []


def test_models_and_results_are_leaves() -> None:
    own = [m for m in _loaded_after("safeinstall.models") if m.startswith("safeinstall.")]
    assert own == ["safeinstall.models"]
    own = [m for m in _loaded_after("safeinstall.results") if m.startswith("safeinstall.")]
    assert own == ["safeinstall.errors", "safeinstall.results"]


def _file(url: str) -> IndexFile:
    return IndexFile(
        project=canonicalize_name("demo"), filename="demo-1.0.tar.gz",
        url=url + "demo-1.0.tar.gz", source=Source(url, "index"), version=Version("1.0"),
        is_wheel=False, tags=frozenset(), build_tag=(), sha256="a" * 64,
        hashes=(("sha256", "a" * 64),), upload_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        yanked=None, requires_python=None, size=None, metadata_url=None,
        metadata_sha256=None)


def test_sources_on_a_server_are_origins_local_ones_are_not() -> None:
    assert Source("https://pypi.org/simple/", "index").is_origin
    assert Source("HTTP://mirror.example/simple/", "find-links").is_origin
    assert not Source("file:///srv/wheels/", "index").is_origin
    assert not Source("/srv/wheels", "find-links").is_origin
    assert not Source("https://pypi.org/simple/", "times-from").is_origin


def test_index_file_hash_allowed_matches_any_published_hash() -> None:
    f = _file("https://pypi.org/simple/demo/")
    assert f.hash_allowed({"sha256": frozenset({"a" * 64})})
    assert not f.hash_allowed({"sha256": frozenset({"b" * 64})})
    assert not f.hash_allowed({})
    assert not f.is_yanked


def test_check_refused_names_the_file_and_its_errors() -> None:
    result = PackageResult(
        name="demo", version="1.0", kind="index", filename="demo-1.0.tar.gz", url=None,
        index=None, sha256=None, upload_time=None, release_start=None, lateness=None,
        findings=(Finding("late", "error", "it is late"), Finding("x", "info", "fine")),
        decision="refuse")
    exc = CheckRefused(result)
    assert isinstance(exc, PolicyRefusal)
    assert exc.result is result
    assert exc.message == ("demo 1.0 (demo-1.0.tar.gz) is refused before it is built: "
                           "it is late")
