"""Issue 21: a checked install byte-compiles exactly as pip does, but in parallel.

safe-install runs pip with ``--no-compile`` and then compiles the installed files on every
core with the target interpreter. The result must be that of a plain ``pip install`` of the
same wheels: the same ``.pyc`` files, the same RECORD (which lists them), the same
``pip uninstall`` and ``pip check``; the user's ``--no-compile`` compiles nothing; a file
that does not compile does not fail the install; nothing outside what pip just installed is
compiled.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from clihelp import run_cli
from safeinstall.bytecode import Compiler, compile_installed, compiles_afterwards
from safeinstall.pipoptions import PipSettings
from support.artifacts import build_wheel
from support.index import LocalIndex
from support.piprun import run_pip

TAG = sys.implementation.cache_tag  # the venvs are made from this interpreter

#: 12 modules, so that the compile runs in a process pool (more than 8 files)
_MODULES = {f"alpha/sub/m{i}.py": f"VALUE = {i}\n".encode() for i in range(12)}
_EXTRA = {
    **_MODULES,
    "alpha/sub/__init__.py": b"",
    "alpha/py2only.py": b'print "a Python 2 file, as some wheels still ship"\n',
    "alpha/escapes.py": b'PATTERN = "\\d+"  # a SyntaxWarning on 3.12+, ignored as by pip\n',
    "alpha/data.txt": b"not python\n",
    "alpha-1.0.data/purelib/alpha_extra.py": b"EXTRA = 1\n",
    "alpha-1.0.data/scripts/alpha_tool.py": b"#!python\nprint('tool')\n",
}


def _publish(index: LocalIndex, out: Path, t0: datetime, version: str = "1.0") -> list[Path]:
    extra = {k.replace("alpha-1.0.data", f"alpha-{version}.data"): v for k, v in _EXTRA.items()}
    wheels = [build_wheel(out, "alpha", version, requires_dist=["beta"], extra_files=extra)]
    if version == "1.0":
        wheels.append(build_wheel(out, "beta", "1.0"))
    for wheel in wheels:
        index.add(wheel, upload_time=t0)
    return wheels


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _pycs(root: Path) -> set[str]:
    return {p for p in _tree(root) if p.endswith(".pyc")}


def _site(venv_python: Path) -> Path:
    (site,) = (venv_python.parent.parent / "lib").glob("python*/site-packages")
    return site


def _record(lib: Path, info: str) -> list[str]:
    """RECORD's lines as written (CRLF kept), less direct_url.json (it names the wheel's
    path, which differs between the two installs), and only the path of a script (pip
    writes the interpreter's path into it)."""
    text = (lib / info / "RECORD").read_bytes().decode("utf-8")
    return [line.split(",")[0] if line.startswith("../") and not line.endswith(",,\r\n")
            else line for line in text.splitlines(keepends=True)
            if not line.startswith(f"{info}/direct_url.json,")]


def _safe_install(args: list[str], index: LocalIndex, env: dict[str, str], tmp_path: Path,
                  target: list[str]) -> None:
    run = run_cli([*target, "-i", index.url, *args, "alpha"], env, tmp_path)
    assert run.code == 0, run.stderr


def _pip_install(args: list[str], wheels: list[Path], env: dict[str, str],
                 python: Path | None = None) -> None:
    run_pip(["install", "--no-index", "--no-deps", *args, *map(str, wheels)], env,
            python=python)


def test_installed_bytecode_record_uninstall_and_check_are_pips(local_index, make_venv,
                                                                 clean_pip_env, tmp_path, t0,
                                                                 capfd):
    wheels = _publish(local_index, tmp_path / "dists", t0)
    ours, theirs = make_venv("ours"), make_venv("pips")
    roots = {v: v.parent.parent for v in (ours, theirs)}
    before = {v: _tree(r) for v, r in roots.items()}

    _safe_install([], local_index, clean_pip_env, tmp_path, ["--python", str(ours)])
    assert "not byte-compiled" not in capfd.readouterr().err  # every dist-info was found
    _pip_install([], wheels, clean_pip_env, python=theirs)

    # the file that does not compile did not fail the install, and has no .pyc (as with pip)
    pycs = _pycs(roots[ours])
    assert pycs == _pycs(roots[theirs])
    site = str(_site(ours).relative_to(roots[ours]))
    assert {f"{site}/alpha/sub/__pycache__/m{i}.{TAG}.pyc" for i in range(12)} <= pycs
    assert f"{site}/alpha/__pycache__/escapes.{TAG}.pyc" in pycs
    assert f"{site}/__pycache__/alpha_extra.{TAG}.pyc" in pycs
    assert f"bin/__pycache__/alpha_tool.{TAG}.pyc" in pycs  # a .py script: pip compiles it
    assert not [p for p in pycs if "py2only" in p]
    # RECORD lists the .pyc files as pip lists them, byte for byte
    for info in ("alpha-1.0.dist-info", "beta-1.0.dist-info"):
        mine = _record(_site(ours), info)
        assert mine == _record(_site(theirs), info)
    assert f"alpha/sub/__pycache__/m0.{TAG}.pyc,,\r\n" in _record(_site(ours),
                                                                 "alpha-1.0.dist-info")
    checks = [run_pip(["check"], clean_pip_env, python=v, check=False) for v in roots]
    ok = (0, "No broken requirements found.\n")
    assert [(c.returncode, c.stdout) for c in checks] == [ok, ok]

    for venv, root in roots.items():
        run_pip(["uninstall", "-y", "alpha", "beta"], clean_pip_env, python=venv)
        assert _tree(root) == before[venv]  # not one file (or directory) of them left


def test_no_compile_installs_no_bytecode(local_index, make_venv, clean_pip_env, tmp_path, t0):
    wheels = _publish(local_index, tmp_path / "dists", t0)
    ours, theirs = make_venv("ours"), make_venv("pips")
    _safe_install(["--no-compile"], local_index, clean_pip_env, tmp_path,
                  ["--python", str(ours)])
    _pip_install(["--no-compile"], wheels, clean_pip_env, python=theirs)
    assert _pycs(ours.parent.parent) == set() == _pycs(theirs.parent.parent)
    assert _record(_site(ours), "alpha-1.0.dist-info") == \
        _record(_site(theirs), "alpha-1.0.dist-info")


def test_target_directory_is_compiled_as_pip_does(local_index, clean_pip_env, tmp_path, t0):
    wheels = _publish(local_index, tmp_path / "dists", t0)
    ours, theirs = tmp_path / "ours", tmp_path / "pips"
    _safe_install([], local_index, clean_pip_env, tmp_path, ["--target", str(ours)])
    _pip_install(["--target", str(theirs)], wheels, clean_pip_env)
    assert _pycs(ours) == _pycs(theirs)
    assert f"alpha/sub/__pycache__/m3.{TAG}.pyc" in _pycs(ours)
    assert _record(ours, "alpha-1.0.dist-info") == _record(theirs, "alpha-1.0.dist-info")


def test_files_pip_left_in_a_target_directory_are_not_compiled(local_index, clean_pip_env,
                                                                tmp_path, t0):
    """``--target`` without ``--upgrade``: pip leaves a package directory that exists as it is
    but adds the new version's .dist-info, whose RECORD lists the old files. They were not
    installed now: no .pyc for them, as with pip."""
    wheels = _publish(local_index, tmp_path / "dists", t0)
    ours, theirs = tmp_path / "ours", tmp_path / "pips"
    for target in (ours, theirs):
        _pip_install(["--no-compile", "--target", str(target)], wheels, clean_pip_env)
        hour_ago = time.time() - 3600  # an earlier install
        for path in target.rglob("*"):
            os.utime(path, (hour_ago, hour_ago))
    newer = _publish(local_index, tmp_path / "dists2", t0, version="2.0")
    run = run_cli(["--target", str(ours), "-i", local_index.url, "alpha==2.0"],
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    _pip_install(["--target", str(theirs)], [*newer, wheels[1]], clean_pip_env)
    assert (ours / "alpha-2.0.dist-info").is_dir()
    assert _pycs(ours) == set()
    # pip compiled in its temporary directory and moved what did not exist yet: no .pyc in
    # the package directories it left either; only the new top-level __pycache__/ (with the
    # bytecode of the 2.0 alpha_extra.py, whose 1.0 source it left), which we do not copy
    assert {p for p in _pycs(theirs) if not p.startswith("__pycache__/")} == set()


def test_a_stale_copy_elsewhere_on_the_path_is_not_compiled(local_index, make_venv,
                                                            clean_pip_env, tmp_path, t0):
    """The same ``alpha-1.0.dist-info`` in a PYTHONPATH directory (an older install, not
    replaced: ``-I``) is not what pip installed now: only the venv's copy is compiled."""
    wheels = _publish(local_index, tmp_path / "dists", t0)
    other = tmp_path / "other"
    _pip_install(["--no-compile", "--target", str(other)], wheels, clean_pip_env)
    hour_ago = time.time() - 3600
    for path in other.rglob("*"):
        os.utime(path, (hour_ago, hour_ago))
    venv = make_venv()
    env = dict(clean_pip_env, PYTHONPATH=str(other))
    _safe_install(["-I"], local_index, env, tmp_path, ["--python", str(venv)])
    assert _pycs(other) == set()
    assert f"alpha/sub/__pycache__/m0.{TAG}.pyc" in {
        str(Path(p).relative_to(_site(venv).relative_to(venv.parent.parent)))
        for p in _pycs(venv.parent.parent) if "site-packages" in p}


def test_prefix_installs_are_compiled_by_pip(local_index, make_venv, clean_pip_env, tmp_path,
                                             t0):
    """Under --prefix (and --root) pip's install scheme decides the directories: pip
    compiles, as it always did."""
    wheels = _publish(local_index, tmp_path / "dists", t0)
    venv = make_venv()
    ours, theirs = tmp_path / "ours", tmp_path / "pips"
    _safe_install(["--prefix", str(ours)], local_index, clean_pip_env, tmp_path,
                  ["--python", str(venv)])
    _pip_install(["--prefix", str(theirs)], wheels, clean_pip_env, python=venv)
    assert _pycs(ours) == _pycs(theirs) != set()


@pytest.mark.parametrize(("passthrough", "settings", "expected"), [
    ((), PipSettings(), True),
    (("--no-compile",), PipSettings(), False),
    (("--no-compile", "--compile"), PipSettings(), True),
    (("--compile", "--no-compile"), PipSettings(), False),
    (("--log", "--no-compile"), PipSettings(), True),  # a log file of that name
    ((), PipSettings(target_dir="t"), True),
    ((), PipSettings(user=True), True),
    ((), PipSettings(prefix="p"), False),
    ((), PipSettings(root="r"), False),
])
def test_when_safe_install_compiles_after_pip(passthrough, settings, expected):
    assert compiles_afterwards(settings, passthrough) is expected


def test_a_distribution_that_cannot_be_found_is_left_uncompiled_with_a_warning(
        make_venv, clean_pip_env, tmp_path, capfd):
    wheel = build_wheel(tmp_path, "gamma", "1.0")  # never installed
    venv = make_venv()
    warnings = compile_installed(str(venv), [wheel], PipSettings(), clean_pip_env,
                                 time.time() - 2)
    assert len(warnings) == 1
    assert warnings[0].startswith("not byte-compiled: gamma-1.0.dist-info")
    assert capfd.readouterr().err == ""  # the library returns its warnings, never prints
    assert _pycs(venv.parent.parent) == set()


@pytest.mark.parametrize("layout", ["venv", "target"])
def test_record_rows_outside_the_install_are_never_compiled(make_venv, clean_pip_env, tmp_path,
                                                            layout):
    """pip keeps a wheel's RECORD rows that name no installed file as they are: a hostile
    wheel can list an absolute path or one that climbs out (``pkg/../../x.py``). Only files
    inside the install directory are compiled and recorded, in every layout."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("abs.py", "climb.py"):
        (outside / name).write_text("X = 1\n")
    wheel = build_wheel(tmp_path / "dists", "gamma", "1.0")
    since = time.time() - 2
    if layout == "venv":
        venv = make_venv()
        _pip_install(["--no-compile"], [wheel], clean_pip_env, python=venv)
        lib = _site(venv)
        settings = PipSettings()
    else:
        lib = tmp_path / "tgt"
        _pip_install(["--no-compile", "--target", str(lib)], [wheel], clean_pip_env)
        venv = Path(sys.executable)
        settings = PipSettings(target_dir=str(lib))
    record = lib / "gamma-1.0.dist-info" / "RECORD"
    climb = os.path.relpath(outside / "climb.py", lib)  # ../../outside/climb.py
    with record.open("a", encoding="utf-8") as f:
        f.write(f"{outside / 'abs.py'},,\n")
        f.write(f"gamma/{'../' * (climb.count('../') + 1)}{climb.replace('../', '')},,\n")
    os.utime(outside / "abs.py")
    os.utime(outside / "climb.py")
    compile_installed(str(venv), [wheel], settings, clean_pip_env, since)
    assert _pycs(outside) == set()
    assert "outside/__pycache__" not in record.read_text()  # (the hostile rows stay, as pip's)


def test_a_distribution_pip_did_not_rewrite_is_reported(make_venv, clean_pip_env, tmp_path):
    """A RECORD that is not newer than the install (pip left it, or a lagging file-system
    clock) is not compiled, and the user, who asked for bytecode, is told."""
    wheel = build_wheel(tmp_path / "dists", "eps", "1.0")
    venv = make_venv()
    _pip_install(["--no-compile"], [wheel], clean_pip_env, python=venv)
    warnings = compile_installed(str(venv), [wheel], PipSettings(), clean_pip_env,
                                 time.time() + 3600)
    assert any("eps-1.0.dist-info" in w and "not byte-compiled" in w for w in warnings)


# -- compiled while pip installs ----------------------------------------------------------------

def _compile_as_py_compile(source: Path, out: Path, env: dict[str, str], python: Path) -> bytes:
    """What ``py_compile`` (pip's compile) writes for ``source``, with the target interpreter."""
    code = "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=1)"
    subprocess.run([str(python), "-c", code, str(source), str(out)], env=env, check=True)
    return out.read_bytes()


@pytest.mark.parametrize("epoch", [None, "315532800"])
def test_bytecode_compiled_during_the_install_is_py_compiles(make_venv, clean_pip_env,
                                                             tmp_path, epoch):
    """The code is compiled from the wheel while pip installs; the .pyc written afterwards is
    byte for byte what py_compile writes for the installed file (timestamp-based, or
    hash-based under SOURCE_DATE_EPOCH, as pip's compile)."""
    env = dict(clean_pip_env, **({"SOURCE_DATE_EPOCH": epoch} if epoch else {}))
    wheel = build_wheel(tmp_path / "dists", "alpha", "1.0", extra_files=_EXTRA)
    venv = make_venv()
    since = time.time() - 2
    with Compiler(str(venv), [wheel], PipSettings(), env, workdir=tmp_path) as compiler:
        _pip_install(["--no-compile"], [wheel], env, python=venv)
        assert compiler.finish(since) == []
    assert compiler.summary["precompiled"] >= 12  # alpha/sub/m*.py at least
    site = _site(venv)
    compared = 0
    for pyc in site.rglob(f"*.{TAG}.pyc"):
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        expected = _compile_as_py_compile(source, tmp_path / "expected.pyc", env, venv)
        assert pyc.read_bytes() == expected, pyc
        compared += 1
    assert compared == compiler.summary["compiled"] - 1  # (and the script, under bin/)
    flags = int.from_bytes((site / f"alpha/sub/__pycache__/m0.{TAG}.pyc").read_bytes()[4:8],
                           "little")
    assert flags == (0b11 if epoch else 0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("safe-install")] == []


def test_bytecode_is_always_of_the_installed_bytes(make_venv, clean_pip_env, tmp_path):
    """The wheel compiled while pip installs is not what pip installed (same name and
    version, other code): every .pyc is of the installed file, never of the code compiled
    beforehand."""
    compiled = build_wheel(tmp_path / "a", "alpha", "1.0", extra_files=_MODULES)
    other = {k: v.replace(b"VALUE", b"OTHER") for k, v in _MODULES.items()}
    installed = build_wheel(tmp_path / "b", "alpha", "1.0", extra_files=other)
    venv = make_venv()
    since = time.time() - 2
    with Compiler(str(venv), [compiled], PipSettings(), clean_pip_env) as compiler:
        _pip_install(["--no-compile"], [installed], clean_pip_env, python=venv)
        compiler.finish(since)
    # the 12 changed modules were compiled from the installed files (an unchanged
    # __init__.py may be taken from the code compiled beforehand)
    assert compiler.summary["compiled"] - compiler.summary["precompiled"] >= 12
    for i in range(12):
        pyc = _site(venv) / f"alpha/sub/__pycache__/m{i}.{TAG}.pyc"
        code = marshal.loads(pyc.read_bytes()[16:])
        assert "OTHER" in code.co_names and "VALUE" not in code.co_names


def test_an_install_that_did_not_happen_writes_no_bytecode(make_venv, clean_pip_env, tmp_path):
    """pip failed, or the run was stopped: the compile started beforehand is closed unfinished,
    and writes nothing in the target, nor leaves anything behind."""
    wheel = build_wheel(tmp_path / "dists", "alpha", "1.0", extra_files=_MODULES)
    venv = make_venv()
    _pip_install(["--no-compile"], [wheel], clean_pip_env, python=venv)
    with Compiler(str(venv), [wheel], PipSettings(), clean_pip_env, workdir=tmp_path):
        time.sleep(0.5)  # compiling the wheel meanwhile
    assert _pycs(venv.parent.parent) == set()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("safe-install")] == []
