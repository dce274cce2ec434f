"""Shared fixtures: a local package index, real distributions, and a hermetic pip.

Helpers (importable as ``support.*``, since pytest puts ``tests/`` on ``sys.path``):

* :mod:`support.artifacts`: ``build_wheel``, ``build_sdist``;
* :mod:`support.index`: ``LocalIndex``, ``IndexedFile``;
* :mod:`support.scenarios`: ``load_scenario`` and ``tests/data/indexes/*.toml``;
* :mod:`support.piprun`: ``run_pip``, ``pip_dry_run_report``, ``pip_list``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from support.index import IndexedFile, LocalIndex
from support.piprun import clean_pip_environ, venv_python
from support.scenarios import load_scenario

#: The fixed "release time" of the scenarios: PyPI-like, with microseconds.
T0 = datetime(2024, 4, 24, 19, 31, 22, 123456, tzinfo=timezone.utc)


@pytest.fixture
def t0() -> datetime:
    """A fixed, timezone-aware UTC datetime: the time a scenario's release was published."""
    return T0


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[LocalIndex]:
    """A started, empty :class:`LocalIndex` under ``tmp_path / "index"``; stopped afterwards.

    The test fails at teardown if the server hit an unexpected error.
    """
    with LocalIndex(tmp_path / "index") as index:
        yield index
    assert not index.errors, f"the local index failed while serving: {index.errors!r}"


@pytest.fixture
def scenario(
    local_index: LocalIndex, tmp_path: Path, t0: datetime
) -> Callable[[str | Path], dict[str, IndexedFile]]:
    """Factory: ``scenario("attack")`` publishes a scenario on ``local_index``."""

    def load(path_or_name: str | Path) -> dict[str, IndexedFile]:
        return load_scenario(path_or_name, local_index, tmp_path / "scenario", t0)

    return load


@pytest.fixture
def clean_pip_env(tmp_path: Path) -> dict[str, str]:
    """``os.environ`` for a hermetic pip: ``PIP_CONFIG_FILE=/dev/null``, no other inherited
    ``PIP_*``, ``PIP_DISABLE_PIP_VERSION_CHECK=1``, ``PIP_NO_INPUT=1`` and a cache of the
    test's own (``PIP_CACHE_DIR``); ``PIP_NO_CACHE_DIR`` is not set. ``XDG_CONFIG_HOME`` is
    the test's own too, so no user-level safe-install config file of the machine applies, and
    ``COLUMNS`` is unset."""
    env = clean_pip_environ(cache_dir=tmp_path / "pip-cache")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env.pop("COLUMNS", None)  # output is laid out as piped (no terminal), whatever the shell's
    return env


@pytest.fixture
def make_venv(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_venv(name="venv")`` creates ``tmp_path/name`` with
    ``python -m venv --without-pip`` and returns its interpreter. pip acts on it through
    ``sys.executable -m pip --python <interpreter>``."""

    def make(name: str = "venv") -> Path:
        target = tmp_path / name
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(target)],
            check=True,
            capture_output=True,
        )
        return venv_python(target)

    return make


@pytest.fixture(autouse=True)
def fast_http_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs pause 10 ms (instead of 0.25 s, doubling) between HTTP retries, so the
    suite stays fast; the number of retries and every other behaviour are unchanged.
    Subprocess runs use the real schedule."""
    import safeinstall.http

    monkeypatch.setattr(safeinstall.http, "BACKOFF", 0.01)
