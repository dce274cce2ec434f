"""What is installed in the target environment, listed the way pip's resolver sees it, without
starting pip.

``pip inspect`` costs a pip start-up (about 0.3 s of CPU, twice that under ``--python``), and a
run that does not ignore what is installed needs its answer before resolving anything. For
the common environment -- directories of ``*.dist-info`` on ``sys.path`` -- pip's view is
simple, so a small script run by the target interpreter lists it instead, following pip 26's
``importlib`` backend (``pip/_internal/metadata/importlib/_envs.py``):

* every ``sys.path`` entry in order, as pip's runner sees it (``python -c`` adds the working
  directory first; pip's runner does not, so it is removed);
* per entry, ``importlib.metadata.distributions(path=[entry])``; the name and version come
  from the ``.dist-info`` directory's name, as in pip (an ``.egg-info`` directory gives the
  name, its PKG-INFO the version; one with a ``requires.txt`` is left to pip, which converts
  it in its own way); the first distribution of a name wins;
* names that are not valid project names are skipped after they have shadowed later ones;
  ``python``, ``wsgiref`` and ``argparse`` are skipped (pip's ``stdlib_pkgs``).

Anything else -- ``.egg-link`` or ``.egg`` (legacy installs), an ``.egg-info`` file,
distributions inside zip files or wheels on ``sys.path``, unreadable metadata, ``--user`` --
makes the script answer
"ask pip", and ``pip inspect`` is run as before. Parity with ``pip inspect`` is tested
(tests/test_installed.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping

#: Runs under the target interpreter (Python 3.9 or newer), with nothing of ours importable.
_LIST_SCRIPT = r"""
import sys
if sys.path and sys.path[0] == "":
    # python -c puts the working directory first; pip's runner does not. Removed before any
    # other import, so that a json.py (say) in the working directory is never run.
    del sys.path[0]
import json, os, re
import importlib.metadata as md

def ask_pip(why):
    print(json.dumps({"ask_pip": why}))
    sys.exit(0)

valid = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
skip = {"python", "wsgiref", "argparse"}
seen = set()
out = []
for location in sys.path:
    if os.path.isfile(location):
        if any(True for _ in md.distributions(path=[location])):
            ask_pip("distributions inside " + location)
        continue
    if not os.path.isdir(location):
        continue
    for child in os.listdir(location):
        path = os.path.join(location, child)
        if child.endswith((".egg-link", ".egg")) or \
                (child.endswith(".egg-info") and not os.path.isdir(path)):
            ask_pip("legacy install " + path)
    for dist in md.distributions(path=[location]):
        info = getattr(dist, "_path", None)
        if info is None:
            ask_pip("a distribution without a location in " + location)
        stem, suffix = os.path.splitext(info.name)
        if suffix == ".dist-info":  # name and version from the directory name, as pip
            name, sep, version = stem.partition("-")
            if not sep or not version:
                ask_pip("unusual metadata directory " + str(info))
        elif suffix == ".egg-info":  # the name from the directory, the version from PKG-INFO
            name, version = stem.split("-", 1)[0], None
        else:
            ask_pip("unusual metadata directory " + str(info))
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        if canonical in seen:
            continue
        seen.add(canonical)
        if not valid.match(canonical) or canonical in skip:
            continue
        meta = dist.metadata
        if meta is None or not meta.get("Name") or not (version or meta.get("Version")):
            ask_pip("no readable metadata in " + str(info))
        if suffix == ".egg-info" and dist.read_text("requires.txt") is not None:
            ask_pip("requirements in requires.txt of " + str(info))  # pip's own conversion
        out.append({"name": name, "version": version or meta.get("Version"),
                    "requires_dist": meta.get_all("Requires-Dist") or [],
                    "requires_python": meta.get("Requires-Python")})
print(json.dumps({"installed": out}))
"""


def interpreter_path(executable: str) -> str:
    """The interpreter a ``--python`` value names: a venv directory means its python."""
    if os.path.isdir(executable):  # pip accepts a venv directory too
        for candidate in ("bin/python", "Scripts/python.exe"):
            if os.path.exists(os.path.join(executable, candidate)):
                return os.path.join(executable, candidate)
    return executable


class PendingListing:
    """The listing script, started now and read when needed. :meth:`result` is the list of
    ``{name, version, requires_dist, requires_python}`` dicts (as ``pip inspect``'s
    ``metadata`` gives them), or None where pip must be asked."""

    def __init__(self, executable: str, environ: Mapping[str, str]) -> None:
        self.reason: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        try:
            self._proc = subprocess.Popen(
                [interpreter_path(executable), "-c", _LIST_SCRIPT], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(environ))
        except OSError as exc:
            self.reason = f"cannot run {executable}: {exc.strerror}"

    def result(self, timeout: float = 120) -> list[dict[str, object]] | None:
        if self._proc is None:
            return None
        try:
            stdout, stderr = self._proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            self.reason = "the listing took too long"
            return None
        if self._proc.returncode != 0:
            self.reason = stderr.strip()[-300:] or f"exit code {self._proc.returncode}"
            return None
        try:
            data = json.loads(stdout)
        except ValueError:
            self.reason = "the listing printed no JSON"
            return None
        if not isinstance(data, dict) or not isinstance(data.get("installed"), list):
            self.reason = str(data.get("ask_pip", "no list")) if isinstance(data, dict) \
                else "no list"
            return None
        return [item for item in data["installed"] if isinstance(item, dict)]

    def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()
