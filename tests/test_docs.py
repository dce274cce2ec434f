"""Issue 18: docs that run. Every shell example in README.md and docs/ is either run here,
against the local index, or marked as illustrative; every TOML example is valid, and those that
are safe-install configuration are accepted by the settings loader; ``--help`` names where the
documentation really is.

A fenced block in ``sh``, ``shell``, ``bash`` or ``console`` (or with no language) is preceded
by a marker line:

* ``<!-- docs-test: run -->`` (or ``run, exit 0 or 1``): each command (backslash continuations
  joined) is run with bash in one working directory, in document order, with the venv's
  ``safe-install`` first on PATH and ``PIP_INDEX_URL`` pointing at the local index, which has
  the docs' example projects: ``demo`` 1.0 (a wheel for this machine added 90 days late),
  ``demo`` 2.0 (files arriving over nine months), and on-time ``black`` 24.4.0 and
  ``numpy`` 1.26.4 stand-ins. The working directory holds ``requirements.txt``
  (``demo==1.0``) and the report of a dry run of it (``safe-install-report.json``).
* ``<!-- docs-test: illustrative (why) -->``: not run (it needs PyPI, another machine, or it
  would install into the test's own environment).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from support.artifacts import build_sdist, build_wheel

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"", "sh", "shell", "bash", "console"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
                   re.M | re.S)
MARKER = re.compile(r"<!-- docs-test: (?P<what>run|illustrative)(?P<rest>[^>]*)-->")


def blocks() -> list[tuple[str, int, str, str, str]]:
    """(file, line, language, marker line, body) for every fenced block of the docs."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            found.append((path.name, line, m.group("lang"), before, m.group("body")))
    return found


def commands(body: str) -> list[str]:
    out: list[str] = []
    pending = ""
    for raw in body.splitlines():
        line = raw.strip()
        if pending:
            line = pending + " " + line
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line and not line.startswith("#"):
            out.append(line)
    return out


def test_every_shell_example_is_run_or_marked_illustrative():
    unmarked = [f"{name}:{line}" for name, line, lang, marker, _ in blocks()
                if lang in SHELL and not MARKER.fullmatch(marker)]
    assert not unmarked, ("shell examples without a <!-- docs-test: run --> or "
                          f"<!-- docs-test: illustrative (why) --> marker: {unmarked}")
    illustrative = [(name, line, marker) for name, line, lang, marker, _ in blocks()
                    if lang in SHELL and "illustrative" in marker]
    assert all(re.search(r"illustrative \(.+\)", m) for _, _, m in illustrative), \
        "say why an example is not run"


def test_toml_examples_are_valid_and_config_examples_are_accepted(tmp_path):
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    from safeinstall.pipoptions import CommandLine
    from safeinstall.settings import load_settings

    checked = 0
    for name, line, lang, _marker, body in blocks():
        if lang != "toml":
            continue
        text = "\n".join(raw.strip() if body.startswith(" ") else raw
                         for raw in body.splitlines())
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise AssertionError(f"{name}:{line} is not valid TOML: {exc}") from None
        if any(key in data for key in ("late-after", "allow-late", "on-late", "index-for")):
            config = tmp_path / f"{name}-{line}.toml"
            config.write_text(text)
            load_settings(CommandLine({"config_file": str(config)}, (), ()), {}, tmp_path)
            checked += 1
    assert checked >= 2


def test_help_names_where_the_documentation_is():
    import io

    from safeinstall.cli import main

    out = io.StringIO()
    assert main(["--help"], environ={}, stdout=out, stderr=io.StringIO()) == 0
    where = out.getvalue().rsplit("\n", 2)[-2].strip()
    assert (Path(where) / "reference.md").is_file(), where


