"""Against the real PyPI (marked ``network``; run with ``pytest -m network``)."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from clihelp import run_cli
from support.piprun import pip_dry_run_report

pytestmark = pytest.mark.network


def _pip_selection(report):
    return {(canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"],
             i["download_info"]["url"].rsplit("/", 1)[1]) for i in report["install"]}


def test_black_24_4_0_selects_what_pip_selects_and_is_on_time(clean_pip_env, tmp_path):
    args = ["--no-deps", "black==24.4.0"]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    black = run.package("black")
    assert {(black["name"], black["version"], black["filename"])} == \
        _pip_selection(pip_dry_run_report(args, clean_pip_env))
    assert black["release_files"] == 22  # one sdist and 21 wheels
    assert 0 <= black["lateness_seconds"] < 3600
    assert black["release_start"].startswith("2024-04-")
    assert not [f for f in black["findings"] if f["kind"] == "late"]


def test_small_tree_matches_pip(clean_pip_env, tmp_path):
    args = ["requests[socks]==2.32.3", "black==24.4.0"]
    run = run_cli(["--dry-run", "-I", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    ours = {(p["name"], p["version"], p["filename"]) for p in run.report["packages"]}
    assert ours == _pip_selection(pip_dry_run_report(args, clean_pip_env))


def _pypi_hashes(project: str, version: str) -> list[str]:
    """The sha256 of every file of ``project`` ``version`` on PyPI's simple index (what
    pip-compile --generate-hashes writes)."""
    import json
    import urllib.request

    from packaging.utils import parse_sdist_filename, parse_wheel_filename
    from packaging.version import Version

    request = urllib.request.Request(f"https://pypi.org/simple/{project}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.load(response)
    out = []
    for f in page["files"]:
        name = f["filename"]
        try:
            got = parse_wheel_filename(name)[1] if name.endswith(".whl") else \
                parse_sdist_filename(name)[1]
        except ValueError:
            continue
        if got == Version(version):
            out.append(f["hashes"]["sha256"])
    return sorted(out)


def test_the_pyyaml_upgrade_to_6_0_fails_guard_on_a_cp311_target(clean_pip_env, tmp_path):
    """PyYAML 6.0 was released in October 2021; its CPython 3.11 wheels came a year later.
    A lock change from 5.4.1 to 6.0 with every hash of the release (as pip-compile writes it)
    trusts them: guard fails, naming the late wheel a cp311 machine would install."""
    from lockhelp import run_tool

    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("pyyaml==5.4.1 " + " ".join(f"--hash=sha256:{h}"
                                                for h in _pypi_hashes("pyyaml", "5.4.1")) + "\n")
    new.write_text("pyyaml==6.0 " + " ".join(f"--hash=sha256:{h}"
                                              for h in _pypi_hashes("pyyaml", "6.0")) + "\n")
    run = run_tool(["guard", str(old), str(new), "--targets", "3.11:manylinux_x86_64",
                    "--format", "json"], clean_pip_env, tmp_path)
    assert run.code == 1, run.stdout + run.stderr
    doc = run.json()
    late = [h for h in doc["hashes"] if h["status"] == "late"]
    assert len(late) >= 7 and all(h["change"] == "new-release" for h in late)
    assert all(h["previous_versions"] == ["5.4.1"] for h in late)
    chosen = [h for h in late if h["selected_by"] == ["cp311-manylinux_x86_64"]]
    assert len(chosen) == 1 and "cp311" in chosen[0]["filename"]
    text = run_tool(["guard", str(old), str(new), "--targets", "3.11:manylinux_x86_64"],
                    clean_pip_env, tmp_path)
    assert text.code == 1 and chosen[0]["filename"] in text.stdout
    assert "[new release; upgrade from 5.4.1]" in text.stdout


#: tests/data/corpus's cli-ytdlp set: yt-dlp's requirements.txt at f9fb3ce8 (the last version
#: before the file was removed), https://github.com/yt-dlp/yt-dlp
YTDLP = ["mutagen", "pycryptodomex", "brotli; implementation_name=='cpython'",
         "brotlicffi; implementation_name!='cpython'", "certifi", "requests>=2.31.0,<3",
         "urllib3>=1.26.17,<3", "websockets>=12.0"]


def test_a_lock_for_common_targets_writes_each_version_with_its_marker(clean_pip_env,
                                                                      tmp_path):
    """websockets dropped Python 3.10 (16.x there, 17.x on 3.11+): the lock for every common
    target holds both versions, each with a python_version marker, and pip accepts it."""
    from lockhelp import run_tool
    from support.piprun import run_pip

    (tmp_path / "req.txt").write_text("\n".join(YTDLP) + "\n")
    run = run_tool(["lock", "-r", "req.txt", "--targets", "common", "-q"], clean_pip_env,
                   tmp_path)
    assert run.code == 0, run.stderr
    text = (tmp_path / "requirements.lock").read_text()
    pins = [line.split(" \\")[0] for line in text.splitlines() if line.startswith("websockets==")]
    if len(pins) > 1:
        assert all(" ; " in p and "python_version" in p for p in pins), pins
    assert "brotlicffi" not in text  # every common target is CPython
    report = run_pip(["install", "--dry-run", "--ignore-installed", "--require-hashes",
                      "--quiet", "--report", "-", "-r", str(tmp_path / "requirements.lock")],
                     clean_pip_env).stdout
    import json

    names = {canonicalize_name(i["metadata"]["name"]) for i in json.loads(report)["install"]}
    assert {"websockets", "requests", "brotli", "mutagen"} <= names


def test_six_no_binary_then_wheel_is_not_a_trust_finding(clean_pip_env, tmp_path, make_venv):
    """Issue 16: a selection that differs only by --no-binary is not a change of the release."""
    from support.piprun import pip_list

    env = dict(clean_pip_env, SAFE_INSTALL_TRUST_STORE=str(tmp_path / "state.sqlite3"))
    first = make_venv("a")
    run = run_cli(["--python", str(first), "--no-binary", "six", "six==1.16.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("six")["filename"] == "six-1.16.0.tar.gz"
    second = make_venv("b")
    run = run_cli(["--python", str(second), "six==1.16.0"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("six")["filename"] == "six-1.16.0-py2.py3-none-any.whl"
    assert not {f["kind"] for f in run.package("six")["findings"]} & \
        {"release-changed", "replaced-file"}
    assert pip_list(second, env) == {"six": "1.16.0"}
