"""Hostile or broken index responses, dependency confusion, mirrors without upload times and
requirement files from someone else: each is a clear error or finding, never a traceback
(run_cli checks) and never a silent pass. docs/faults.md lists each case with its test."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from clihelp import run_cli
from support.artifacts import build_wheel
from support.faults import Fault, FaultServer
from support.index import JSON_CONTENT_TYPE, LocalIndex
from support.piprun import pip_list

PAGE = r"^/simple/demo/$"


def _page(index: LocalIndex, name: str) -> dict:
    return json.loads((index.pages_dir / name / "index.json").read_text())


def _serve(faulty: FaultServer, name: str, page: dict) -> None:
    faulty.add(Fault(f"^/simple/{name}/$", "body", body=json.dumps(page).encode(),
                     content_type=JSON_CONTENT_TYPE, times=1000))


def _file(page: dict, suffix: str) -> dict:
    return next(f for f in page["files"] if f["filename"].endswith(suffix))


def _dry(url: str, *extra: str) -> list[str]:
    return ["-i", url, "--dry-run", "--ignore-installed", *extra]


# -- pages that are not what they claim -----------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    (b"[1, 2]", "the page is not a JSON object"),
    (b'{"files": {}}', "'files' is not a list"),
    (b'{"meta": {"api-version": "1.0"}}', "no 'files' key"),
    (b'{"files": [{"filename": "demo-1.0.tar.gz"}]}', "file entry #1 is not an object with a url"),
    (b'{"files": [42]}', "file entry #1 is not an object with a url"),
    (b'{"files": [{"url": "http://[::1/x.whl"}]}', "file entry #1 has an invalid url"),
    (b"[" * 100_000, "nested too deeply"),
    (b"\xff\xfe{", "not valid PEP 691 JSON"),
    (b'{"meta": {"api-version": "2.0"}, "files": []}', "uses PEP 691 api-version '2.0'"),
], ids=["array", "files-not-list", "no-files", "entry-without-url", "entry-not-object",
        "bad-url", "deep-nesting", "not-utf8", "api-version-2"])
def test_invalid_json_page_exits_3_naming_the_page(scenario, local_index, clean_pip_env,
                                                   tmp_path, body, message):
    scenario("ontime")
    local_index.break_project("demo", body=body)
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 3, run.stderr
    assert message in run.stderr and f"{local_index.url}demo/" in run.stderr


def test_unsupported_content_type_exits_3(scenario, local_index, clean_pip_env, tmp_path):
    scenario("ontime")
    local_index.break_project("demo", body=b"hello", content_type="text/plain")
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 3 and "unsupported content type 'text/plain'" in run.stderr


def test_garbage_html_page_lists_nothing_and_says_so(scenario, local_index, clean_pip_env,
                                                     tmp_path):
    """A proxy's login page (or garbage) served as HTML has no distributions: 'none found',
    never an install of something else."""
    scenario("ontime")
    local_index.break_project("demo", body=b"\x00\x01<html><a href='/login'>log in</a><<<",
                              content_type="text/html")
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 2
    assert "none found" in run.stderr


def test_file_names_that_do_not_parse_or_name_another_project_are_reported(
        scenario, local_index, clean_pip_env, tmp_path):
    scenario("ontime")
    page = _page(local_index, "demo")
    dep = _page(local_index, "dep")["files"][0]
    page["files"] += [
        {**dep, "url": "../../files/" + dep["filename"]},  # another project's file
        {**_file(page, ".tar.gz"), "url": "../../files/demo-not.a.version.tar.gz",
         "filename": "demo-not.a.version.tar.gz"},
        {**_file(page, ".whl"), "url": "../../files/demo-1.0-py3-none-any.whl.exe"},
    ]
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(_dry(faulty.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    notes = [n for n in run.report["notes"] if "not valid distributions of demo" in n]
    assert len(notes) == 1
    assert "2 file(s)" in notes[0] and "dep-1.0-py3-none-any.whl" in notes[0]
    assert "demo-not.a.version.tar.gz" in notes[0]
    assert run.package("demo")["filename"] == "demo-1.0-py3-none-any.whl"


def test_link_to_a_local_file_from_a_remote_index_is_refused(scenario, local_index,
                                                             clean_pip_env, tmp_path):
    scenario("ontime")
    page = _page(local_index, "demo")
    _file(page, ".whl")["url"] = "file:///etc/demo-1.0-py3-none-any.whl"
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(_dry(faulty.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "links to file:///etc/demo-1.0-py3-none-any.whl, a local file" in run.stderr


# -- upload times -------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("yesterday", "unreadable upload-time for demo-1.0-py3-none-any.whl ('yesterday' is not "
                  "an ISO 8601 time)"),
    ("2024-04-24T19:36:22", "has no time zone"),
    (1713987382, "1713987382 is not a string"),
    ("", "it is empty"),
    (None, "gives no upload time for demo-1.0-py3-none-any.whl"),
])
def test_missing_or_unparseable_upload_time_is_explicit_and_refused(
        scenario, local_index, clean_pip_env, tmp_path, value, expected):
    scenario("ontime")
    page = _page(local_index, "demo")
    wheel = _file(page, ".whl")
    if value is None:
        del wheel["upload-time"]
    else:
        wheel["upload-time"] = value
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(_dry(faulty.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("unknown-upload-time", "error") in run.kinds("demo")
    assert expected in run.stderr


# -- weak or missing hashes -------------------------------------------------------------------


def _wheel_bytes(index: LocalIndex) -> bytes:
    return (index.files_dir / "demo-1.0-py3-none-any.whl").read_bytes()


@pytest.mark.parametrize("kind", ["md5", "none"])
def test_only_weak_hashes_or_none_is_a_warning_and_still_verified(
        scenario, local_index, make_venv, clean_pip_env, tmp_path, kind):
    scenario("ontime")
    page = _page(local_index, "demo")
    data = _wheel_bytes(local_index)
    wheel = _file(page, ".whl")
    wheel["hashes"] = {"md5": hashlib.md5(data).hexdigest()} if kind == "md5" else {}  # noqa: S324
    venv = make_venv()
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(["--python", str(venv), "-i", faulty.url, "demo"], clean_pip_env,
                      tmp_path)
    assert run.code == 0, run.stderr
    assert ("weak-hash", "warning") in run.kinds("demo")
    text = "only md5 (broken algorithms)" if kind == "md5" else "publishes no hash"
    assert text in run.stderr
    assert hashlib.sha256(data).hexdigest() in json.dumps(run.package("demo")["findings"])
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_weak_hash_mismatch_is_refused_after_one_retry(scenario, local_index, make_venv,
                                                       clean_pip_env, tmp_path):
    scenario("ontime")
    page = _page(local_index, "demo")
    _file(page, ".whl")["hashes"] = {"md5": "0" * 32}
    venv = make_venv()
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(["--python", str(venv), "-i", faulty.url, "demo"], clean_pip_env,
                      tmp_path)
        assert faulty.count(r"^/files/demo-1\.0-py3-none-any\.whl$") == 2
    assert run.code == 3
    assert f"but the index lists {'0' * 32}, on two downloads" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


def test_trusted_hash_is_checked_even_when_the_index_gives_none(
        scenario, local_index, make_venv, clean_pip_env, tmp_path):
    """Hash-checking mode with an index that publishes no sha256: the downloaded file itself
    must match the --hash (it used to be taken on the index's word)."""
    scenario("ontime")
    page = _page(local_index, "demo")
    _file(page, ".whl")["hashes"] = {}
    req = tmp_path / "req.txt"
    dep_sha = _page(local_index, "dep")["files"][0]["hashes"]["sha256"]
    req.write_text(f"demo==1.0 --hash=sha256:{'1' * 64}\ndep==1.0 --hash=sha256:{dep_sha}\n")
    venv = make_venv()
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(["--python", str(venv), "-i", faulty.url, "--only-binary", ":all:",
                       "-r", str(req)], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("hash-mismatch", "error") in run.kinds("demo")
    assert run.package("demo")["sha256"] == hashlib.sha256(_wheel_bytes(local_index)).hexdigest()
    assert pip_list(venv, clean_pip_env) == {}


# -- metadata that disagrees with the wheel -------------------------------------------------------


def _wheel_with(tmp_path: Path, sub: str, requires: list[str]) -> Path:
    return build_wheel(tmp_path / sub, "demo", "1.0", requires_dist=requires)


def test_metadata_file_that_disagrees_with_the_wheel_is_refused_at_install(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    real = _wheel_with(tmp_path, "real", ["dep>=1"])
    lying = (b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")  # hides the dependency
    local_index.add(real, upload_time=t0, metadata=lying, advertise_metadata=True)
    local_index.add(build_wheel(tmp_path / "dep", "dep", "1.0"), upload_time=t0)
    venv = make_venv()
    for _ in range(2):  # the second run reads the (lying) metadata from the cache
        run = run_cli(["--python", str(venv), "-i", local_index.url, "demo"], clean_pip_env,
                      tmp_path)
        assert run.code == 3, run.stderr
        assert "differs from the wheel's own METADATA in Requires-Dist" in run.stderr
        assert pip_list(venv, clean_pip_env) == {}


def test_metadata_file_of_another_version_is_refused(local_index, clean_pip_env, tmp_path,
                                                     t0):
    local_index.add(_wheel_with(tmp_path, "real", []), upload_time=t0,
                    metadata=b"Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n",
                    advertise_metadata=True)
    run = run_cli(_dry(local_index.url, "demo"), clean_pip_env, tmp_path)
    assert run.code == 3
    assert "its metadata (metadata-file) is that of demo 2.0, not of demo 1.0" in run.stderr


def test_range_read_metadata_that_disagrees_with_the_download_is_refused(
        local_index, make_venv, clean_pip_env, tmp_path, t0):
    """The server answers Range requests with one wheel and full downloads with another."""
    local_index.add(_wheel_with(tmp_path, "real", ["dep>=1"]), upload_time=t0)
    local_index.add(build_wheel(tmp_path / "dep", "dep", "1.0"), upload_time=t0)
    decoy = _wheel_with(tmp_path, "decoy", []).read_bytes()
    venv = make_venv()
    with FaultServer(local_index, ranges=True) as faulty:
        faulty.add(Fault(r"^/files/demo-1\.0-py3-none-any\.whl$", "range-body", body=decoy,
                         times=1000))
        run = run_cli(["--python", str(venv), "-i", faulty.url, "demo"], clean_pip_env,
                      tmp_path)
    assert run.code == 3, run.stderr
    assert "metadata served separately (range) differs" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


def test_range_read_metadata_is_used_when_consistent(local_index, make_venv, clean_pip_env,
                                                     tmp_path, t0):
    local_index.add(_wheel_with(tmp_path, "real", []), upload_time=t0)
    with FaultServer(local_index, ranges=True) as faulty:
        run = run_cli(_dry(faulty.url, "demo"), clean_pip_env, tmp_path)
        assert faulty.count(r"\.whl$", ranges=True) >= 1
        assert faulty.count(r"\.whl$") == 0  # metadata without downloading the wheel
    assert run.code == 0, run.stderr
    assert run.package("demo")["metadata_source"] == "range"


# -- several indexes: dependency confusion, mismatching copies, pins --------------------------


@pytest.fixture
def two_indexes(local_index, tmp_path, t0):
    """A private index with corp-utils 1.0 and a public one where someone published 99.0."""
    local_index.add(build_wheel(tmp_path / "p", "corp-utils", "1.0"), upload_time=t0)
    with LocalIndex(tmp_path / "public") as public:
        public.add(build_wheel(tmp_path / "q", "corp-utils", "99.0", payload="evil"),
                   upload_time=t0)
        yield local_index, public


def test_name_on_several_indexes_is_refused_by_default(two_indexes, clean_pip_env, tmp_path):
    private, public = two_indexes
    run = run_cli(["-i", public.url, "--extra-index-url", private.url, "--dry-run",
                   "--ignore-installed", "corp-utils"], clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("multiple-indexes", "error") in run.kinds("corp-utils")
    assert f"{public.url} (99.0)" in run.stderr and f"{private.url} (1.0)" in run.stderr
    assert "[index-for]" in run.stderr and "dependency-confusion" in run.stderr
    assert run.report["policy"]["on_multiple_indexes"] == "refuse"


def test_name_on_several_indexes_can_be_accepted_with_a_warning(two_indexes, clean_pip_env,
                                                                tmp_path):
    private, public = two_indexes
    run = run_cli(["-i", public.url, "--extra-index-url", private.url, "--dry-run",
                   "--ignore-installed", "--on-multiple-indexes", "warn", "corp-utils"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("multiple-indexes", "warning") in run.kinds("corp-utils")
    assert run.package("corp-utils")["version"] == "99.0"  # what pip would take
    assert "policy relaxed" in run.stderr


def test_pinning_a_name_to_one_index_in_the_config_file(two_indexes, clean_pip_env, tmp_path):
    private, public = two_indexes
    work = tmp_path / "work"
    work.mkdir()
    (work / "safe-install.toml").write_text(f'[index-for]\n"Corp_Utils" = "{private.url}"\n')
    public.clear_requests()
    run = run_cli(["-i", public.url, "--extra-index-url", private.url, "--dry-run",
                   "--ignore-installed", "corp-utils"], clean_pip_env, tmp_path, cwd=work)
    assert run.code == 0, run.stderr
    assert run.package("corp-utils")["version"] == "1.0"
    assert run.package("corp-utils")["index"] == private.url
    assert not [p for p in public.requests if "corp-utils" in p]  # never even asked
    assert any("pinned to" in n for n in run.report["notes"])


def test_pinning_on_the_command_line_and_to_an_unknown_index(two_indexes, clean_pip_env,
                                                             tmp_path):
    private, public = two_indexes
    base = ["-i", public.url, "--extra-index-url", private.url, "--dry-run",
            "--ignore-installed"]
    run = run_cli(base + ["--index-for", f"corp-utils={private.url}", "corp-utils"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("corp-utils")["version"] == "1.0"
    run = run_cli(base + ["--index-for", "corp-utils=https://elsewhere.example/simple/",
                          "corp-utils"], clean_pip_env, tmp_path)
    assert run.code == 2
    assert "not a configured index" in run.stderr
    run = run_cli(base + ["--index-for", "corp-utils", "corp-utils"], clean_pip_env, tmp_path)
    assert run.code == 2 and "NAME=INDEX_URL" in run.stderr


def test_pip_abbreviations_keep_their_meaning(scenario, local_index, clean_pip_env, tmp_path):
    """--index-for/--times-from share prefixes with pip's --index-url/--timeout: pip's
    abbreviations still mean pip's options."""
    scenario("ontime")
    run = run_cli(["--index", local_index.url, "--time", "5", "--dry-run", "--ignore-installed",
                   "demo"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr


def test_same_file_name_with_different_hashes_on_two_indexes_is_refused(
        scenario, local_index, clean_pip_env, tmp_path, t0):
    files = scenario("ontime")
    altered = build_wheel(tmp_path / "alt", "demo", "1.0", requires_dist=["dep>=1"],
                          payload="altered")
    assert altered.name == files["wheel"].filename
    with LocalIndex(tmp_path / "other") as other:
        other.add(altered, upload_time=files["wheel"].upload_time)
        run = run_cli(["-i", local_index.url, "--extra-index-url", other.url, "--dry-run",
                       "--ignore-installed", "--on-multiple-indexes", "warn", "demo"],
                      clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("mirror-mismatch", "error") in run.kinds("demo")
    assert "lists a file of the same name with sha256" in run.stderr


def test_identical_mirror_as_extra_index_is_multiple_indexes_until_pinned(
        scenario, local_index, clean_pip_env, tmp_path):
    """Identical copies never show which index is the origin (an attacker re-hosting the
    private files looks the same): the name is on two sources until [index-for] says which."""
    files = scenario("ontime")
    with LocalIndex(tmp_path / "mirror") as mirror:
        for f in files.values():
            mirror.add(f.path, upload_time=f.upload_time)
        base = ["-i", local_index.url, "--extra-index-url", mirror.url, "--dry-run",
                "--ignore-installed"]
        run = run_cli([*base, "demo"], clean_pip_env, tmp_path)
        assert run.code == 1, run.stderr
        assert ("multiple-indexes", "error") in run.kinds("demo")
        assert "identical copies, which do not show which index is the origin" in run.stderr
        run = run_cli([*base, "--index-for", f"demo={local_index.url}", "--index-for",
                       f"dep={local_index.url}", "demo"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert "multiple-indexes" not in [k for k, _ in run.kinds("demo")]


# -- mirrors without upload times: --times-from -----------------------------------------------


@pytest.fixture
def mirror_of_attack(scenario, tmp_path):
    """The attack scenario upstream (JSON, with times) and an HTML-only mirror of it."""
    files = scenario("attack")
    with LocalIndex(tmp_path / "mirror", mode="html-only") as mirror:
        for key in ("sdist", "pure", "native"):
            mirror.add(files[key].path, upload_time=None)
        yield files, mirror


def test_mirror_without_times_is_refused_without_times_from(mirror_of_attack, clean_pip_env,
                                                            tmp_path):
    _files, mirror = mirror_of_attack
    run = run_cli(_dry(mirror.url, "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("unknown-upload-time", "error") in run.kinds("demo")
    assert "--times-from https://pypi.org/simple/" in run.stderr


def test_times_from_dates_the_mirror_by_the_identical_file(mirror_of_attack, local_index,
                                                           clean_pip_env, tmp_path):
    files, mirror = mirror_of_attack
    local_index.clear_requests()
    run = run_cli(_dry(mirror.url, "--times-from", local_index.url, "demo==1.0"),
                  clean_pip_env, tmp_path)
    assert run.code == 1  # the late native wheel is caught through the mirror
    pkg = run.package("demo")
    assert pkg["index"] == mirror.url and pkg["filename"] == files["native"].filename
    assert ("late", "error") in run.kinds("demo")
    assert pkg["lateness_seconds"] == 90 * 86400
    assert any("(--times-from)" in n for n in pkg["notes"])
    assert set(local_index.requests) == {"/simple/demo/"}  # only read to date files
    run = run_cli(_dry(mirror.url, "--times-from", local_index.url, "--only-binary", ":all:",
                       "--allow-late", "demo==1.0", "demo==1.0"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr


def test_times_from_in_config_file_and_environment(mirror_of_attack, local_index, clean_pip_env,
                                                   tmp_path):
    _files, mirror = mirror_of_attack
    work = tmp_path / "work"
    work.mkdir()
    (work / "safe-install.toml").write_text(f'times-from = "{local_index.url}"\n')
    run = run_cli(_dry(mirror.url, "demo==1.0"), clean_pip_env, tmp_path, cwd=work)
    assert ("late", "error") in run.kinds("demo")
    env = {**clean_pip_env, "SAFE_INSTALL_TIMES_FROM": local_index.url}
    run = run_cli(_dry(mirror.url, "demo==1.0"), env, tmp_path)
    assert ("late", "error") in run.kinds("demo")


def test_mirror_copy_that_differs_from_upstream_is_mirror_mismatch(scenario, local_index,
                                                                   clean_pip_env, tmp_path):
    files = scenario("ontime")
    altered = build_wheel(tmp_path / "alt", "demo", "1.0", requires_dist=["dep>=1"],
                          payload="altered")
    with LocalIndex(tmp_path / "mirror", mode="html-only") as mirror:
        mirror.add(altered, upload_time=None)
        mirror.add(files["dep"].path, upload_time=None)
        run = run_cli(_dry(mirror.url, "--times-from", local_index.url, "--on-unknown-"
                           "upload-time", "warn", "demo"), clean_pip_env, tmp_path)
    assert run.code == 1
    assert ("mirror-mismatch", "error") in run.kinds("demo")
    assert "(--times-from) lists a file of the same name" in run.stderr


def test_times_from_without_the_identical_file_says_so(scenario, local_index, clean_pip_env,
                                                       tmp_path, t0):
    scenario("ontime")
    with LocalIndex(tmp_path / "mirror", mode="html-only") as mirror:
        mirror.add(build_wheel(tmp_path / "x", "solo", "1.0"), upload_time=None)
        run = run_cli(_dry(mirror.url, "--times-from", local_index.url, "solo"), clean_pip_env,
                      tmp_path)
    assert run.code == 1
    assert "and no --times-from index" in run.stderr


def test_find_links_without_hashes_dated_by_times_from(scenario, local_index, clean_pip_env,
                                                       tmp_path):
    """find-links lists no hashes: the files are hashed to be matched with upstream."""
    files = scenario("ontime")
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    for key in ("wheel", "dep"):
        (wheelhouse / files[key].filename).write_bytes(files[key].path.read_bytes())
    run = run_cli(["--no-index", "-f", str(wheelhouse), "--times-from", local_index.url,
                   "--dry-run", "--ignore-installed", "demo"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["upload_time"] is not None
    assert any("(--times-from)" in n for n in run.package("demo")["notes"])


# -- requirement files written by someone else ------------------------------------------------


def test_index_set_inside_a_requirement_file_is_used_and_reported(scenario, local_index,
                                                                  clean_pip_env, tmp_path):
    scenario("ontime")
    req = tmp_path / "req.txt"
    req.write_text(f"-i {local_index.url}\ndemo\n")
    run = run_cli(["-i", "http://127.0.0.1:9/simple/", "--dry-run", "--ignore-installed",
                   "-r", str(req)], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert f"a requirement file sets the index to {local_index.url}" in run.report["notes"]
    assert run.package("demo")["index"] == local_index.url


def test_requirement_file_options_are_honoured_and_reported(scenario, local_index,
                                                            clean_pip_env, tmp_path, t0):
    """${VAR} expansion, continuation lines, comments, --extra-index-url, -f, --trusted-host
    and --pre inside a file, as pip reads them."""
    scenario("ontime")
    local_index.add(build_wheel(tmp_path / "rc", "demo", "2.0rc1", requires_dist=["dep>=1"]),
                    upload_time=t0)
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    req = tmp_path / "req.txt"
    req.write_text(
        "# pinned by the platform team\n"
        "--extra-index-url ${EXTRA_INDEX}  # comment after an option\n"
        f"-f {wheelhouse}\n"
        "--trusted-host mirror.example\n"
        "--pre\n"
        "demo \\\n"
        "    >=1.0\n"
    )
    env = {**clean_pip_env, "EXTRA_INDEX": local_index.url}
    run = run_cli(["--no-index", "--dry-run", "--ignore-installed", "-r", str(req)], env,
                  tmp_path)
    # --no-index on the command line wins over the file's indexes, as in pip
    assert run.code == 2, run.stderr
    run = run_cli(["-i", "http://127.0.0.1:9/simple/", "--dry-run", "--ignore-installed",
                   "--retries", "0", "-r", str(req)], env, tmp_path)
    assert run.code == 3  # the command line's (dead) index is still searched, as in pip
    run = run_cli(["-i", local_index.url, "--dry-run", "--ignore-installed", "-r", str(req)],
                  env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["version"] == "2.0rc1"  # --pre from the file
    notes = run.report["notes"]
    assert f"a requirement file adds indexes: {local_index.url}" in notes
    assert any("find-links" in n and str(wheelhouse) in n for n in notes)
    assert any("trusted" in n and "mirror.example" in n for n in notes)


@pytest.mark.parametrize("bogus_first", [True, False])
def test_same_file_name_twice_on_one_page_with_different_hashes_is_refused(
        scenario, local_index, clean_pip_env, tmp_path, bogus_first):
    scenario("ontime")
    page = _page(local_index, "demo")
    wheel = _file(page, ".whl")
    bogus = {**wheel, "hashes": {"sha256": "e" * 64}}
    page["files"].insert(0, bogus) if bogus_first else page["files"].append(bogus)
    with FaultServer(local_index) as faulty:
        _serve(faulty, "demo", page)
        run = run_cli(_dry(faulty.url, "demo"), clean_pip_env, tmp_path)
    if bogus_first:  # pip takes the last of equal copies: the real one, flagged
        assert run.code == 1, run.stderr
        assert ("mirror-mismatch", "error") in run.kinds("demo")
    else:  # pip takes the bogus copy, whose listed hash no download can match
        assert run.code == 3, run.stderr
        assert f"but the index lists {'e' * 64}, on two downloads" in run.stderr


def test_store_checks_trusted_hashes_on_a_file_it_fetched_before(tmp_path):
    """A file downloaded first without trusted hashes (for its metadata) is checked against
    them when it is fetched again for installing."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from safeinstall.artifacts import ArtifactCache
    from safeinstall.errors import IntegrityError
    from safeinstall.models import IndexFile, Source

    wheel = build_wheel(tmp_path / "w", "demo", "1.0")
    f = IndexFile(project=canonicalize_name("demo"), filename=wheel.name, url=wheel.as_uri(),
                  source=Source(str(wheel.parent), "find-links"), version=Version("1.0"),
                  is_wheel=True, tags=frozenset(), build_tag=(), sha256=None, hashes=(),
                  upload_time=None, yanked=None, requires_python=None, size=None,
                  metadata_url=None, metadata_sha256=None)
    store = ArtifactCache(None, None)
    try:
        store.fetch(f)
        with pytest.raises(IntegrityError, match="not among the trusted hashes"):
            store.fetch(f, expected=frozenset({"0" * 64}))
        good = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert store.fetch(f, expected=frozenset({good})).read_bytes() == wheel.read_bytes()
    finally:
        store.close()


def test_faults_doc_names_every_test():
    """docs/faults.md and the fault tests stay in step: every test is in the document, and
    every test the document names exists."""
    import ast
    import re

    root = Path(__file__).resolve().parent
    doc = (root.parent / "docs" / "faults.md").read_text()
    names: dict[str, set[str]] = {}
    for module in ("test_faults.py", "test_hostile.py", "test_properties.py",
                   "test_hostile_timeline.py", "test_hostile_values.py",
                   "test_failsafe.py"):
        tree = ast.parse((root / module).read_text())
        names[module] = {n.name for n in tree.body
                         if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
        missing = sorted(n for n in names[module] if n not in doc)
        assert not missing, f"docs/faults.md does not mention {module}: {missing}"
    for module, name in re.findall(r"(test_\w+\.py)::(test_\w+)", doc):
        assert name in names.get(module, set()), f"docs/faults.md names {module}::{name}"


def test_partial_mirror_is_a_second_source_until_pinned(scenario, local_index,
                                                        clean_pip_env, tmp_path):
    """A mirror holding only some of the files (e.g. a machine's local wheel cache), each an
    identical copy, is still a second source (the dependency-confusion attack looks the same
    with the roles swapped); pinning the name with --index-for settles it."""
    files = scenario("ontime")
    with LocalIndex(tmp_path / "partial", mode="html-only") as partial:
        partial.add(files["wheel"].path, upload_time=None)
        base = ["-i", local_index.url, "--extra-index-url", partial.url, "--dry-run",
                "--ignore-installed"]
        run = run_cli([*base, "demo"], clean_pip_env, tmp_path)
        assert run.code == 1, run.stderr
        assert ("multiple-indexes", "error") in run.kinds("demo")
        run = run_cli([*base, "--index-for", f"demo={local_index.url}", "demo"],
                      clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert "multiple-indexes" not in [k for k, _ in run.kinds("demo")]
