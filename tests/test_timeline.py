"""Issue 5: ``safe-install-tool timeline`` - a release's files in time, late ones, pip's choice
per target; text, JSON, SVG and HTML; on the local index and (marked network) on PyPI."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest

from safeinstall.commands.timeline import Axis
from safeinstall.releaseview import PLATFORM_FAMILIES, compress_names, parse_targets
from safeinstall.target import current_target
from safeinstall.tool import main as tool_main

TARGETS = ("3.12:manylinux_x86_64,3.13:manylinux_x86_64,3.12:win_amd64,3.12:macos_arm64,"
           "3.11:musllinux_x86_64,3.12:manylinux_2_17_x86_64")


def run_tool(args, env, cwd):
    out, err = io.StringIO(), io.StringIO()
    code = tool_main(args, environ=env, stdout=out, stderr=err, cwd=str(cwd))
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def months(scenario):
    return scenario("months")


def _timeline(local_index, env, tmp_path, *extra):
    return run_tool(["timeline", "-i", local_index.url, "--targets", TARGETS, "--width", "220",
                     *extra, "demo==2.0"], env, tmp_path)


def test_json_orders_files_dates_them_and_says_what_each_target_selects(
        months, local_index, clean_pip_env, tmp_path, t0):
    code, out, err = _timeline(local_index, clean_pip_env, tmp_path, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["format"] == "safe-install-timeline"
    [release] = data["releases"]
    assert (release["project"], release["version"]) == ("demo", "2.0")
    assert release["index"] == local_index.url
    assert release["release_start"].startswith("2024-04-24T19:31:22")
    assert release["spread_seconds"] == 270 * 86400
    files = release["files"]
    order = ["sdist", "pure", "linux312", "win312", "linux313", "linux312_228", "mac312"]
    assert [f["filename"] for f in files] == [months[k].filename for k in order]
    assert [f["offset_seconds"] for f in files] == \
        [0, 30, 1200, 1500, 45 * 86400, 120 * 86400, 270 * 86400]
    assert [f["late"] for f in files] == [False] * 4 + [True] * 3
    assert release["late_files"] == [months[k].filename for k in order[4:]]
    assert release["late_after_seconds"] == 86400
    for f, key in zip(files, order, strict=True):
        assert f["sha256"] == months[key].sha256 and f["size"] == months[key].size
    assert files[5]["tags"] == ["cp312-cp312-manylinux_2_28_x86_64"]
    assert files[0]["kind"] == "sdist" and files[0]["tags"] == []
    # pip's choice per target: the late manylinux_2_28 wheel wins on a modern glibc
    assert release["selection"] == {
        "cp312-manylinux_x86_64": months["linux312_228"].filename,
        "cp313-manylinux_x86_64": months["linux313"].filename,
        "cp312-win_amd64": months["win312"].filename,
        "cp312-macos_arm64": months["mac312"].filename,
        "cp311-musllinux_x86_64": months["pure"].filename,
        "cp312-manylinux_2_17_x86_64": months["linux312"].filename,
    }
    by_name = {f["filename"]: f["selected_by"] for f in files}
    assert by_name[months["linux312_228"].filename] == ["cp312-manylinux_x86_64"]
    assert by_name[months["linux312"].filename] == ["cp312-manylinux_2_17_x86_64"]
    assert by_name[months["sdist"].filename] == []
    assert [t["name"] for t in data["targets"]] == list(release["selection"])


def test_text_draws_the_months_on_a_readable_axis(months, local_index, clean_pip_env,
                                                  tmp_path):
    code, out, err = _timeline(local_index, clean_pip_env, tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("demo 2.0") and local_index.url in lines[0]
    assert "7 files (1 sdist, 6 wheels)" in lines[1]
    assert "spread 270d" in lines[1] and "threshold 1d" in lines[1]
    assert "3 late files" in lines[1]
    rows = {}
    for key in ("sdist", "pure", "linux312", "win312", "linux313", "linux312_228", "mac312"):
        name = months[key].filename
        shown = name if key == "sdist" else name[len("demo-2.0-"):]
        [row] = [ln for ln in lines if shown in ln]
        rows[key] = row
    # order on screen = upload order
    positions = [lines.index(rows[k]) for k in rows]
    assert positions == sorted(positions)
    assert "+0s" in rows["sdist"] and "+30s" in rows["pure"] and "+20m" in rows["linux312"]
    assert "+45d" in rows["linux313"] and "+120d" in rows["linux312_228"]
    assert "+270d" in rows["mac312"]
    late = [k for k, row in rows.items() if "LATE" in row]
    assert late == ["linux313", "linux312_228", "mac312"]
    assert "3.12 manylinux_x86_64" in rows["linux312_228"]
    assert "3.12 macos_arm64" in rows["mac312"]
    assert "3.11 musllinux_x86_64" in rows["pure"]
    assert months["sdist"].sha256[:12] in rows["sdist"]
    # gaps longer than the threshold are marked between the rows
    assert sum(1 for ln in lines if "⋮" in ln) == 3
    # the axis: labelled from 0 to 9 months, late files past the threshold mark
    header = next(ln for ln in lines if ln.startswith("uploaded (UTC)"))
    assert re.search(r"offset +0 .*\b1d\b.*\b9mo\b", header), header
    mark = {k: _marker_column(rows[k]) for k in rows}
    assert mark["sdist"] < mark["linux312"] < mark["linux313"] < mark["mac312"]
    assert mark["linux312"] - mark["sdist"] >= 5  # the first half hour is not squashed
    assert "◆" in rows["mac312"] and "●" in rows["pure"]
    assert "┆ marks the 1d threshold" in out
    assert "no file of this release for" not in out


def _marker_column(row: str) -> int:
    return min(i for i, c in enumerate(row) if c in "●◆")


def test_threshold_option_changes_the_late_marks(months, local_index, clean_pip_env,
                                                 tmp_path):
    code, out, err = _timeline(local_index, clean_pip_env, tmp_path, "--format", "json",
                               "--late-after", "100d")
    assert code == 0, err
    files = json.loads(out)["releases"][0]["files"]
    assert [f["filename"] for f in files if f["late"]] == \
        [months["linux312_228"].filename, months["mac312"].filename]
    env = dict(clean_pip_env, SAFE_INSTALL_LATE_AFTER="200d")
    code, out, _ = _timeline(local_index, env, tmp_path, "--format", "json")
    assert [f["filename"] for f in json.loads(out)["releases"][0]["files"] if f["late"]] == \
        [months["mac312"].filename]


def test_default_targets_are_current_and_the_common_set(months, local_index, clean_pip_env,
                                                        tmp_path):
    code, out, err = run_tool(["timeline", "-i", local_index.url, "--format", "json",
                               "demo==2.0"], clean_pip_env, tmp_path)
    assert code == 0, err
    data = json.loads(out)
    names = [t["name"] for t in data["targets"]]
    assert names[0] == "current" and len(names) == 1 + 5 * len(PLATFORM_FAMILIES)
    assert {"cp310-manylinux_aarch64", "cp314-win_amd64", "cp313-musllinux_x86_64",
            "cp311-macos_x86_64", "cp312-macos_arm64"} <= set(names)
    sel = data["releases"][0]["selection"]
    assert sel["cp312-manylinux_x86_64"] == months["linux312_228"].filename
    assert sel["cp312-manylinux_aarch64"] == months["pure"].filename
    assert sel["cp314-win_amd64"] == months["pure"].filename


def test_svg_html_and_text_exports(months, local_index, clean_pip_env, tmp_path):
    svg = tmp_path / "timeline.svg"
    code, out, err = _timeline(local_index, clean_pip_env, tmp_path, "--format", "svg",
                               "--output", str(svg))
    assert code == 0, err
    assert out == ""
    text = svg.read_text().replace("&#160;", " ")
    assert text.lstrip().startswith("<svg") and text.rstrip().endswith("</svg>")
    assert "safe-install timeline: demo 2.0" in text
    assert "LATE" in text and "cp312-cp312-manylinux_2_28_x86_64.whl" in text
    assert "#" in text and "fill" in text  # coloured: late files are red
    # self-contained: renders offline and in viewers that block remote content
    assert "@font-face" not in text and "cdn" not in text.lower()
    assert "ui-monospace" in text
    assert not re.search(r"""(?:url\(|href\s*=|src\s*=)\s*["']?(?:https?:)?//""", text)
    code, out, err = _timeline(local_index, clean_pip_env, tmp_path, "--format", "html")
    assert code == 0, err
    assert "<html" in out.lower() and "cp312-cp312-manylinux_2_28_x86_64.whl" in out
    plain = tmp_path / "timeline.txt"
    code, _, _ = _timeline(local_index, clean_pip_env, tmp_path, "-o", "timeline.txt")
    assert code == 0
    assert "\x1b[" not in plain.read_text() and "3 late files" in plain.read_text()


def test_several_releases_and_errors(scenario, months, local_index, clean_pip_env, tmp_path):
    scenario("ontime")
    code, out, err = run_tool(["timeline", "-i", local_index.url, "--targets", "current",
                               "--format", "json", "demo==2.0", "dep==1.0"],
                              clean_pip_env, tmp_path)
    assert code == 0, err
    assert [(r["project"], r["version"]) for r in json.loads(out)["releases"]] == \
        [("demo", "2.0"), ("dep", "1.0")]
    code, _, err = run_tool(["timeline", "-i", local_index.url, "demo==9.9"], clean_pip_env,
                            tmp_path)
    assert code == 2 and "no files of demo==9.9" in err
    code, _, err = run_tool(["timeline", "-i", local_index.url, "demo>=2"], clean_pip_env,
                            tmp_path)
    assert code == 2 and "does not name one release" in err
    code, _, err = run_tool(["timeline", "-i", local_index.url, "--targets", "3.12:bad tag",
                             "demo==2.0"], clean_pip_env, tmp_path)
    assert code == 2 and "invalid target platform" in err


def test_pip_configuration_supplies_the_index(months, local_index, clean_pip_env, tmp_path):
    env = dict(clean_pip_env, PIP_INDEX_URL=local_index.url)
    code, out, err = run_tool(["timeline", "--targets", "current", "--format", "json",
                               "demo==2.0"], env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["releases"][0]["index"] == local_index.url


def test_release_without_upload_times_says_so(scenario, local_index, clean_pip_env, tmp_path):
    scenario("attack")
    local_index.mode = "html-only"  # a mirror: no upload times
    args = ["timeline", "-i", local_index.url, "--targets", "current", "demo==1.0"]
    code, out, err = run_tool(args, dict(clean_pip_env, COLUMNS="120"), tmp_path)
    assert code == 0, err
    assert "no upload times: lateness unknown" in out
    assert "? no upload time" in out
    code, out, err = run_tool(args, clean_pip_env, tmp_path)  # piped: a record per line
    assert code == 0 and "no upload times: lateness unknown" in out
    assert "uploaded=unknown  offset=?" in out


@pytest.mark.parametrize("width", [60, 80, 120])
def test_text_fits_the_width_and_keeps_every_target_name(months, local_index, clean_pip_env,
                                                         tmp_path, width):
    code, out, err = run_tool(["timeline", "-i", local_index.url, "--targets", TARGETS,
                               "demo==2.0"], dict(clean_pip_env, COLUMNS=str(width)), tmp_path)
    assert code == 0, err
    too_wide = [line for line in out.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert "selected by" in out  # kept; the size and sha256 columns go first
    if width <= 80:
        assert "sha256" not in out and " kB" not in out
    # names are wrapped in their column, never cut
    words = set(out.split())
    code, plain, _ = run_tool(["timeline", "-i", local_index.url, "--targets", TARGETS,
                               "demo==2.0"], clean_pip_env, tmp_path)
    for line in plain.splitlines():
        if "selected-by=" in line:
            names = line.split("selected-by=", 1)[1].strip('"')
            if names != "-":
                assert all(part.strip(",") in words for part in names.split()), names


# -- units ----------------------------------------------------------------------------------------


def test_axis_is_readable_for_minutes_and_for_months():
    short = Axis(timedelta(minutes=38), 32)
    assert short.position(timedelta(0)) == 0 and short.position(timedelta(minutes=38)) == 31
    assert short.position(timedelta(minutes=2)) >= 6  # early uploads are spread out
    assert short.labels().startswith("0") and short.labels().rstrip().endswith("38m")
    long = Axis(timedelta(days=270), 32)
    first_hour = long.position(timedelta(hours=1))
    first_day = long.position(timedelta(days=1))
    assert 5 <= first_hour < first_day < long.position(timedelta(days=30)) < 31
    assert long.labels().rstrip().endswith("9mo")


def test_target_specs_and_compression():
    current = parse_targets(["current"], current=_current())[0]
    targets = parse_targets(["current,3.10-3.12:win_amd64,*:macos_arm64"], current=current)
    names = [t.name for t in targets]
    assert names[:4] == ["current", "cp310-win_amd64", "cp311-win_amd64", "cp312-win_amd64"]
    assert len(names) == 4 + 5
    win = targets[1].target
    assert win.version[:2] == (3, 10) and str(win.tags[0]) == "cp310-cp310-win_amd64"
    assert compress_names(["cp310-win_amd64", "cp311-win_amd64", "cp313-macos_arm64",
                           "cp314-macos_arm64", "current"], targets) == \
        "current; 3.10-3.11 win_amd64; 3.13-3.14 macos_arm64"
    assert compress_names(names, targets) == f"all {len(names)} targets"
    literal = parse_targets(["3.12:manylinux_2_28_x86_64+manylinux2014_x86_64"],
                            current=current)[0]
    assert literal.name == "cp312-manylinux_2_28_x86_64+manylinux2014_x86_64"
    # expanded as pip expands --platform: manylinux2014 also means 2010 and 1
    assert {t.platform for t in literal.target.tags} == {
        "manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64",
        "manylinux1_x86_64", "any"}


def _current():
    from safeinstall.releaseview import current_named

    return current_named(current_target())


@pytest.mark.network
def test_black_24_4_0_from_pypi(clean_pip_env, tmp_path):
    code, out, err = run_tool(["timeline", "--format", "json", "black==24.4.0"],
                              clean_pip_env, tmp_path)
    assert code == 0, err
    [release] = json.loads(out)["releases"]
    files = release["files"]
    assert len(files) == 22
    assert sum(1 for f in files if f["kind"] == "sdist") == 1
    assert 30 * 60 <= release["spread_seconds"] <= 40 * 60  # about 38 minutes
    assert release["late_files"] == [] and not any(f["late"] for f in files)
    times = [f["upload_time"] for f in files]
    assert times == sorted(times)
    sel = release["selection"]
    assert sel["cp312-manylinux_x86_64"] == \
        "black-24.4.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert sel["cp312-macos_arm64"] == "black-24.4.0-cp312-cp312-macosx_11_0_arm64.whl"
    assert sel["cp310-win_amd64"] == "black-24.4.0-cp310-cp310-win_amd64.whl"
    assert sel["cp313-manylinux_x86_64"] == "black-24.4.0-py3-none-any.whl"
    assert sel["cp312-musllinux_x86_64"] == "black-24.4.0-py3-none-any.whl"
    code, text, err = run_tool(["timeline", "--width", "200", "black==24.4.0"],
                               clean_pip_env, tmp_path)
    assert code == 0, err
    assert "22 files (1 sdist, 21 wheels)" in text and "no late file" in text
    assert "LATE" not in text and "38m" in text
