"""Hostile index values (issue 13, causes 2, 3 and 9): values from an index page are validated
once, where the page is parsed, and never used as a path or a line of a requirements file;
identical copies on a second index never make it a mirror; metadata cached from one index
never decides what a check against another index sees. Fixtures: tests/support/hostile_values.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from clihelp import run_cli
from lockhelp import run_tool
from safeinstall.errors import SafeInstallError
from safeinstall.indexdata import to_file
from safeinstall.listing import ProjectListing
from safeinstall.models import Source
from safeinstall.pages import parse_json_page
from support.faults import FaultServer
from support.hostile_values import (
    ENTRY_ATTACKS,
    HOSTILE_HASH,
    dependency_confusion,
    hostile_entry,
    page_of,
    path_hash,
    poisoned_metadata,
    serve_page,
)
from support.index import LocalIndex
from support.piprun import pip_list


def _dry(url: str, *extra: str) -> list[str]:
    return ["-i", url, "--dry-run", "--ignore-installed", *extra]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- cause 2: index data used as a path -----------------------------------------------------------


def test_path_traversal_hash_writes_nothing_outside_the_cache(local_index, clean_pip_env,
                                                              tmp_path, t0):
    path_hash(local_index, tmp_path / "build", t0)
    before = _tree(tmp_path)
    run = run_cli(_dry(local_index.url, "pwned"), clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("invalid-index-data", "error") in run.kinds("pwned")
    assert "sha256" in run.stderr and "pwned-1.0-py3-none-any.whl" in run.stderr
    new = _tree(tmp_path) - before
    assert not [p for p in new if "pwned" in p and not p.startswith("report-")], new
    assert not (tmp_path / "work").exists()
    assert not (tmp_path.parent / "work").exists()


def test_lock_never_writes_an_unvalidated_hash(local_index, clean_pip_env, tmp_path, t0):
    path_hash(local_index, tmp_path / "build", t0)
    work = tmp_path / "proj"
    work.mkdir()
    (work / "requirements.in").write_text("pwned\n")
    run = run_tool(["lock", "-i", local_index.url, "-r", "requirements.in",
                    "--output-requirements", "requirements.txt"], clean_pip_env, tmp_path,
                   cwd=work)
    assert run.code != 0, run.stdout + run.stderr
    for p in work.rglob("*"):
        if p.is_file():
            assert HOSTILE_HASH not in p.read_text(errors="replace"), p
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("attack", sorted(ENTRY_ATTACKS))
def test_invalid_value_in_the_selected_entry_is_refused_naming_the_field(
        attack, scenario, local_index, clean_pip_env, tmp_path):
    scenario("ontime")
    hostile_entry(local_index, attack)
    before = _tree(tmp_path)
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("invalid-index-data", "error") in run.kinds("demo")
    finding = next(f for f in run.package("demo")["findings"]
                   if f["kind"] == "invalid-index-data")
    assert ENTRY_ATTACKS[attack][1] in finding["message"], finding
    # nothing was downloaded or cached under a name or hash the index chose
    new = _tree(tmp_path) - before
    assert not [p for p in new if "si-cache/artifacts" in p or "si-cache/metadata" in p], new


def test_newline_in_a_file_name_never_reaches_pip(scenario, local_index, clean_pip_env,
                                                  tmp_path, make_venv):
    scenario("ontime")
    hostile_entry(local_index, "newline-in-name")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 1, run.stderr
    assert ("invalid-index-data", "error") in run.kinds("demo")
    assert pip_list(venv, clean_pip_env) == {}


def test_invalid_entry_that_is_not_selected_is_dropped_with_a_note(
        scenario, local_index, clean_pip_env, tmp_path, t0):
    """An older version's entry with a hostile name and hash: the selection is unchanged
    (1.0, as pip would take), and a note names the entry."""
    scenario("ontime")
    page = page_of(local_index, "demo")
    wheel = next(f for f in page["files"] if f["url"].endswith(".whl"))
    page["files"].append({**wheel, "url": "../../files/demo-0.9-1%2F..%2Fx-py3-none-any.whl",
                          "hashes": {"sha256": HOSTILE_HASH}})
    serve_page(local_index, "demo", page)
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["filename"] == "demo-1.0-py3-none-any.whl"
    notes = [n for n in run.report["notes"] if "invalid" in n and "demo-0.9" in n]
    assert notes, run.report["notes"]


# -- cause 3: dependency confusion through re-hosted copies ---------------------------------------


def test_identical_copies_do_not_make_the_private_index_a_mirror(local_index, clean_pip_env,
                                                                 tmp_path, t0):
    with LocalIndex(tmp_path / "attacker") as attacker:
        dependency_confusion(local_index, attacker, tmp_path / "build", t0)
        run = run_cli(["-i", local_index.url, "--extra-index-url", attacker.url, "--dry-run",
                       "--ignore-installed", "--on-late", "warn", "corp-utils"],
                      clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("multiple-indexes", "error") in run.kinds("corp-utils")
    assert "99.0" in run.stderr


def test_dependency_confusion_never_installs_the_attackers_version(local_index, clean_pip_env,
                                                                   tmp_path, t0, make_venv):
    venv = make_venv()
    with LocalIndex(tmp_path / "attacker") as attacker:
        dependency_confusion(local_index, attacker, tmp_path / "build", t0)
        run = run_cli(["--python", str(venv), "-i", local_index.url, "--extra-index-url",
                       attacker.url, "corp-utils"], clean_pip_env, tmp_path)
        assert run.code == 1, run.stderr
        assert pip_list(venv, clean_pip_env) == {}
        # declaring where the name comes from is the way to install it
        run = run_cli(["--python", str(venv), "-i", local_index.url, "--extra-index-url",
                       attacker.url, "--index-for", f"corp-utils={local_index.url}",
                       "corp-utils"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"corp-utils": "1.0"}


# -- cause 9: cached metadata trusted across indexes ----------------------------------------------


@pytest.mark.parametrize("how", ["metadata", "range"])
def test_hostile_index_cannot_poison_what_a_later_honest_check_reads(
        how, local_index, clean_pip_env, tmp_path, t0):
    env = {**clean_pip_env, "SAFE_INSTALL_CACHE_DIR": str(tmp_path / "shared-cache")}
    with LocalIndex(tmp_path / "hostile") as hostile:
        poisoned_metadata(local_index, hostile, tmp_path / "build", t0, how)
        with FaultServer(hostile, ranges=True) as front:
            first = run_cli(_dry(front.url, "victim"), env, tmp_path)
        assert first.code == 0, first.stderr  # victim itself is on time there
        assert "latedep" not in [p["name"] for p in first.report["packages"]]
    run = run_cli(_dry(local_index.url, "victim"), env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("late", "error") in run.kinds("latedep")
    lock_dir = tmp_path / "proj"
    lock_dir.mkdir()
    (lock_dir / "requirements.in").write_text("victim\n")
    lock = run_tool(["lock", "-i", local_index.url, "-r", "requirements.in",
                     "--output-requirements", "requirements.txt"], env, tmp_path, cwd=lock_dir)
    out = lock_dir / "requirements.txt"
    assert lock.code != 0 or "latedep" in out.read_text(), lock.stdout + lock.stderr


def test_metadata_from_a_verified_download_is_shared_between_indexes(
        local_index, clean_pip_env, tmp_path, t0):
    """A wheel downloaded and verified against its sha256 has the same metadata wherever it is
    listed: a second index listing the same bytes may reuse it (no metadata request)."""
    env = {**clean_pip_env, "SAFE_INSTALL_CACHE_DIR": str(tmp_path / "shared-cache")}
    from support.artifacts import build_wheel

    wheel = build_wheel(tmp_path / "w", "shared", "1.0")
    local_index.add(wheel, upload_time=t0, serve_metadata=False)
    with LocalIndex(tmp_path / "copy") as copy:
        copy.add(wheel, upload_time=t0, serve_metadata=False)
        first = run_cli(_dry(local_index.url, "shared"), env, tmp_path)
        assert first.code == 0, first.stderr
        assert first.package("shared")["metadata_source"] == "wheel"
        run = run_cli(_dry(copy.url, "shared"), env, tmp_path)
        assert run.code == 0, run.stderr
        assert run.package("shared")["metadata_source"] == "cache"
        assert not copy.downloaded()


# -- properties: any page entry is parsed into a valid file, an invalid one, or nothing -----------

_TEXT = st.text(max_size=12)
_ANY: Any = st.recursive(st.none() | st.booleans() | st.integers() | _TEXT,
                         lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=8)
_NAME_PART = st.sampled_from(["demo-1.0", "demo-2.0", "Demo_-1.0", "other-1.0", "demo-1.0\n",
                              "demo-1.0-1/..", "demo-1.0-1\\x", "demo-1.0-1\x1b[", "demo-1.0-1 x"])
_TAIL = st.sampled_from(["-py3-none-any.whl", ".tar.gz", ".zip", "-cp312-cp312-linux_x86_64.whl"])
_QUOTED = st.sampled_from(["", "%0A", "%2F", "%5C", "%00", "%25", "%20"])
_HEX = st.text("0123456789abcdefABCDEF./", min_size=0, max_size=70)
_ENTRY = st.fixed_dictionaries(
    {"url": st.builds(lambda a, q, b, pre: f"{pre}{a}{q}{b}", _NAME_PART, _QUOTED, _TAIL,
                      st.sampled_from(["../../files/", "https://files.example/x/", "",
                                       "gopher://h/", "file:///tmp/"]))},
    optional={
        "hashes": st.one_of(_ANY, st.dictionaries(st.sampled_from(["sha256", "md5", "SHA256",
                                                                   "sha512", "x/y"]), _HEX)),
        "size": st.one_of(_ANY, st.integers(-5, 10**12)),
        "yanked": _ANY, "requires-python": st.one_of(_ANY, st.sampled_from([">=3.8", "~=3",
                                                                            ">=3.*"])),
        "upload-time": _ANY,
        "core-metadata": st.one_of(_ANY, st.dictionaries(st.just("sha256"), _HEX)),
    })
_PAGE_URL = "https://index.example/simple/demo/"
_SAFE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+!~-")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ENTRY, max_size=4))
def test_page_entries_are_valid_invalid_or_dropped_never_a_crash(entries: list[dict]) -> None:
    from safeinstall.artifacts import ArtifactCache

    content = json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()
    try:
        raw = parse_json_page(content, _PAGE_URL, _PAGE_URL)
    except SafeInstallError:
        return
    name = canonicalize_name("demo")
    source = Source(_PAGE_URL, "index")
    listing = ProjectListing(name, raw=[(source, e, *_raw_key(name, e)) for e in raw])
    files = listing.files
    light = listing.light()
    assert all(g.sha256 is None or _is_sha256(g.sha256) for g in light)
    store = ArtifactCache(None, Path(os.devnull).parent / "nonexistent-cache")
    try:
        for f in files:
            assert f.project == "demo"
            if f.invalid is not None:
                assert isinstance(f.invalid, str) and f.invalid
                try:
                    store.fetch(f)
                except SafeInstallError:
                    pass
                else:  # pragma: no cover
                    raise AssertionError(f"an invalid entry was fetched: {f}")
                continue
            assert set(f.filename) <= _SAFE_CHARS, f.filename
            assert f.sha256 is None or _is_sha256(f.sha256)
            assert all(a.isalnum() or "_" in a for a, _ in f.hashes)
            assert f.size is None or (type(f.size) is int and f.size >= 0)
            assert f.yanked is None or isinstance(f.yanked, str)
            assert f.url.startswith(("https://", "http://", "file:"))
            assert f.metadata_sha256 is None or _is_sha256(f.metadata_sha256)
            if f.sha256:
                path = store._cached_path(f.sha256, f.filename)
                assert path is not None and ".." not in path.parts
    finally:
        store.close()


def _raw_key(name: Any, entry: dict) -> tuple[str, Any]:
    from safeinstall.indexdata import _guess_version, filename_in_url

    filename = filename_in_url(str(entry["url"]))
    return filename, _guess_version(name, filename)[1]


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def test_to_file_is_the_one_validation_point() -> None:
    """to_file and ProjectListing agree (both go through the same validation)."""
    entry = {"url": "https://files.example/demo-1.0-py3-none-any.whl",
             "hashes": {"sha256": HOSTILE_HASH}}
    f = to_file(canonicalize_name("demo"), Source(_PAGE_URL, "index"), entry)
    assert f is not None and f.invalid is not None and "sha256" in f.invalid
    assert f.sha256 is None


_FIELD_VALUES: dict[str, Any] = {
    "hashes": st.one_of(_ANY, st.dictionaries(st.sampled_from(["sha256", "md5", "sha512"]),
                                              _HEX)),
    "size": st.one_of(_ANY, st.integers(-3, 10**9)),
    "yanked": _ANY,
    "requires-python": st.one_of(_ANY, st.sampled_from([">=3.8", "<3", ">=3.*", ""])),
    # never a valid time: moving the late file's upload time is not an attack on parsing
    "upload-time": st.one_of(st.none(), st.booleans(), st.integers(), st.just(""),
                             st.sampled_from(["yesterday", "2024-13-01T00:00:00Z", "0"])),
    "core-metadata": st.one_of(_ANY, st.dictionaries(st.just("sha256"), _HEX)),
    "url": st.sampled_from(["", "%0A", "%2F..%2F", "%5C", "%1B[2K", "%20"]),
}


@pytest.fixture
def attack_page(scenario, local_index):
    files = scenario("attack")
    return files["native"].filename, {files["sdist"].filename, files["pure"].filename}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(sorted(_FIELD_VALUES)), st.just(None),
                               min_size=1, max_size=4), data=st.data())
def test_malformed_fields_of_a_late_file_never_let_it_pass(
        attack_page, local_index, clean_pip_env, tmp_path, changes, data) -> None:
    """The attack scenario's late native wheel with random malformed or missing fields: the
    run never installs it as if it were fine, and never ends in a traceback (run_cli)."""
    late, on_time = attack_page
    page = page_of(local_index, "demo")
    entry = next(f for f in page["files"] if f["filename"] == late)
    for key in changes:
        value = data.draw(st.one_of(st.just("<missing>"), _FIELD_VALUES[key]), label=key)
        if value == "<missing>":
            entry.pop(key, None)
        elif key == "url":
            stem = late[:-len(".whl")]
            entry["url"] = f"../../files/{stem}{value}.whl" if value else entry["url"]
        else:
            entry[key] = value
    serve_page(local_index, "demo", page)
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code in (0, 1, 2, 3), run.stderr
    if run.code == 0:
        assert run.package("demo")["filename"] in on_time, (changes, entry, run.stderr)


def test_one_url_listed_with_two_hashes_is_verified_for_each_listing(tmp_path):
    """Two listings of one URL (say, a second index pointing at the first one's file) with
    different sha256: a download verified for one listing is never handed to the other."""
    import dataclasses
    import hashlib

    from safeinstall.artifacts import ArtifactCache
    from safeinstall.errors import IntegrityError
    from support.artifacts import build_wheel

    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    honest = to_file(canonicalize_name("demo"), Source("file:///one/", "index"),
                             {"url": wheel.as_uri(), "hashes": {"sha256": digest}})
    assert honest is not None and honest.invalid is None
    other = dataclasses.replace(honest, source=Source("file:///two/", "index"),
                                sha256="0" * 64, hashes=(("sha256", "0" * 64),))
    store = ArtifactCache(None, tmp_path / "cache")
    try:
        assert store.fetch(honest).read_bytes() == wheel.read_bytes()
        with pytest.raises(IntegrityError, match="on two downloads"):
            store.fetch(other)
    finally:
        store.close()


def test_lock_refuses_a_name_on_two_indexes_until_the_config_file_pins_it(
        local_index, clean_pip_env, tmp_path, t0):
    work = tmp_path / "proj"
    work.mkdir()
    with LocalIndex(tmp_path / "attacker") as attacker:
        dependency_confusion(local_index, attacker, tmp_path / "build", t0)
        args = ["lock", "-i", local_index.url, "--extra-index-url", attacker.url, "corp-utils",
                "--output-requirements", "requirements.txt", "--output-pylock", ""]
        run = run_tool(args, clean_pip_env, tmp_path, cwd=work)
        assert run.code == 1, run.stdout + run.stderr
        assert "multiple-indexes" in run.stdout + run.stderr
        (work / "safe-install.toml").write_text(f'[index-for]\ncorp-utils = "{local_index.url}"\n')
        run = run_tool(args, clean_pip_env, tmp_path, cwd=work)
    assert run.code == 0, run.stdout + run.stderr
    text = (work / "requirements.txt").read_text()
    assert "corp-utils==1.0" in text and "99.0" not in text
