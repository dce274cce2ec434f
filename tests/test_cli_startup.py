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
