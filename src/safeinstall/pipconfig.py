"""pip's configuration, read through pip's CLI (``python -m pip config list``).

A module of its own, with nothing heavy imported, because the command is started first thing
in a run: it costs a pip start-up (~0.1 s), which then overlaps with safe-install's own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from safeinstall.errors import UsageError

if TYPE_CHECKING:
    from safeinstall.pipoptions import PipConfig


class PendingPipConfig:
    """``python -m pip config list``, started at once and read when needed: the command costs
    a pip start-up (~0.1 s), which then overlaps with safe-install's own start-up."""

    def __init__(self, environ: Mapping[str, str], *, isolated: bool = False) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._config: PipConfig | None = None
        self.isolated = isolated
        if isolated:
            return
        env = dict(environ)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "pip", "config", "list"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=env,
            )
        except OSError as exc:  # pragma: no cover - our own interpreter always runs
            raise UsageError(f"cannot run pip to read its configuration: {exc}") from None

    def result(self) -> PipConfig:
        from safeinstall.pipoptions import PipConfig

        if self._config is not None:
            return self._config
        if self.isolated:
            self._config = PipConfig()
            return self._config
        assert self._proc is not None
        try:
            stdout, stderr = self._proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.close()
            raise UsageError("pip took more than 120 s to read its configuration") from None
        if self._proc.returncode != 0:
            raise UsageError(
                f"pip could not read its configuration: {stderr.strip()[-400:]}",
                hint="fix the pip configuration file or PIP_* variable it names",
            )
        items: dict[str, str] = {}
        for line in stdout.splitlines():
            key, eq, raw = line.partition("=")
            if not eq:
                continue
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
                raw = raw[1:-1]
            items[key.strip()] = raw
        self._config = PipConfig(items)
        return self._config

    def close(self) -> None:
        """Stop the command if its answer is no longer wanted (an error came first)."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            proc.communicate()
