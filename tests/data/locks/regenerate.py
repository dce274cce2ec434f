"""Regenerate the lock samples in this directory with the real lockers.

    .venv/bin/python tests/data/locks/regenerate.py [/path/to/venv-with-the-lockers]

Publishes ``late_wheel.toml`` on a local index in two steps (before and after the late
Windows wheel) and has each locker lock ``demo==1.0`` (pip-tools before and after, the others
after):

* ``before/requirements.txt``, ``after/requirements.txt``: ``pip-compile --generate-hashes``;
* ``after/uv.lock``: ``uv lock``; ``after/pylock.toml``: ``uv export --format pylock.toml``;
* ``after/poetry.lock``: ``poetry lock``; ``after/Pipfile.lock``: ``pipenv lock``.

The tests audit and guard these files against the same scenario rebuilt on a fresh index
(the artifacts are byte-identical, so the hashes match; the index port in the files differs
and is ignored because the tests pass ``-i``). Without an argument the lockers are installed
from PyPI into a temporary venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # tests/

from lockhelp import generate_lock, lock_tools, tool_environ  # noqa: E402
from support.index import LocalIndex  # noqa: E402
from support.piprun import clean_pip_environ  # noqa: E402
from support.scenarios import load_scenario  # noqa: E402

T0 = datetime(2024, 4, 24, 19, 31, 22, 123456, tzinfo=timezone.utc)


def main() -> None:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)
        bin_dir = Path(sys.argv[1]) / "bin" if len(sys.argv) > 1 else lock_tools(tmp)
        env = clean_pip_environ(cache_dir=tmp / "pip-cache")
        with LocalIndex(tmp / "index") as index:
            scenario = tmp / "before.toml"
            text = (HERE / "late_wheel.toml").read_text()
            scenario.write_text(text[: text.rindex("[[file]]")])  # all but the late wheel
            load_scenario(scenario, index, tmp / "s1", T0)
            before = generate_lock("pip-tools", bin_dir, index.url, "demo", "==1.0",
                                   tmp / "before", env)
            (HERE / "before").mkdir(exist_ok=True)
            shutil.copy(before, HERE / "before" / "requirements.txt")
            _add_late(index, tmp)
            (HERE / "after").mkdir(exist_ok=True)
            for tool in ("pip-tools", "uv", "poetry", "pipenv"):
                lock = generate_lock(tool, bin_dir, index.url, "demo", "==1.0",
                                     tmp / tool, env)
                shutil.copy(lock, HERE / "after" / lock.name)
                if tool == "uv":
                    subprocess.run(
                        [str(bin_dir / "uv"), "export", "--quiet", "--format", "pylock.toml",
                         "--default-index", index.url, "-o", "pylock.toml"],
                        cwd=tmp / tool, env=tool_environ(env, tmp / tool / ".home"),
                        check=True)
                    shutil.copy(tmp / tool / "pylock.toml", HERE / "after" / "pylock.toml")
    print("regenerated", sorted(str(p.relative_to(HERE)) for p in HERE.glob("*/*")))


def _add_late(index: LocalIndex, tmp: Path) -> None:
    """Publish the late file of late_wheel.toml (the only one not yet on the index)."""
    import tomllib

    from support.artifacts import build_wheel
    from support.scenarios import parse_offset

    data = tomllib.loads((HERE / "late_wheel.toml").read_text())
    (entry,) = [f for f in data["file"] if f["id"] == "win"]
    path = build_wheel(tmp / "late", entry["name"], entry["version"], tag=entry["tag"],
                       requires_dist=entry["requires_dist"], payload=entry["payload"])
    index.add(path, upload_time=T0 + parse_offset(entry["offset"]))


if __name__ == "__main__":
    main()