@pytest.fixture
def docs_index(scenario, local_index, t0, tmp_path):
    scenario("attack")
    scenario("months")
    out = tmp_path / "docs-dists"
    for name, version in (("black", "24.4.0"), ("numpy", "1.26.4")):
        local_index.add(build_sdist(out, name, version), upload_time=t0)
        local_index.add(build_wheel(out, name, version), upload_time=t0 + timedelta(minutes=5))
    return local_index


def test_shell_examples_marked_run_work_against_the_local_index(docs_index, clean_pip_env,
                                                                tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("demo==1.0\n")
    env = {k: v for k, v in clean_pip_env.items() if k != "PIP_CONFIG_FILE"}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PIP_INDEX_URL": docs_index.url, "PIP_CONFIG_FILE": os.devnull,
        "HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "SAFE_INSTALL_CACHE_DIR": str(tmp_path / "si-cache"),
        "SAFE_INSTALL_STORE": f"sqlite:///{tmp_path}/state.sqlite3",
    })
    assert shutil.which("safe-install", path=env["PATH"]), "the venv's safe-install"

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env,
                              capture_output=True, text=True, timeout=180)

    setup = sh("safe-install --dry-run --report safe-install-report.json -r requirements.txt")
    assert setup.returncode == 1, setup.stderr  # demo 1.0's late wheel for this machine
    ran = 0
    for name, line, lang, marker, body in blocks():
        m = MARKER.fullmatch(marker)
        if lang not in SHELL or m is None or m.group("what") != "run":
            continue
        allowed = {int(n) for n in re.findall(r"\d+", m.group("rest"))} or {0}
        for command in commands(body):
            done = sh(command)
            assert "Traceback" not in done.stderr, f"{name}:{line}: {command}\n{done.stderr}"
            assert done.returncode in allowed, \
                f"{name}:{line}: {command} exited {done.returncode}\n{done.stderr}"
            ran += 1
    assert ran >= 8


def test_architecture_names_every_module_and_only_modules_that_exist():
    """Issue 20: docs/architecture.md maps the pipeline to its modules. A module is named as
    its path under ``src/safeinstall/`` in backticks (`checker.py`, `locks/pylock.py`); a path
    of the repository (`tests/test_docs.py`) may be named too. Every module of the tree must
    be named, and every name must exist; in the tables of modules (a row whose first cell is
    one module), every entry point named in the second cell (`run_check`, `Run.execute`) must
    be defined in that module. So the document keeps matching the tree."""
    import ast

    package = ROOT / "src" / "safeinstall"
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = {p.relative_to(package).as_posix() for p in package.rglob("*.py")
            if "__pycache__" not in p.parts}
    named = set(re.findall(r"`([\w/]+\.py)`", text))
    unknown = sorted(n for n in named if n not in tree and not (ROOT / n).is_file())
    assert not unknown, f"docs/architecture.md names modules that do not exist: {unknown}"
    missing = sorted(tree - named)
    assert not missing, f"docs/architecture.md does not name these modules: {missing}"

    def defined(module: str) -> set[str]:
        names: set[str] = set()
        source = ast.parse((package / module).read_text(encoding="utf-8"))
        for node in source.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                if isinstance(node, ast.ClassDef):
                    names.update(f"{node.name}.{item.name}" for item in node.body
                                 if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
                    names.update(f"{node.name}.{item.target.id}" for item in node.body
                                 if isinstance(item, ast.AnnAssign)
                                 and isinstance(item.target, ast.Name))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
        return names

    wrong, rows = [], 0
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] \
            if line.startswith("|") else []
        module = re.fullmatch(r"`([\w/]+\.py)`", cells[0]) if len(cells) >= 3 else None
        if module is None or module.group(1) not in tree:
            continue
        rows += 1
        have = defined(module.group(1))
        wrong += [f"{module.group(1)}: {n}" for n in re.findall(r"`([A-Za-z_][\w.]*)`", cells[1])
                  if not n.endswith(".py") and n not in have]
    assert rows >= len(tree) // 2, "the module tables are missing"
    assert not wrong, f"docs/architecture.md names entry points that do not exist: {wrong}"
