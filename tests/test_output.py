"""Issue 18: output that fits. Snapshots of the default, ``-q`` and ``-v`` output of a refused
and an accepted run at 80 and 120 columns (``COLUMNS``, as without a terminal) and piped (no
``COLUMNS``: one record per line); no line is wider than the width.

The snapshots live in ``tests/data/output/``; machine-specific text (the target, the
interpreter, the local index's port, file hashes) is replaced by placeholders before comparing.
Run with ``SAFE_INSTALL_UPDATE_SNAPSHOTS=1`` to rewrite them after an intended change, and
review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from clihelp import run_cli
from support.scenarios import SCENARIO_DIR

SNAPSHOTS = Path(__file__).parent / "data" / "output"
NAME = "extraordinarily-long-project-name-for-tables"


def normalize(text: str) -> str:
    text = re.sub(r"(?m)^target: .*$", "target: <target>", text)
    text = re.sub(r"(?m)^interpreter: .*$", "interpreter: <python>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    return re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", text)


@pytest.mark.parametrize("width", ["80", "120", "piped"])
@pytest.mark.parametrize("verbosity", ["default", "-q", "-v"])
@pytest.mark.parametrize("outcome", ["refused", "accepted"])
def test_output_snapshot(outcome, verbosity, width, scenario, local_index, clean_pip_env,
                         tmp_path):
    scenario(SCENARIO_DIR / f"output_{outcome}.toml")
    env = dict(clean_pip_env)
    env.pop("COLUMNS", None)
    if width != "piped":
        env["COLUMNS"] = width
    flags = [] if verbosity == "default" else [verbosity]
    run = run_cli(["-i", local_index.url, "--dry-run", *flags, f"{NAME}==2.0.1"], env,
                  tmp_path, report=False)
    assert run.code == (1 if outcome == "refused" else 0), run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    if width != "piped":
        too_wide = [line for line in lines if len(line) > int(width)]
        assert not too_wide, "\n".join(too_wide)
    got = normalize(run.stderr)
    path = SNAPSHOTS / f"{outcome}{verbosity if verbosity != 'default' else ''}-{width}.txt"
    if os.environ.get("SAFE_INSTALL_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"differs from {path}:\n{got}"


# -- the layout helpers ------------------------------------------------------------------------


def test_middle_ellipsis_keeps_both_ends():
    from safeinstall.layout import middle_ellipsis

    name = "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    short = middle_ellipsis(name, 30)
    assert len(short) == 30 and short.startswith("numpy-1.26.4") and short.endswith("64.whl")
    assert "…" in short
    assert middle_ellipsis("short.whl", 30) == "short.whl"


def test_columns_are_dropped_in_order_before_filenames_are_cut_short():
    from safeinstall.layout import GAP, Column, fit_table

    columns = [Column("package"), Column("file", shrink=True, min_width=30),
               Column("uploaded", drop_rank=2), Column("start", drop_rank=1),
               Column("verdict")]
    rows = [("numpy", "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl", "2024-04-24 19:31",
             "2024-04-24 19:31", "install")]
    wide = fit_table(columns, rows, 200)
    assert wide.keep == (0, 1, 2, 3, 4) and wide.widths[1] == len(rows[0][1])
    narrow = fit_table(columns, rows, 80)
    assert narrow.keep == (0, 1, 2, 4)  # "start" went first, then the file fits whole
    assert sum(narrow.widths) + GAP * (len(narrow.keep) - 1) <= 80
    tiny = fit_table(columns, rows, 50)
    assert tiny.keep == (0, 1, 4)
    assert sum(tiny.widths) + GAP * (len(tiny.keep) - 1) <= 50
    assert tiny.cell(1, rows[0][1]).startswith("numpy-") and "…" in tiny.cell(1, rows[0][1])


def test_output_width_honours_columns_without_a_terminal():
    import io

    from safeinstall.layout import output_width

    assert output_width(io.StringIO(), {}) is None
    assert output_width(io.StringIO(), {"COLUMNS": "100"}) == 100
    assert output_width(io.StringIO(), {"COLUMNS": "wide"}) is None


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_is_one_line_per_stage_without_a_terminal(quiet, scenario, local_index,
                                                            make_venv, clean_pip_env,
                                                            tmp_path):
    scenario(SCENARIO_DIR / "output_accepted.toml")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, *(["-q"] if quiet else []),
                   f"{NAME}==2.0.1"], clean_pip_env, tmp_path, report=False)
    assert run.code == 0, run.stderr
    stages = [line for line in run.stderr.splitlines()
              if line.startswith("safe-install: ") and line.endswith("...")]
    if quiet:
        assert stages == [] and "installed 3" not in run.stderr
        return
    assert [s.split()[1] for s in stages] == ["resolving", "downloading", "installing"]
    assert re.fullmatch(r"safe-install: downloading 3 file\(s\), [\d.]+ kB\.\.\.", stages[1])
    assert stages[2] == "safe-install: installing 3 checked artifact(s)..."
    assert "safe-install: installed 3 checked artifact(s)." in run.stderr


def test_reports_and_locks_are_written_whole_or_not_at_all(tmp_path):
    import stat

    from safeinstall.fileio import write_atomically

    target = tmp_path / "out" / "report.json"
    write_atomically(target, "first\n")
    assert target.read_text() == "first\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # as open(..., "w")
    target.chmod(0o600)
    write_atomically(target, "second\n")
    assert target.read_text() == "second\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(TypeError):  # interrupted half-way: the old file stays, whole
        write_atomically(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


@pytest.mark.parametrize("through_symlink", [False, True])
def test_a_special_destination_is_written_in_place_never_replaced(tmp_path, through_symlink):
    """``--report /dev/null`` (or a FIFO, /dev/stdout) must not be renamed over: as root that
    replaced the null device with a regular file. A FIFO stands in for the device here."""
    import stat
    import threading

    from safeinstall.fileio import write_atomically

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = fifo
    if through_symlink:
        target = tmp_path / "link"
        target.symlink_to(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomically(target, "report\n")
    reader.join(timeout=10)
    assert got == ["report\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the FIFO, not a file put in its place
    assert target.is_symlink() == through_symlink
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"pipe", target.name})
