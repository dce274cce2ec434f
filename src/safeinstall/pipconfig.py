"""pip commands whose answers a run needs later, started early: pip's configuration
(``python -m pip config list``) and, through :class:`PipProcess`, ``pip inspect``.

A module of its own, with nothing heavy imported, because the configuration is read first
thing in a run: it costs a pip start-up (~0.1 s), which then overlaps with safe-install's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from safeinstall.errors import UsageError

if TYPE_CHECKING:
    from safeinstall.pipoptions import PipConfig


#: How safe-install runs pip: this interpreter's ``-m pip``. On Python 3.11 and newer with
#: ``-P``, so that the working directory (which ``-m`` would put first on ``sys.path``) cannot
#: shadow a module pip imports (a ``json.py`` in a checked-out repository, say).
PIP_COMMAND: tuple[str, ...] = (sys.executable, *(("-P",) if sys.version_info >= (3, 11)
                                                   else ()), "-m", "pip")


class PipProcess:
    """A pip command started now and read when its answer is needed, so that its start-up
    overlaps with other work; :meth:`close` stops it unread."""

    def __init__(self, args: Sequence[str], environ: Mapping[str, str], *, what: str,
                 failed: str, hint: str | None = None) -> None:
        self.what = what  # "pip inspect of X": for a timeout
        self.failed = failed  # "cannot list what is installed in X": for a failure
        self.hint = hint
        try:
            self._proc: subprocess.Popen[str] = subprocess.Popen(
                [*PIP_COMMAND, *args], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(environ))
        except OSError as exc:  # pragma: no cover - our own interpreter always runs
            raise UsageError(f"{failed}: cannot run pip: {exc}") from None

    def output(self, timeout: float) -> str:
        """pip's standard output; a :class:`UsageError` if it failed or took too long."""
        try:
            stdout, stderr = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise UsageError(f"{self.what} took more than {timeout:.0f} s") from None
        if self._proc.returncode != 0:
            raise UsageError(f"{self.failed}: {stderr.strip()[-500:]}", hint=self.hint)
        return stdout

    def finished(self) -> bool:
        """Whether the command has ended (its answer can be read without waiting)."""
        return self._proc.poll() is not None

    def close(self) -> None:
        """Stop the command if its answer is no longer wanted."""
        if self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()


#: ``PIP_<NAME>`` variables pip's configuration skips (pip's ``ENV_NAMES_IGNORED``)
_ENV_NAMES_IGNORED = ("version", "help")


def environment_items(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``:env:`` part of pip's configuration: every ``PIP_<NAME>`` variable as the key
    ``:env:.<name>``, lower case with ``_`` as ``-`` (pip's ``Configuration.
    _load_environment_vars``; later variables of the same name win, as in pip)."""
    items: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith("PIP_"):
            continue
        name = key[4:].lower()
        if name in _ENV_NAMES_IGNORED:
            continue
        name = name.replace("_", "-")
        if name.startswith("--"):
            name = name[2:]
        items[f":env:.{name}"] = value
    return items


def parse_config_list(output: str) -> dict[str, str]:
    """The items ``pip config list`` prints, one ``key=repr(value)`` per line."""
    import ast

    items: dict[str, str] = {}
    for line in output.splitlines():
        key, eq, raw = line.partition("=")
        if not eq:
            continue
        raw = raw.strip()
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, str):  # not a repr: taken as printed, quotes removed
            value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" \
                else raw
        items[key.strip()] = value
    return items


class PendingPipConfig:
    """``python -m pip config list``, started at once and read when needed: the command costs
    a pip start-up (~0.1 s), which then overlaps with safe-install's own start-up.

    With ``PIP_CONFIG_FILE`` set to the null device, pip loads no configuration file at all,
    only the ``PIP_*`` variables, so those are read directly and no pip runs (this is how
    Dockerfiles and CI jobs often neutralise a machine's configuration)."""

    def __init__(self, environ: Mapping[str, str], *, isolated: bool = False) -> None:
        self._config: PipConfig | None = None
        self._proc: PipProcess | None = None
        self._env_only: dict[str, str] | None = None
        self.isolated = isolated
        env = {**environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        if isolated:
            return
        if env.get("PIP_CONFIG_FILE") == os.devnull:
            self._env_only = environment_items(env)
            return
        self._proc = PipProcess(
            ["config", "list"], env,
            what="reading pip's configuration",
            failed="pip could not read its configuration",
            hint="fix the pip configuration file or PIP_* variable it names")

    def result(self) -> PipConfig:
        from safeinstall.pipoptions import PipConfig

        if self._config is not None:
            return self._config
        if self._proc is None:  # --isolated (nothing) or PIP_CONFIG_FILE=/dev/null
            self._config = PipConfig(self._env_only or {})
            return self._config
        items = parse_config_list(self._proc.output(timeout=120))
        self._config = PipConfig(items)
        return self._config

    def ready(self) -> bool:
        """Whether :meth:`result` would answer without waiting for pip."""
        return self._config is not None or self._proc is None or self._proc.finished()

    def close(self) -> None:
        """Stop the command if its answer is no longer wanted (an error came first)."""
        if self._proc is not None:
            self._proc.close()
