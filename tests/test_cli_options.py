"""pip's options and configuration, honoured as pip honours them."""

from __future__ import annotations

import subprocess
import sys

from clihelp import run_cli
from support.artifacts import build_wheel
from support.piprun import pip_list


def test_pip_configuration_file_is_honoured(scenario, local_index, make_venv, clean_pip_env,
                                            tmp_path):
    scenario("ontime")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {local_index.url}\n")
    env = dict(clean_pip_env, PIP_CONFIG_FILE=str(conf))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "--dry-run", "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("demo")["index"] == local_index.url


def test_install_with_a_pip_configuration_file(scenario, local_index, make_venv,
                                               clean_pip_env, tmp_path):
    # pip reads the file in its own process, so the final pip install starts only once the
    # configuration is known (the other path of cli._run)
    scenario("ontime")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {local_index.url}\n")
    env = dict(clean_pip_env, PIP_CONFIG_FILE=str(conf))
    venv = make_venv()
    run = run_cli(["--python", str(venv), "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"demo": "1.0", "dep": "1.0"}


def test_pip_environment_variables_are_honoured(scenario, local_index, make_venv,
                                                clean_pip_env, tmp_path):
    scenario("ontime")
    env = dict(clean_pip_env, PIP_INDEX_URL=local_index.url, PIP_NO_DEPS="1")
    venv = make_venv()
    run = run_cli(["--python", str(venv), "--dry-run", "demo"], env, tmp_path)
    assert run.code == 0, run.stderr
    assert [p["name"] for p in run.report["packages"]] == ["demo"]


def test_isolated_ignores_pip_configuration(scenario, local_index, clean_pip_env, tmp_path):
    scenario("ontime")
    env = dict(clean_pip_env, PIP_NO_INDEX="1")
    run = run_cli(["--dry-run", "-I", "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 2  # PIP_NO_INDEX honoured: no index, demo cannot be found
    run = run_cli(["--isolated", "--dry-run", "-I", "-i", local_index.url, "demo"], env,
                  tmp_path)
    assert run.code == 0, run.stderr  # --isolated: pip's environment variables are ignored


def test_a_broken_pip_configuration_file_is_a_usage_error_naming_it(local_index,
                                                                   clean_pip_env, tmp_path):
    bad = tmp_path / "pip.conf"
    bad.write_text("[global\nindex-url = x\n")
    env = dict(clean_pip_env, PIP_CONFIG_FILE=str(bad))
    run = run_cli(["--dry-run", "-i", local_index.url, "demo"], env, tmp_path)
    assert run.code == 2
    assert "pip could not read its configuration" in run.stderr
    assert str(bad) in run.stderr and "Traceback" not in run.stderr
    # --isolated does not read it at all
    run = run_cli(["--isolated", "--dry-run", "-i", local_index.url, "demo"], env, tmp_path)
    assert "pip could not read its configuration" not in run.stderr


def test_a_package_named_like_a_subcommand_is_a_package(local_index, make_venv, clean_pip_env,
                                                        tmp_path, t0):
    for name in ("lock", "timeline", "watch", "guard", "audit"):
        local_index.add(build_wheel(tmp_path / "d", name, "1.0"), upload_time=t0)
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url, "lock", "timeline", "watch",
                   "guard", "audit"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {n: "1.0" for n in
                                              ("lock", "timeline", "watch", "guard", "audit")}


def test_upgrade_and_already_installed(local_index, make_venv, clean_pip_env, tmp_path, t0):
    out = tmp_path / "d"
    local_index.add(build_wheel(out, "app", "1.0", requires_dist=["lib"]), upload_time=t0)
    local_index.add(build_wheel(out, "lib", "1.0"), upload_time=t0)
    venv = make_venv()
    assert run_cli(["--python", str(venv), "-i", local_index.url, "app"], clean_pip_env,
                   tmp_path).code == 0
    local_index.add(build_wheel(out, "lib", "2.0"), upload_time=t0)
    local_index.add(build_wheel(out, "app", "2.0", requires_dist=["lib"]), upload_time=t0)
    run = run_cli(["--python", str(venv), "-i", local_index.url, "app"], clean_pip_env,
                  tmp_path)
    assert run.code == 0
    assert {p["name"]: p["decision"] for p in run.report["packages"]} == {
        "app": "already-satisfied", "lib": "already-satisfied"}
    # -U upgrades what was asked for, and only what is needed (pip's default strategy)
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-U", "app"], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"app": "2.0", "lib": "1.0"}
    run = run_cli(["--python", str(venv), "-i", local_index.url, "-U", "--upgrade-strategy",
                   "eager", "app"], clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert pip_list(venv, clean_pip_env) == {"app": "2.0", "lib": "2.0"}


def test_target_directory(scenario, local_index, clean_pip_env, tmp_path):
    scenario("ontime")
    target = tmp_path / "target"
    run = run_cli(["-i", local_index.url, "--target", str(target), "demo"], clean_pip_env,
                  tmp_path)
    assert run.code == 0, run.stderr
    assert (target / "demo" / "__init__.py").is_file()
    assert (target / "dep" / "__init__.py").is_file()


def test_python_m_safeinstall_and_version(clean_pip_env):
    out = subprocess.run([sys.executable, "-m", "safeinstall", "--version"], capture_output=True,
                         text=True, env=clean_pip_env, check=False)
    assert out.returncode == 0 and out.stdout.startswith("safe-install ")
    out = subprocess.run([sys.executable, "-m", "safeinstall", "--help"], capture_output=True,
                         text=True, env=clean_pip_env, check=False)
    assert out.returncode == 0 and "--late-after" in out.stdout


def test_help_is_made_from_the_option_table():
    """Every option of ours with a help text is in ``--help`` with that text, and every option
    of ours the parser takes (or the trust options taken before it) has a help text."""
    import io

    from safeinstall.cli import main
    from safeinstall.cmdline import OPTIONS

    out = io.StringIO()
    assert main(["--help"], environ={}, stdout=out, stderr=io.StringIO()) == 0
    text = " ".join(out.getvalue().split())
    ours = [s for s in OPTIONS if s.group == "ours"]
    assert {s.dest for s in ours if not s.help} == {"help"}
    for spec in ours:
        if spec.help:
            assert " ".join((", ".join(spec.names) + " " + spec.metavar).split()) in text
            assert " ".join(spec.help.split()) in text, spec.dest


def test_the_tools_index_options_are_declared_from_the_same_table():
    """safe-install-tool's commands declare pip's options from safe-install's table: the
    same kind (flag, repeatable value), metavar and help."""
    import argparse

    from safeinstall.cmdline import OPTIONS
    from safeinstall.commands._common import add_index_arguments

    parser = argparse.ArgumentParser()
    add_index_arguments(parser)
    by_name = {name: spec for spec in OPTIONS for name in spec.names}
    declared = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(declared) == 12
    for action in declared:
        spec = by_name[action.option_strings[-1]]
        assert set(action.option_strings) <= set(spec.names)
        assert isinstance(action, argparse._AppendAction) == (spec.kind == "value"
                                                               and spec.repeat)
        if spec.kind == "value":
            assert action.metavar == spec.metavar
        if action.dest != "response_deadline":  # the tool's own wording
            assert action.help == spec.help
    args = parser.parse_args(["--extra-index-url", "a", "--extra-index-url", "b", "--no-index"])
    assert args.extra_index_url == ["a", "b"] and args.no_index and args.find_links == []


def test_the_tools_declare_every_option_through_the_option_specs():
    """One way to declare options for both executables: safe-install-tool's commands declare
    each option from an OptionSpec (safe-install's table or the command's own) through
    safeinstall.cmdline; argparse's add_argument is called directly only for positionals."""
    import argparse
    import ast
    from pathlib import Path

    import pytest

    import safeinstall.commands
    from safeinstall.cmdline import declare_options, shared_option, tool_option

    for path in Path(safeinstall.commands.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument"):
                first = node.args[0]
                assert isinstance(first, ast.Constant) and not str(first.value).startswith("-"), (
                    f"{path.name}:{node.lineno} declares an option with plain argparse")
    parser = argparse.ArgumentParser()
    declare_options(parser, [
        shared_option("-r", "--requirement", dest="files", metavar="FILE", help="h"),
        shared_option("--pre"),
        tool_option("--width", kind="value", convert=int, default=3),
        tool_option("--format", kind="value", choices=("a", "b"), default="a"),
    ])
    args = parser.parse_args(["-r", "x", "--requirement", "y", "--pre", "--width", "7"])
    assert (args.files, args.pre, args.width, args.format) == (["x", "y"], True, 7, "a")
    assert parser.parse_args([]).files == [] and parser.parse_args([]).width == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--format", "c"])
