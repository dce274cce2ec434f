"""Issue 20: ``-v`` says why each file lost (pip's wording), and nothing is logged without it."""

from __future__ import annotations

from datetime import timedelta

from clihelp import run_cli
from support.artifacts import build_sdist, build_wheel
from support.scenarios import foreign_tag, native_tag

#: a yanked reason as a hostile index writes it: a colour escape and a forged second line
HOSTILE_REASON = "broken\x1b[31m\nLate file: nothing here"


def _publish(local_index, tmp_path, t0):
    """demo 2.0 needs Python >= 99; 1.5 is yanked; 1.0 has an on-time sdist and pure wheel, a
    wheel for another platform, and a wheel for this one added 90 days late (pip's pick)."""
    out = tmp_path / "dists"
    local_index.add(build_sdist(out, "demo", "1.0"), upload_time=t0)
    local_index.add(build_wheel(out, "demo", "1.0"), upload_time=t0)
    foreign = local_index.add(build_wheel(out, "demo", "1.0", tag=foreign_tag()), upload_time=t0)
    late = local_index.add(build_wheel(out, "demo", "1.0", tag=native_tag()),
                           upload_time=t0 + timedelta(days=90))
    yanked = local_index.add(build_wheel(out, "demo", "1.5"), upload_time=t0,
                             yanked=HOSTILE_REASON)
    newer = local_index.add(build_wheel(out, "demo", "2.0"), upload_time=t0,
                            requires_python=">=99")
    return foreign, late, yanked, newer


def test_verbose_names_each_losing_file_with_its_reason(local_index, make_venv, clean_pip_env,
                                                        tmp_path, t0):
    foreign, late, yanked, newer = _publish(local_index, tmp_path, t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "-v", "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 1  # the late wheel is pip's pick: refused
    lines = run.stderr.splitlines()

    def line_of(filename: str, words: str) -> str:
        found = [ln for ln in lines if filename in ln and words in ln]
        assert found, f"no line with {filename!r} and {words!r} in:\n{run.stderr}"
        return found[0]

    tag_line = line_of(foreign.filename, "Skipping link: none of the wheel's tags")
    assert f"({foreign_tag()}) are compatible (run pip debug --verbose to show compatible " \
           "tags)" in tag_line
    assert line_of(newer.filename, "Link requires a different Python").startswith(
        "Link requires a different Python (")
    assert "not in: '>=99')" in line_of(newer.filename, "Link requires a different Python")
    yanked_line = line_of(yanked.filename, "Skipping link: yanked for reason: broken")
    # the index's text is escaped: no colour escape reaches the terminal, no forged line
    assert "\x1b" not in run.stderr
    assert "broken\\x1b[31m\\x0aLate file: nothing here" in yanked_line
    assert not any(ln.startswith("Late file: nothing here") for ln in lines)
    late_line = line_of(late.filename, "Late file:")
    assert "after its release began, more than the" in late_line
    assert "(the policy refuses it)" in late_line
    assert f"Pinning demo 1.0 ({late.filename})" in run.stderr
    # the on-time files of the release lose by pip's preference order (tag rank)
    pure = line_of("demo-1.0-py3-none-any.whl", f"Skipping link: demo 1.0 prefers {late.filename}")
    assert "its best tag py3-none-any is #" in pure
    sdist = line_of("demo-1.0.tar.gz", f"Skipping link: demo 1.0 prefers {late.filename}")
    assert "an sdist ranks below every compatible wheel" in sdist


def test_no_log_output_without_verbose(local_index, make_venv, clean_pip_env, tmp_path, t0):
    foreign, late, yanked, newer = _publish(local_index, tmp_path, t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"],
                  clean_pip_env, tmp_path)
    assert run.code == 1
    for words in ("Skipping link", "Link requires a different Python", "Late file:",
                  "Pinning", foreign.filename, yanked.filename, newer.filename):
        assert words not in run.stderr
    # and a verbose run before it in the same process leaves nothing behind
    run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "-v", "demo"],
            clean_pip_env, tmp_path)
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "demo"],
                  clean_pip_env, tmp_path)
    assert "Skipping link" not in run.stderr and "Late file:" not in run.stderr


def test_verbose_explains_a_pinned_requirement_too(local_index, make_venv, clean_pip_env,
                                                   tmp_path, t0):
    """A pinned specifier takes the eager path of the selection (where yanked files can
    count): the files it passes over are named the same way."""
    foreign, late, _yanked, _newer = _publish(local_index, tmp_path, t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "--dry-run", "-v",
                   "demo==1.0"], clean_pip_env, tmp_path)
    assert run.code == 1
    assert f"Skipping link: demo 1.0 prefers {late.filename} (an sdist ranks below every " \
           "compatible wheel)" in run.stderr
    assert f"Skipping link: none of the wheel's tags ({foreign_tag()})" in run.stderr
    assert f"Late file: {late.filename}" in run.stderr


def test_the_tool_takes_verbose_before_its_command(local_index, clean_pip_env, tmp_path, t0,
                                                   capsys):
    """``safe-install-tool -v COMMAND``: the same log lines as ``safe-install -v`` (here from
    ``lock``, which resolves as the install does); without it, none; and ``-v`` after the
    command is still the command's own option."""
    from lockhelp import run_tool

    foreign, late, yanked, newer = _publish(local_index, tmp_path, t0)
    args = ["lock", "-i", local_index.url, "demo", "--output-pylock", "",
            "--output-build-constraints", ""]
    run = run_tool(["-v", *args], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr  # the lock leaves the late wheel out
    assert f"Skipping link: none of the wheel's tags ({foreign_tag()})" in run.stderr
    assert "Link requires a different Python" in run.stderr and newer.filename in run.stderr
    assert "Skipping link: yanked for reason: broken" in run.stderr
    assert yanked.filename in run.stderr and "\x1b" not in run.stderr
    assert f"Late file: {late.filename}" in run.stderr
    quiet = run_tool(args, clean_pip_env, tmp_path)
    assert quiet.code == 0
    assert "Skipping link" not in quiet.stderr and "Late file:" not in quiet.stderr
    after = run_tool([*args, "-v"], clean_pip_env, tmp_path)  # (argparse writes to sys.stderr)
    assert after.code == 2 and "unrecognized arguments: -v" in capsys.readouterr().err
