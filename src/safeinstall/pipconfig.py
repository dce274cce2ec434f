"""pip's configuration (:class:`PipConfig`) and how it is read: ``python -m pip config list``,
started early (:class:`PendingPipConfig`); and :class:`PipProcess`, any pip command whose answer
a run needs later (``pip inspect``).

A module of its own, with nothing heavy imported, because the configuration is read first
thing in a run: it costs a pip start-up (~0.1 s), which then overlaps with safe-install's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from safeinstall.background import Background, BackgroundTimeout, Finished
from safeinstall.errors import UsageError

#: How safe-install runs pip: this interpreter's ``-m pip``. On Python 3.11 and newer with
#: ``-P``, so that the working directory (which ``-m`` would put first on ``sys.path``) cannot
#: shadow a module pip imports (a ``json.py`` in a checked-out repository, say).
PIP_COMMAND: tuple[str, ...] = (sys.executable, *(("-P",) if sys.version_info >= (3, 11)
                                                   else ()), "-m", "pip")


class PipProcess(Background[str]):
    """A pip command started now and read when its answer is needed, so that its start-up
    overlaps with other work; :meth:`close` stops it unread. Its answer is pip's standard
    output; a :class:`UsageError` if it failed or took too long."""

    def __init__(self, args: Sequence[str], environ: Mapping[str, str], *, what: str,
                 failed: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what  # "pip inspect of X": for a timeout
        self.failed = failed  # "cannot list what is installed in X": for a failure
        self.hint = hint
        try:
            self.start_process([*PIP_COMMAND, *args], env=environ)
        except OSError as exc:  # pragma: no cover - our own interpreter always runs
            raise UsageError(f"{failed}: cannot run pip: {exc}") from None

    def read(self, finished: Finished) -> str:
        if finished.returncode != 0:
            raise UsageError(f"{self.failed}: {finished.stderr.strip()[-500:]}", hint=self.hint)
        return finished.stdout

    def output(self, timeout: float) -> str:
        """pip's standard output; a :class:`UsageError` if it failed or took too long."""
        try:
            return self.result(timeout)
        except BackgroundTimeout:
            raise UsageError(f"{self.what} took more than {timeout:.0f} s") from None


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


@dataclass(frozen=True)
class PipConfig:
    """pip configuration, merged as pip merges it (``:env:`` > ``install`` > ``global``)."""

    items: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        for section in (":env:", "install", "global"):
            value = self.items.get(f"{section}.{key}")
            if value is not None:
                return value
        return None


class PendingPipConfig(Background[PipConfig]):
    """``python -m pip config list``, started at once and read when needed: the command costs
    a pip start-up (~0.1 s), which then overlaps with safe-install's own start-up.

    With ``PIP_CONFIG_FILE`` set to the null device, pip loads no configuration file at all,
    only the ``PIP_*`` variables, so those are read directly and no pip runs (this is how
    Dockerfiles and CI jobs often neutralise a machine's configuration)."""

    def __init__(self, environ: Mapping[str, str], *, isolated: bool = False) -> None:
        super().__init__("reading pip's configuration")
        self.isolated = isolated
        env = {**environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        if isolated:  # --isolated: nothing
            self.set_result(PipConfig({}))
        elif env.get("PIP_CONFIG_FILE") == os.devnull:
            self.set_result(PipConfig(environment_items(env)))
        else:
            try:
                self.start_process([*PIP_COMMAND, "config", "list"], env=env)
            except OSError as exc:  # pragma: no cover - our own interpreter always runs
                raise UsageError(f"pip could not read its configuration: cannot run pip: "
                                 f"{exc}") from None

    def read(self, finished: Finished) -> PipConfig:
        if finished.returncode != 0:
            raise UsageError(f"pip could not read its configuration: "
                             f"{finished.stderr.strip()[-500:]}",
                             hint="fix the pip configuration file or PIP_* variable it names")
        return PipConfig(parse_config_list(finished.stdout))

    def result(self, timeout: float | None = 120) -> PipConfig:
        try:
            return super().result(timeout)
        except BackgroundTimeout as exc:
            raise UsageError(f"{self.name} took more than {exc.timeout:.0f} s") from None

    def ready(self) -> bool:
        """Whether :meth:`result` would answer without waiting for pip."""
        return self.done()

    @property
    def _proc(self) -> subprocess.Popen[str] | None:
        """The pip process (None: no pip was started); the name older tests know."""
        return self.proc


def read_pip_config(environ: Mapping[str, str], *, isolated: bool = False) -> PipConfig:
    """Read pip's configuration through its CLI (``python -m pip config list``)."""
    with PendingPipConfig(environ, isolated=isolated) as pending:
        return pending.result()
