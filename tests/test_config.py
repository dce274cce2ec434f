"""Issue 18: where safe-install's own settings are found, their precedence, and type checks.

Config files: ``--config``/``SAFE_INSTALL_CONFIG`` (the null device disables), else the nearest
``safe-install.toml`` or ``[tool.safe-install]`` in ``pyproject.toml`` from the working
directory up to the repository root, then the user's file; every value is type-checked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from clihelp import run_cli

DEAD_INDEX = "http://127.0.0.1:9/simple/"  # never asked: these runs stop at the settings


def _late_after(run) -> float:  # type: ignore[no-untyped-def]
    return float(run.report["policy"]["late_after_seconds"])


def _dry(local_index, env, tmp_path, cwd, *extra):  # type: ignore[no-untyped-def]
    return run_cli(["-i", local_index.url, "--dry-run", *extra, "demo==1.0"], env, tmp_path,
                   cwd=cwd)


def _repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository (with .git) and a directory two levels down in it."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    deep = repo / "pkg" / "sub"
    deep.mkdir(parents=True)
    return repo, deep


def test_config_in_a_parent_directory_up_to_the_repository_root(scenario, local_index,
                                                                clean_pip_env, tmp_path):
    scenario("attack")  # demo 1.0 has a wheel 90 days late
    repo, deep = _repo(tmp_path)
    (repo / "safe-install.toml").write_text('late-after = "100d"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, deep)
    assert run.code == 0, run.stderr
    assert _late_after(run) == 100 * 86400
    # above the repository root nothing is read (a shared parent such as /tmp is not ours)
    (repo / "safe-install.toml").unlink()
    (tmp_path / "safe-install.toml").write_text('late-after = "100d"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, deep)
    assert run.code == 1 and _late_after(run) == 86400


def test_without_a_repository_only_the_working_directory_is_read(scenario, local_index,
                                                                 clean_pip_env, tmp_path):
    scenario("attack")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    (tmp_path / "a" / "safe-install.toml").write_text('on-late = "warn"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, work)
    assert run.code == 1, run.stderr  # the parent's relaxation does not apply


def test_tool_table_in_pyproject(scenario, local_index, clean_pip_env, tmp_path):
    scenario("attack")
    repo, deep = _repo(tmp_path)
    (repo / "safe-install.toml").write_text('late-after = "200d"\n')
    # a pyproject.toml without our table is skipped; the repository's file applies
    (deep / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, deep)
    assert run.code == 0 and _late_after(run) == 200 * 86400
    # the nearest file wins
    (deep / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\n\n[tool.safe-install]\nlate-after = "100d"\n'
        '[[tool.safe-install.allow-late]]\nrelease = "other==1.0"\nreason = "reviewed"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, deep)
    assert run.code == 0 and _late_after(run) == 100 * 86400
    assert [e["exception"] for e in run.report["policy"]["allow_late"]] == ["other==1.0"]
    # in one directory safe-install.toml comes before pyproject.toml
    (deep / "safe-install.toml").write_text('late-after = "2d"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, deep)
    assert run.code == 1 and _late_after(run) == 2 * 86400


def test_user_file_and_precedence(scenario, local_index, clean_pip_env, tmp_path):
    scenario("attack")
    user = Path(clean_pip_env["XDG_CONFIG_HOME"]) / "safe-install" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('late-after = "300d"\non-untrusted-hash = "warn"\n'
                    '[[allow-late]]\nsha256 = "' + "a" * 64 + '"\nreason = "user: reviewed"\n')
    work = tmp_path / "work"
    work.mkdir()
    run = _dry(local_index, clean_pip_env, tmp_path, work)
    assert run.code == 0, run.stderr
    assert _late_after(run) == 300 * 86400
    # a project file is above the user file for each scalar; exceptions are combined
    (work / "safe-install.toml").write_text(
        'late-after = "100d"\n[[allow-late]]\nrelease = "other==1.0"\nreason = "reviewed"\n')
    run = _dry(local_index, clean_pip_env, tmp_path, work)
    assert _late_after(run) == 100 * 86400
    assert {e["exception"] for e in run.report["policy"]["allow_late"]} == {
        "other==1.0", "sha256:" + "a" * 64}
    # the environment is above the files, the command line above everything
    env = dict(clean_pip_env, SAFE_INSTALL_LATE_AFTER="50d")
    assert _late_after(_dry(local_index, env, tmp_path, work)) == 50 * 86400
    run = _dry(local_index, env, tmp_path, work, "--late-after", "36h")
    assert run.code == 1 and _late_after(run) == 36 * 3600
    # --config / SAFE_INSTALL_CONFIG name the one file read (no discovery, no user file)
    named = tmp_path / "named.toml"
    named.write_text('late-after = "2d"\n')
    run = _dry(local_index, dict(clean_pip_env, SAFE_INSTALL_CONFIG=str(named)), tmp_path,
               work)
    assert _late_after(run) == 2 * 86400 and run.report["policy"]["allow_late"] == []
    # the null device: no config file at all, not "does not exist"
    run = _dry(local_index, dict(clean_pip_env, SAFE_INSTALL_CONFIG=os.devnull), tmp_path,
               work)
    assert run.code == 1 and _late_after(run) == 86400, run.stderr
    run = _dry(local_index, clean_pip_env, tmp_path, work, "--config", os.devnull)
    assert run.code == 1 and _late_after(run) == 86400, run.stderr
    missing = run_cli(["-i", DEAD_INDEX, "--config", "nope.toml", "demo"], clean_pip_env,
                      tmp_path, cwd=work)
    assert missing.code == 2 and "'nope.toml' (--config) does not exist" in missing.stderr


@pytest.mark.parametrize(("text", "named"), [
    ("cache-dir = 7\n", "cache-dir"),
    ("report = true\n", "report"),
    ("late-after = 36\n", "late-after"),
    ('late-after = "7"\n', "late-after"),
    ('on-late = "maybe"\n', "on-late"),
    ('on-untrusted-hash = ["warn"]\n', "on-untrusted-hash"),
    ("times-from = 5\n", "times-from"),
    ('times-from = ["not a url"]\n', "times-from"),
    ('index-for = "x"\n', "index-for"),
    ("[index-for]\ncorp = 3\n", "corp"),
    ('allow-late = "demo==1.0"\n', "allow-late"),
    ('[[allow-late]]\nrelease = 1\nreason = "r"\n', "release"),
    ('[[allow-late]]\nrelease = "demo==1.0"\nreason = 5\n', "reason"),
    ('[[allow-late]]\nrelease = "demo==1.0"\nreason = "r"\nnote = "x"\n', "note"),
    ('colour = "red"\n', "colour"),
])
def test_a_bad_value_in_a_config_file_names_the_key(text, named, clean_pip_env, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "safe-install.toml").write_text(text)
    run = run_cli(["-i", DEAD_INDEX, "demo"], clean_pip_env, tmp_path, cwd=work)
    assert run.code == 2, run.stderr
    assert named in run.stderr and "safe-install.toml" in run.stderr, run.stderr
    # the same in [tool.safe-install]
    (work / "safe-install.toml").unlink()
    lines = text.replace("[index-for]", "[tool.safe-install.index-for]").replace(
        "[[allow-late]]", "[[tool.safe-install.allow-late]]")
    if not lines.startswith("[tool"):
        lines = "[tool.safe-install]\n" + lines
    (work / "pyproject.toml").write_text(lines)
    run = run_cli(["-i", DEAD_INDEX, "demo"], clean_pip_env, tmp_path, cwd=work)
    assert run.code == 2, run.stderr
    assert named in run.stderr and "pyproject.toml" in run.stderr, run.stderr


@pytest.mark.parametrize(("variable", "value"), [
    ("SAFE_INSTALL_TIMES_FROM", "not a url"),
    ("SAFE_INSTALL_LATE_AFTER", "7"),
    ("SAFE_INSTALL_ON_LATE", "maybe"),
    ("SAFE_INSTALL_ON_MULTIPLE_INDEXES", "sometimes"),
    ("SAFE_INSTALL_ALLOW_LATE", "demo"),
    ("SAFE_INSTALL_INDEX_FOR", "corp"),
])
def test_a_bad_environment_value_names_the_variable(variable, value, clean_pip_env,
                                                    tmp_path):
    run = run_cli(["-i", DEAD_INDEX, "demo"], dict(clean_pip_env, **{variable: value}),
                  tmp_path)
    assert run.code == 2, run.stderr
    assert variable in run.stderr, run.stderr


def test_the_printed_toml_block_pasted_into_the_config_is_accepted(scenario, local_index,
                                                                   clean_pip_env, tmp_path):
    scenario("attack")
    work = tmp_path / "work"
    work.mkdir()
    refused = _dry(local_index, clean_pip_env, tmp_path, work)
    assert refused.code == 1
    lines = refused.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if "add to safe-install.toml:" in line)
    block = []
    for line in lines[start + 1:]:
        if not re.match(r"\s+\S", line):
            break
        block.append(line)
    assert "[[allow-late]]" in block[0], block
    (work / "safe-install.toml").write_text("\n".join(block) + "\n")  # pasted as printed
    accepted = _dry(local_index, clean_pip_env, tmp_path, work)
    assert accepted.code == 0, accepted.stderr
    assert [e["exception"] for e in accepted.report["policy"]["allow_late"]] == ["demo==1.0"]
