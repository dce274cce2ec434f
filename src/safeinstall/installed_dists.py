"""What is installed in the target environment (:class:`InstalledSet`), listed the way pip's
resolver sees it, without starting pip where it can (not to be confused with
:mod:`safeinstall.installer`, which installs).

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
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.background import Background, BackgroundTimeout, Finished
from safeinstall.errors import UsageError
from safeinstall.pipconfig import PipProcess
from safeinstall.pipoptions import environ_without_pip
from safeinstall.target import interpreter_path

if TYPE_CHECKING:
    from safeinstall.candidates import InstalledDist
    from safeinstall.pipoptions import PipSettings

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


class PendingListing(Background["list[dict[str, object]] | None"]):
    """The listing script, started now and read when needed. :meth:`result` is the list of
    ``{name, version, requires_dist, requires_python}`` dicts (as ``pip inspect``'s
    ``metadata`` gives them), or None where pip must be asked (:attr:`reason` says why)."""

    def __init__(self, executable: str, environ: Mapping[str, str]) -> None:
        super().__init__("listing")
        self.reason: str | None = None
        try:
            self.start_process([interpreter_path(executable), "-c", _LIST_SCRIPT], env=environ)
        except OSError as exc:
            self.reason = f"cannot run {executable}: {exc.strerror}"
            self.set_result(None)

    def result(self, timeout: float | None = 120) -> list[dict[str, object]] | None:
        try:
            return super().result(timeout)
        except BackgroundTimeout:
            self.reason = "the listing took too long"
            return None

    def read(self, finished: Finished) -> list[dict[str, object]] | None:
        if finished.returncode != 0:
            self.reason = finished.stderr.strip()[-300:] or f"exit code {finished.returncode}"
            return None
        try:
            data = json.loads(finished.stdout)
        except ValueError:
            self.reason = "the listing printed no JSON"
            return None
        if not isinstance(data, dict) or not isinstance(data.get("installed"), list):
            self.reason = str(data.get("ask_pip", "no list")) if isinstance(data, dict) \
                else "no list"
            return None
        return [item for item in data["installed"] if isinstance(item, dict)]


def installed_dists(settings: PipSettings, environ: Mapping[str, str],
                    early: InstalledSet | None = None) -> InstalledSet:
    """What is installed in the target (see :class:`InstalledSet`), unless pip would ignore it.
    The listing runs in the background and is read on first use. ``early``: one started at
    start-up, before the settings were final; used if it asked about the same environment."""
    if settings.ignore_installed or settings.target_dir:
        if early is not None:
            early.close()
        return InstalledSet(None, user=False, environ=environ, run=False)
    if early is not None:
        if early.python == (settings.python or None) and early.user == settings.user:
            return early
        early.close()
    return InstalledSet(settings.python or None, user=settings.user, environ=environ)


class InstalledSet(Mapping[NormalizedName, "InstalledDist"]):
    """The distributions installed in an environment as pip sees them, read when first needed:
    listed by the target interpreter itself (:class:`PendingListing`), or by
    ``pip inspect`` where that listing defers to pip (legacy installs, ``--user``).

    ``python`` is the ``--python`` value as given (None: this interpreter), resolved by pip
    itself as for ``pip --python X install``. ``run=False``: an empty set (pip would ignore
    what is installed). Its processes are :class:`Background` work: :meth:`close` (or leaving
    it as a context manager) stops them if the answer was never needed."""

    def __init__(self, python: str | None, *, user: bool, environ: Mapping[str, str],
                 run: bool = True) -> None:
        self.python = python
        self.user = user
        self.executable = python or sys.executable
        self._data: dict[NormalizedName, InstalledDist] | None = None
        self._proc: PipProcess | None = None
        self._listing: PendingListing | None = None
        self._environ = environ_without_pip(environ)
        self._lock = threading.Lock()
        if not run:
            self._data = {}
            return
        if user:
            self._start_pip()
        else:
            self._listing = PendingListing(self.executable, self._environ)

    def _start_pip(self) -> None:
        args = ["--python", self.executable, "inspect"] + (["--user"] if self.user else [])
        self._proc = PipProcess(args, self._environ,
                                what=f"pip inspect of {self.executable}",
                                failed=f"cannot list what is installed in {self.executable}")

    def _read(self) -> dict[NormalizedName, InstalledDist]:
        from safeinstall.candidates import InstalledDist

        with self._lock:
            if self._data is not None:
                return self._data
            items: list[dict[str, object]] | None = None
            if self._listing is not None:
                items = self._listing.result()
                if items is None:  # pip must answer (and reports any error itself)
                    self._start_pip()
            if items is None:
                assert self._proc is not None
                stdout = self._proc.output(timeout=300)
                try:
                    data = json.loads(stdout)
                except ValueError:
                    raise UsageError(f"pip inspect of {self.executable} gave no JSON") from None
                items = [item.get("metadata", {}) for item in data.get("installed", [])]
            out: dict[NormalizedName, InstalledDist] = {}
            for meta in items:
                try:
                    name = canonicalize_name(str(meta["name"]))
                    version = Version(str(meta["version"]))
                except (KeyError, InvalidVersion):
                    continue
                requires = meta.get("requires_dist") or []
                requires_python = meta.get("requires_python")
                out[name] = InstalledDist(
                    name, version,
                    tuple(str(r) for r in requires) if isinstance(requires, list) else (),
                    str(requires_python) if requires_python is not None else None)
            self._data = out
            return out

    def close(self) -> None:
        """Stop the listing or ``pip inspect`` if its answer was never needed."""
        if self._listing is not None:
            self._listing.close()
        if self._proc is not None:
            self._proc.close()

    def __enter__(self) -> InstalledSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, name: NormalizedName) -> InstalledDist:
        return self._read()[name]

    def __iter__(self) -> Iterator[NormalizedName]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())
