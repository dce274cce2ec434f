"""Start-up stays cheap: ``safe-install --version``/``--help`` and ``safe-install-tool --help``
import none of the heavy modules (the resolver, the HTTP stack, pip, rich, the checker), so the
tricks that overlap a run's waits with its start-up stay true."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: modules (and packages) a command line that only prints must not load
HEAVY = (
    "unearth", "resolvelib", "pip", "rich", "httpx", "httpcore", "httpcore2", "h11", "ssl",
    "sqlite3", "psycopg", "safeinstall.checker", "safeinstall.finder", "safeinstall.session",
    "safeinstall.http", "safeinstall.tls", "safeinstall.resolver", "safeinstall.artifacts",
    "safeinstall.store", "safeinstall.trust", "safeinstall.lockfile", "safeinstall.report",
    "safeinstall.installer", "safeinstall.buildenv", "safeinstall.selection",
)

SCRIPT = """
import io, json, sys
from safeinstall.{module} import main
out = io.StringIO()
code = main({argv!r}, stdout=out, stderr=io.StringIO())
print(json.dumps({{"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}}))
"""


def _loaded(module: str, argv: list[str], env: dict[str, str]) -> tuple[int, str, set[str]]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(module=module, argv=argv)],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    *printed, last = proc.stdout.splitlines()  # argparse prints to sys.stdout itself
    data = json.loads(last)
    return data["code"], data["out"] + "\n".join(printed), set(data["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("module, argv, expect", [
    ("cli", ["--version"], "safe-install "),
    ("cli", ["--help"], "--late-after"),
    ("cli", ["-V"], "safe-install "),
    ("tool", ["--help"], "timeline"),
])
def test_printing_commands_import_nothing_heavy(module, argv, expect, clean_pip_env):
    code, out, modules = _loaded(module, argv, clean_pip_env)
    assert code == 0 and expect in out
    assert not _heavy(modules), f"{module} {argv} imported {_heavy(modules)}"


def test_the_heavy_list_would_catch_a_regression(clean_pip_env):
    """The check itself works: a run that resolves loads what the list names."""
    script = "import json, sys; import safeinstall.checker; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=clean_pip_env, check=True)
    loaded = _heavy(set(json.loads(proc.stdout)))
    assert "safeinstall.checker" in loaded and "resolvelib" in loaded and "ssl" in loaded


def test_the_tool_lists_each_commands_own_help_text():
    """``safe-install-tool --help`` reads each command's HELP from its source; it is the
    module's HELP exactly."""
    import importlib

    from safeinstall.tool import _available, _help_of

    for name, module_name in _available().items():
        module = importlib.import_module(f"safeinstall.commands.{module_name}")
        assert _help_of(module_name) == module.HELP, name


def _import_graph() -> dict[str, set[str]]:
    """Every import between safeinstall's modules, at module level or inside functions
    (under TYPE_CHECKING too)."""
    import ast
    from pathlib import Path

    import safeinstall

    root = Path(safeinstall.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        name = ".".join(("safeinstall", *path.relative_to(root).with_suffix("").parts))
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_nothing_below_the_command_line_imports_it():
    graph = _import_graph()
    assert sorted(m for m, deps in graph.items() if "safeinstall.cli" in deps) == \
        ["safeinstall.__main__"]


@pytest.mark.parametrize("start", [
    "safeinstall.cli", "safeinstall.tool", "safeinstall.run", "safeinstall.wiring",
    "safeinstall.entry", "safeinstall.background", "safeinstall.cmdline",
    "safeinstall.pipconfig", "safeinstall.pipoptions", "safeinstall.installed_dists",
    "safeinstall.target", "safeinstall.settings", "safeinstall.commands._common",
])
def test_no_import_cycle_through_the_command_line_modules(start):
    graph = _import_graph()
    path: list[str] = []

    def back_to_start(module: str, seen: set[str]) -> bool:
        for dep in sorted(graph[module]):
            if dep == start:
                path.append(module)
                return True
            if dep not in seen:
                seen.add(dep)
                if back_to_start(dep, seen):
                    path.append(module)
                    return True
        return False

    assert not back_to_start(start, set()), " <- ".join([start, *path])
