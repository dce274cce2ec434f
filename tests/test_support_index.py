"""The test infrastructure works: real artifacts, a real index, and the real pip 26 agree.

These tests also pin down the pip behaviour safe-install relies on (or defends against), so
a pip upgrade that changes it fails here first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

from support.artifacts import BUILD_MARKER_ENV, build_sdist, build_wheel
from support.index import (
    HTML_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    V1_HTML_CONTENT_TYPE,
    IndexedFile,
    LocalIndex,
    select_content_type,
)
from support.piprun import PipFailed, pip_dry_run_report, pip_list, run_pip
from support.scenarios import (
    SCENARIO_DIR,
    foreign_tag,
    load_scenario,
    native_tag,
    parse_offset,
)

Scenario = Callable[[str], dict[str, IndexedFile]]

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
UPLOAD_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def fetch(url: str, accept: str | None = None) -> tuple[int, str, bytes]:
    """GET ``url`` (no proxies); return (status, Content-Type, body)."""
    request = urllib.request.Request(url, headers={} if accept is None else {"Accept": accept})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def selected(report: dict[str, Any]) -> dict[str, str]:
    """``{name: filename}`` of what a pip report installs."""
    return {
        item["metadata"]["name"]: item["download_info"]["url"].rsplit("/", 1)[-1]
        for item in report["install"]
    }


def run_in(python: Path, code: str) -> str:
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


# ---------------------------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------------------------


def test_wheel_is_well_formed_and_deterministic(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path / "a",
        "My.Pkg",
        "1.0",
        tag="py2.py3-none-any",
        build_tag="1",
        requires_dist=["dep>=1", "extra-dep; extra == 'x'"],
        requires_python=">=3.8",
        provides_extra=["x"],
        payload="one",
    )
    assert wheel.name == "my_pkg-1.0-1-py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "my_pkg/__init__.py" in names
        metadata = Parser().parsestr(archive.read("my_pkg-1.0.dist-info/METADATA").decode())
        wheel_info = Parser().parsestr(archive.read("my_pkg-1.0.dist-info/WHEEL").decode())
        record = archive.read("my_pkg-1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            if path.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)
        assert "__version__ = '1.0'" in archive.read("my_pkg/__init__.py").decode()
    assert metadata["Metadata-Version"] == "2.1"
    assert metadata.get_all("Requires-Dist") == ["dep>=1", "extra-dep; extra == 'x'"]
    assert metadata["Requires-Python"] == ">=3.8"
    assert wheel_info.get_all("Tag") == ["py2-none-any", "py3-none-any"]
    assert wheel_info["Build"] == "1"

    again = build_wheel(
        tmp_path / "b",
        "My.Pkg",
        "1.0",
        tag="py2.py3-none-any",
        build_tag="1",
        requires_dist=["dep>=1", "extra-dep; extra == 'x'"],
        requires_python=">=3.8",
        provides_extra=["x"],
        payload="one",
    )
    other = build_wheel(tmp_path / "c", "My.Pkg", "1.0", tag="py2.py3-none-any", payload="two")
    assert again.read_bytes() == wheel.read_bytes()
    assert other.read_bytes() != wheel.read_bytes()


@pytest.mark.parametrize("static", [True, False])
def test_sdist_layout_and_pkg_info(tmp_path: Path, static: bool) -> None:
    sdist = build_sdist(tmp_path, "My.Pkg", "2.0", requires_dist=["dep>=1"], static_metadata=static)
    assert sdist.name == "my_pkg-2.0.tar.gz"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        pkg_info_file = archive.extractfile("my_pkg-2.0/PKG-INFO")
        pyproject_file = archive.extractfile("my_pkg-2.0/pyproject.toml")
        assert pkg_info_file is not None and pyproject_file is not None
        pkg_info = Parser().parsestr(pkg_info_file.read().decode())
        pyproject = pyproject_file.read().decode()
    assert {"my_pkg-2.0/inbackend.py", "my_pkg-2.0/my_pkg/__init__.py"} <= names
    assert 'build-backend = "inbackend"' in pyproject and 'backend-path = ["."]' in pyproject
    assert pkg_info["Metadata-Version"] == "2.2"
    if static:
        assert pkg_info.get_all("Requires-Dist") == ["dep>=1"]
        assert pkg_info.get_all("Dynamic") is None
    else:
        assert pkg_info.get_all("Requires-Dist") is None
        assert pkg_info.get_all("Dynamic") == ["Requires-Dist"]


def test_pip_installs_wheel_without_index(
    tmp_path: Path, make_venv: Callable[..., Path], clean_pip_env: dict[str, str]
) -> None:
    wheel = build_wheel(tmp_path / "dist", "Demo", "1.0", payload="hello")
    venv = make_venv()
    run_pip(["install", "--no-index", "--no-deps", str(wheel)], clean_pip_env, python=venv)
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0"}
    assert run_in(venv, "import demo; print(demo.__version__, demo.PAYLOAD)") == "1.0 hello"


def test_sdist_builds_with_no_index_and_touches_marker(
    tmp_path: Path, make_venv: Callable[..., Path], clean_pip_env: dict[str, str]
) -> None:
    sdist = build_sdist(tmp_path / "dist", "demo", "1.0", payload="from-sdist")
    marker = tmp_path / "marker"
    env = {**clean_pip_env, BUILD_MARKER_ENV: str(marker)}

    # Without the variable, the backend leaves no trace.
    report = pip_dry_run_report(["--no-index", str(sdist)], clean_pip_env)
    assert not marker.exists()
    assert report["install"][0]["metadata"]["version"] == "1.0"

    venv = make_venv()
    run_pip(["install", "--no-index", str(sdist)], env, python=venv)
    hooks = marker.read_text().split()
    assert "build_wheel" in hooks
    assert pip_list(venv, env) == {"demo": "1.0"}
    assert run_in(venv, "import demo; print(demo.PAYLOAD)") == "from-sdist"


def test_dry_run_of_an_sdist_runs_backend_even_with_static_metadata(
    tmp_path: Path, clean_pip_env: dict[str, str]
) -> None:
    """pip trusts no PKG-INFO: even a Metadata-Version 2.2 sdist without ``Dynamic`` gets its
    metadata from the backend (``prepare_metadata_for_build_wheel``) on ``--dry-run``."""
    sdist = build_sdist(tmp_path / "dist", "demo", "1.0", requires_dist=["dep>=1"])
    marker = tmp_path / "marker"
    env = {**clean_pip_env, BUILD_MARKER_ENV: str(marker)}
    report = pip_dry_run_report(["--no-index", "--no-deps", str(sdist)], env)
    assert report["install"][0]["metadata"]["requires_dist"] == ["dep>=1"]
    assert marker.read_text().split() == [
        "get_requires_for_build_wheel",
        "prepare_metadata_for_build_wheel",
    ]


def test_dynamic_sdist_metadata_comes_from_the_build(
    tmp_path: Path, clean_pip_env: dict[str, str]
) -> None:
    sdist = build_sdist(
        tmp_path / "dist", "demo", "1.0", requires_dist=["dep>=1"], static_metadata=False
    )
    report = pip_dry_run_report(["--no-index", "--no-deps", str(sdist)], clean_pip_env)
    assert report["install"][0]["metadata"]["requires_dist"] == ["dep>=1"]


# ---------------------------------------------------------------------------------------------
# The index: pages and negotiation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, HTML_CONTENT_TYPE),
        (PIP_ACCEPT, JSON_CONTENT_TYPE),
        ("application/vnd.pypi.simple.v1+json", JSON_CONTENT_TYPE),
        ("*/*", HTML_CONTENT_TYPE),
        ("text/html", HTML_CONTENT_TYPE),
        ("application/vnd.pypi.simple.v1+html", V1_HTML_CONTENT_TYPE),
        (f"{JSON_CONTENT_TYPE}; q=0.5, text/html; q=0.5", HTML_CONTENT_TYPE),
        (f"{JSON_CONTENT_TYPE}; q=0.6, text/html; q=0.5", JSON_CONTENT_TYPE),
        (f"{JSON_CONTENT_TYPE}, */*; q=0.1", JSON_CONTENT_TYPE),
        (f"{JSON_CONTENT_TYPE}; q=0, text/html", HTML_CONTENT_TYPE),
        ("application/json", HTML_CONTENT_TYPE),
        ("application/*", V1_HTML_CONTENT_TYPE),
    ],
)
def test_content_negotiation_is_pypis(accept: str | None, expected: str) -> None:
    assert select_content_type(accept) == expected


def test_json_page_has_upload_times_and_html_has_none(
    local_index: LocalIndex, tmp_path: Path, t0: datetime
) -> None:
    wheel = build_wheel(tmp_path, "Demo", "1.0", requires_python=">=3.8,<4")
    sdist = build_sdist(tmp_path, "Demo", "1.0")
    late = t0 + timedelta(days=90)
    on_wheel = local_index.add(
        wheel,
        upload_time=late,
        yanked="broken build",
        requires_python=">=3.8,<4",
        advertise_metadata=True,
    )
    local_index.add(sdist, upload_time=None)
    assert local_index.url == f"http://127.0.0.1:{local_index.port}/simple/"

    status, content_type, body = fetch(local_index.project_url("demo"), PIP_ACCEPT)
    assert (status, content_type) == (200, JSON_CONTENT_TYPE)
    page = json.loads(body)
    assert page["meta"]["api-version"] == "1.1"
    assert page["name"] == "demo" and page["versions"] == ["1.0"]
    files = {f["filename"]: f for f in page["files"]}
    entry = files[wheel.name]
    assert entry["upload-time"] == "2024-07-23T19:31:22.123456Z"
    assert UPLOAD_TIME_RE.match(entry["upload-time"])
    assert entry["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert entry["size"] == wheel.stat().st_size
    assert entry["requires-python"] == ">=3.8,<4"
    assert entry["yanked"] == "broken build"
    assert entry["core-metadata"] == {"sha256": on_wheel.metadata_sha256}
    assert "upload-time" not in files[sdist.name]
    assert files[sdist.name]["yanked"] is False

    # Relative file URLs resolve to the file, and the advertised metadata matches.
    file_url = urllib.parse.urljoin(local_index.project_url("demo"), entry["url"])
    assert fetch(file_url)[2] == wheel.read_bytes()
    metadata = fetch(file_url + ".metadata")[2]
    assert hashlib.sha256(metadata).hexdigest() == on_wheel.metadata_sha256
    assert b"Requires-Python: >=3.8,<4" in metadata

    status, content_type, body = fetch(local_index.project_url("demo"), "text/html")
    text = body.decode()
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert f'#sha256={on_wheel.sha256}"' in text
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in text
    assert 'data-yanked="broken build"' in text
    assert f'data-core-metadata="sha256={on_wheel.metadata_sha256}"' in text
    assert "upload" not in text.lower() and "2024" not in text

    status, content_type, body = fetch(local_index.url, PIP_ACCEPT)
    assert json.loads(body)["projects"] == [{"name": "demo"}]
    assert 'href="demo/"' in fetch(local_index.url)[2].decode()

    # Unknown projects are 404s; unnormalized names redirect like PyPI.
    assert fetch(local_index.project_url("nope"), PIP_ACCEPT)[0] == 404
    assert fetch(local_index.url + "DEMO/", PIP_ACCEPT)[1] == JSON_CONTENT_TYPE
    assert "/simple/nope/" in local_index.requests
    assert not local_index.errors


def test_html_only_mode_never_serves_json(
    local_index: LocalIndex,
    scenario: Scenario,
    clean_pip_env: dict[str, str],
) -> None:
    local_index.mode = "html-only"
    files = scenario("ontime")
    status, content_type, body = fetch(local_index.project_url("demo"), JSON_CONTENT_TYPE)
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert files["wheel"].sha256 in body.decode()

    # pip still installs from an index without upload times...
    report = pip_dry_run_report(["--index-url", local_index.url, "demo"], clean_pip_env)
    assert selected(report) == {"demo": files["wheel"].filename, "dep": files["dep"].filename}
    # ...but its own --uploaded-prior-to refuses it outright.
    with pytest.raises(PipFailed) as failure:
        pip_dry_run_report(
            ["--index-url", local_index.url, "--uploaded-prior-to", "P1D", "demo"],
            clean_pip_env,
        )
    assert "does not provide upload-time metadata" in failure.value.stderr


def test_broken_page_makes_pip_fail(
    local_index: LocalIndex, scenario: Scenario, clean_pip_env: dict[str, str]
) -> None:
    scenario("ontime")
    local_index.break_project("demo")
    status, content_type, body = fetch(local_index.project_url("demo"), "text/html")
    assert (status, content_type, body) == (200, JSON_CONTENT_TYPE, b"not json")

    with pytest.raises(PipFailed) as failure:
        pip_dry_run_report(["--index-url", local_index.url, "demo"], clean_pip_env)
    # pip does not handle it: an uncaught traceback, exit status 2.
    assert failure.value.returncode == 2
    assert "JSONDecodeError" in failure.value.stderr

    local_index.repair_project("demo")
    report = pip_dry_run_report(["--index-url", local_index.url, "demo"], clean_pip_env)
    assert set(selected(report)) == {"demo", "dep"}


# ---------------------------------------------------------------------------------------------
# pip against the index
# ---------------------------------------------------------------------------------------------


def test_pip_installs_from_the_index_into_a_fresh_venv(
    local_index: LocalIndex,
    scenario: Scenario,
    make_venv: Callable[..., Path],
    clean_pip_env: dict[str, str],
) -> None:
    files = scenario("ontime")
    venv = make_venv()
    run_pip(["install", "--index-url", local_index.url, "demo"], clean_pip_env, python=venv)
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}
    assert run_in(venv, "import demo; print(demo.PAYLOAD)") == "benign"
    downloaded = local_index.downloaded()
    assert files["wheel"].filename in downloaded and files["dep"].filename in downloaded
    assert files["sdist"].filename not in downloaded
    assert "/simple/demo/" in local_index.requests
    (page_request,) = [r for r in local_index.request_log if r.path == "/simple/demo/"]
    assert page_request.content_type == JSON_CONTENT_TYPE


def test_dry_run_report_picks_the_late_native_wheel(
    local_index: LocalIndex, scenario: Scenario, clean_pip_env: dict[str, str], t0: datetime
) -> None:
    """The threat: the most specific wheel wins, even one added 90 days after the release."""
    files = scenario("attack")
    native = files["native"]
    assert native.upload_time == t0 + timedelta(days=90)
    report = pip_dry_run_report(["--index-url", local_index.url, "demo"], clean_pip_env)
    (item,) = report["install"]
    assert item["download_info"]["url"] == native.url
    assert item["download_info"]["archive_info"]["hashes"] == {"sha256": native.sha256}
    # Selection without download: the report needed the wheel's metadata, and with no
    # PEP 658 metadata advertised pip fetched the whole wheel.
    assert native.filename in local_index.downloaded()


def test_pip_uses_advertised_metadata_instead_of_downloading(
    local_index: LocalIndex, tmp_path: Path, t0: datetime, clean_pip_env: dict[str, str]
) -> None:
    wheel = build_wheel(tmp_path, "demo", "1.0", tag=native_tag(), payload="malicious")
    indexed = local_index.add(wheel, upload_time=t0, advertise_metadata=True)
    report = pip_dry_run_report(["--index-url", local_index.url, "demo"], clean_pip_env)
    assert selected(report) == {"demo": indexed.filename}
    assert local_index.downloaded() == [f"{indexed.filename}.metadata"]


def test_malicious_native_wheel_is_what_gets_installed(
    local_index: LocalIndex,
    scenario: Scenario,
    make_venv: Callable[..., Path],
    clean_pip_env: dict[str, str],
) -> None:
    scenario("attack")
    venv = make_venv()
    run_pip(["install", "--index-url", local_index.url, "demo"], clean_pip_env, python=venv)
    assert run_in(venv, "import demo; print(demo.PAYLOAD)") == "malicious"


def test_late_file_added_between_two_runs_changes_the_selection(
    local_index: LocalIndex, tmp_path: Path, t0: datetime, clean_pip_env: dict[str, str]
) -> None:
    pure = local_index.add(build_wheel(tmp_path / "a", "demo", "1.0"), upload_time=t0)
    args = ["--index-url", local_index.url, "demo"]
    assert selected(pip_dry_run_report(args, clean_pip_env)) == {"demo": pure.filename}
    native = local_index.add(
        build_wheel(tmp_path / "b", "demo", "1.0", tag=native_tag(), payload="malicious"),
        upload_time=t0 + timedelta(days=90),
    )
    assert selected(pip_dry_run_report(args, clean_pip_env)) == {"demo": native.filename}


def test_pip_uploaded_prior_to_filters_files_not_releases(
    local_index: LocalIndex, scenario: Scenario, clean_pip_env: dict[str, str], t0: datetime
) -> None:
    """pip's own ``--uploaded-prior-to`` drops the late file and quietly installs the
    on-time wheel of the same release: it neither notices nor reports the attack."""
    files = scenario("attack")
    cutoff = (t0 + timedelta(days=1)).isoformat()
    report = pip_dry_run_report(
        ["--index-url", local_index.url, "--uploaded-prior-to", cutoff, "demo"], clean_pip_env
    )
    assert selected(report) == {"demo": files["pure"].filename}


def test_transitive_attack_scenario(
    local_index: LocalIndex, scenario: Scenario, clean_pip_env: dict[str, str]
) -> None:
    files = scenario("transitive_attack")
    report = pip_dry_run_report(["--index-url", local_index.url, "app"], clean_pip_env)
    assert selected(report) == {"app": files["app"].filename, "lib": files["lib-native"].filename}


def test_foreign_late_wheel_is_never_selected(
    local_index: LocalIndex, scenario: Scenario, clean_pip_env: dict[str, str]
) -> None:
    files = scenario("foreign_late")
    report = pip_dry_run_report(["--index-url", local_index.url, "demo"], clean_pip_env)
    assert selected(report) == {"demo": files["pure"].filename}
    assert files["foreign"].filename not in local_index.downloaded()


def test_yanked_files_are_skipped_unless_pinned(
    local_index: LocalIndex, tmp_path: Path, t0: datetime, clean_pip_env: dict[str, str]
) -> None:
    old = local_index.add(build_wheel(tmp_path, "demo", "1.0"), upload_time=t0)
    local_index.add(build_wheel(tmp_path, "demo", "2.0"), upload_time=t0, yanked="oops")
    args = ["--index-url", local_index.url]
    assert selected(pip_dry_run_report([*args, "demo"], clean_pip_env)) == {"demo": old.filename}
    pinned = pip_dry_run_report([*args, "demo==2.0"], clean_pip_env)
    assert pinned["install"][0]["metadata"]["version"] == "2.0"


def test_machine_pip_configuration_is_ignored(
    local_index: LocalIndex, scenario: Scenario, clean_pip_env: dict[str, str]
) -> None:
    assert clean_pip_env["PIP_CONFIG_FILE"] == "/dev/null"
    assert {k for k in clean_pip_env if k.startswith("PIP_")} == {
        "PIP_CONFIG_FILE",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_NO_INPUT",
        "PIP_CACHE_DIR",
    }
    shown = run_pip(["config", "list"], clean_pip_env).stdout
    assert "find-links" not in shown and "extra-index-url" not in shown
    # An unknown project is not found anywhere else (no find-links, no extra index).
    with pytest.raises(PipFailed) as failure:
        pip_dry_run_report(["--index-url", local_index.url, "torch"], clean_pip_env)
    assert "No matching distribution found for torch" in failure.value.stderr
    assert "/simple/torch/" in local_index.requests


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------


def test_tags() -> None:
    tags = [str(t) for t in sys_tags()]
    assert native_tag() in tags
    assert foreign_tag() not in tags
    # pip (its vendored packaging) ranks the native tag above the pure one.
    from pip._internal.utils.compatibility_tags import get_supported

    ranking = [str(t) for t in get_supported()]
    assert ranking.index(native_tag()) < ranking.index("py3-none-any")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("5m", timedelta(minutes=5)),
        ("36h", timedelta(hours=36)),
        ("90d", timedelta(days=90)),
        ("1d12h", timedelta(hours=36)),
        ("-5m", timedelta(minutes=-5)),
    ],
)
def test_parse_offset(text: str, expected: timedelta) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_scenario_loads(path: Path, tmp_path: Path, t0: datetime) -> None:
    index = LocalIndex(tmp_path / "index")  # never started: loading needs no server
    try:
        files = load_scenario(path, index, tmp_path / "work", t0)
    finally:
        index.stop()
    assert files
    for indexed in files.values():
        assert indexed.path.is_file()
        assert indexed.upload_time is None or indexed.upload_time >= t0
        if indexed.filename.endswith(".whl"):
            parse_wheel_filename(indexed.filename)


def test_scenario_upload_time_none_and_bad_keys(
    local_index: LocalIndex, tmp_path: Path, t0: datetime
) -> None:
    good = tmp_path / "s.toml"
    good.write_text(
        '[[file]]\nname = "x"\nversion = "1"\nupload_time = "none"\n'
        '[[file]]\nname = "x"\nversion = "1"\nkind = "sdist"\n'
        'upload_time = "2020-01-01T00:00:00Z"\n'
    )
    files = load_scenario(good, local_index, tmp_path / "w", t0)
    assert [f.upload_time for f in files.values()] == [
        None,
        datetime(2020, 1, 1, tzinfo=timezone.utc),
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[file]]\nname = "x"\nversion = "1"\nofset = "5m"\n')
    with pytest.raises(ValueError, match="ofset"):
        load_scenario(bad, local_index, tmp_path / "w2", t0)


def test_backend_build_sdist_hook_reproduces_the_sdist(tmp_path: Path) -> None:
    sdist = build_sdist(tmp_path / "dist", "demo", "1.0", requires_dist=["dep"], payload="p")
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp_path / "src", filter="data")
        else:  # pragma: no cover - Python without PEP 706
            archive.extractall(tmp_path / "src")
    tree = tmp_path / "src" / "demo-1.0"
    marker = tmp_path / "marker"
    out = tmp_path / "rebuilt"
    code = f"import inbackend; print(inbackend.build_sdist({str(out)!r}))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        env={**os.environ, BUILD_MARKER_ENV: str(marker)},
        check=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == sdist.name
    assert (out / sdist.name).read_bytes() == sdist.read_bytes()
    assert marker.read_text().split() == ["build_sdist"]
