"""A build backend's PEP 517 hooks, run in subprocesses in an sdist's source tree (the
backend's code runs there, as in pip's build). :class:`BackendHooks` runs each hook in a
process of its own, or (POSIX) both in one: ``get_requires_for_build_wheel``, then, if the
parent agrees (it decides whether the environment holds every requirement the backend
added), ``prepare_metadata_for_build_wheel``: the backend imported once.

Nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from safeinstall.distmeta import MAX_METADATA_BYTES
from safeinstall.errors import IntegrityError, UsageError

HOOK_SCRIPT = r"""
import importlib, json, os, site, sys
site_dir, backend, backend_path, hook, out = sys.argv[1:6]
# with a handshake: the descriptors to signal "requirements written" and to read the parent's
# yes/no on, and where the metadata hook then writes its answer, stdout and stderr
handshake = sys.argv[6:]
for fd in handshake[:2]:
    os.set_inheritable(int(fd), False)  # nothing the backend starts holds them
start_dir = os.getcwd()
if site_dir:
    site.addsitedir(site_dir)
for p in reversed(json.loads(backend_path)):
    sys.path.insert(0, os.path.abspath(p))
module, _, attr = backend.partition(":")
obj = importlib.import_module(module.strip())
for part in attr.strip().split(".") if attr.strip() else ():
    obj = getattr(obj, part)


def metadata(out):
    # as pip (pyproject_hooks): the backend's metadata hook, else METADATA of a built wheel
    fn = getattr(obj, "prepare_metadata_for_build_wheel", None)
    where = out + ".d"
    os.mkdir(where)
    if fn is not None:
        with open(os.path.join(where, fn(where, None), "METADATA"), "rb") as fh:
            data = fh.read()
    else:
        import zipfile
        with zipfile.ZipFile(os.path.join(where, obj.build_wheel(where, None, None))) as zf:
            name = [n for n in zf.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")][0]
            data = zf.read(name)
    with open(out, "wb") as fh:
        fh.write(data)


if hook == "prepare_metadata_for_build_wheel":
    metadata(out)
    sys.exit(0)
fn = getattr(obj, hook, None)
if fn is None and hook == "get_requires_for_build_editable":
    fn = getattr(obj, "get_requires_for_build_wheel", None)
result = list(fn(None)) if fn is not None else []
with open(out, "w", encoding="utf-8") as fh:
    json.dump([str(r) for r in result], fh)
if handshake:
    ready, answer = int(handshake[0]), int(handshake[1])
    os.write(ready, b"1")
    os.close(ready)
    yes = os.read(answer, 1) == b"y"
    os.close(answer)
    if yes:  # the parent found every requirement in this environment: the metadata, here
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, path in ((1, handshake[3]), (2, handshake[4])):
            new = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(new, fd)
            os.close(new)
        os.chdir(start_dir)
        metadata(handshake[2])
"""


class BackendHooks:
    """The backend's hooks, run in subprocesses in the source tree ``tree``: each hook in a
    process of its own, or (:meth:`both`, POSIX) the requirements and then, if the parent
    agrees, the metadata in one process."""

    def __init__(self, *, owner: str, backend: str, work: Path, tree: Path,
                 env: Mapping[str, str], cmd: Sequence[str]) -> None:
        self.owner, self.backend, self.work, self.tree = owner, backend, work, tree
        self.env, self.cmd = dict(env), list(cmd)
        self.requires_out = work / "requires.json"
        self.metadata_out = work / "METADATA"

    def _listing_failed(self, hook: str, output: str) -> UsageError:
        return UsageError(
            f"the build backend of {self.owner} ({self.backend}) failed while listing its "
            f"build requirements ({hook}):\n{output.strip()[-1500:]}",
            hint="fix the project so that it builds, or install a wheel of it")

    def _metadata_failed(self, output: str) -> UsageError:
        return UsageError(
            f"the build backend of {self.owner} ({self.backend}) could not prepare its "
            f"metadata (prepare_metadata_for_build_wheel):\n{output.strip()[-1500:]}",
            hint="fix the project so that it builds, or install a wheel of it")

    def _read_requires(self, hook: str) -> tuple[str, ...]:
        try:
            data = json.loads(self.requires_out.read_text(encoding="utf-8"))
        except (ValueError, OSError):  # the backend's code wrote over its own answer
            data = None
        if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
            raise UsageError(f"the build backend of {self.owner} returned no list of "
                             f"requirements from {hook}")
        return tuple(data)

    def _read_metadata(self) -> bytes:
        with self.metadata_out.open("rb") as fh:
            data = fh.read(MAX_METADATA_BYTES + 1)
        if len(data) > MAX_METADATA_BYTES:  # refused, as wheel and index metadata are
            raise IntegrityError(
                f"the metadata the build backend of {self.owner} prepared is larger than "
                f"{MAX_METADATA_BYTES // (1024 * 1024)} MiB",
                hint="a project's METADATA is a few KiB; this build is not to be trusted")
        return data

    def _run(self, hook: str, out: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.cmd, hook, str(out)], capture_output=True, text=True,
                              check=False, cwd=str(self.tree), env=self.env, timeout=3600)

    def requirements(self, hook: str) -> tuple[str, ...]:
        proc = self._run(hook, self.requires_out)
        if proc.returncode != 0 or not self.requires_out.is_file():
            raise self._listing_failed(hook, proc.stderr or proc.stdout)
        return self._read_requires(hook)

    def metadata(self) -> bytes:
        proc = self._run("prepare_metadata_for_build_wheel", self.metadata_out)
        if proc.returncode != 0 or not self.metadata_out.is_file():
            raise self._metadata_failed(proc.stderr or proc.stdout)
        return self._read_metadata()

    def both(self, hook: str, ask: Callable[[tuple[str, ...]], bool]
             ) -> tuple[tuple[str, ...], bytes | None]:
        """The requirements; then, if ``ask(requirements)``, the metadata from the same
        process (the backend imported once). The process writes the requirements, signals
        on a pipe, and waits for the parent's yes or no on another: the parent decides."""
        outputs = [self.work / f"hook-{n}.{kind}" for n in (1, 2) for kind in ("out", "err")]
        ready_r, ready_w = os.pipe()
        answer_r, answer_w = os.pipe()
        deadline = time.monotonic() + 3600
        try:
            with outputs[0].open("wb") as out, outputs[1].open("wb") as err:
                proc = subprocess.Popen(
                    [*self.cmd, hook, str(self.requires_out), str(ready_w), str(answer_r),
                     str(self.metadata_out), str(outputs[2]), str(outputs[3])],
                    stdout=out, stderr=err, cwd=str(self.tree), env=self.env,
                    pass_fds=(ready_w, answer_r))
            os.close(ready_w)
            os.close(answer_r)
            ready_w = answer_r = -1
            try:
                signalled = _read_signal(ready_r, deadline)
                if not signalled:  # the hook failed, or the process ended without answering
                    proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                    if proc.returncode != 0 or not self.requires_out.is_file():
                        raise self._listing_failed(hook, _output(outputs[1], outputs[0]))
                    return self._read_requires(hook), None
                requires = self._read_requires(hook)  # (if not: the child is killed)
                yes = ask(requires)
                with contextlib.suppress(OSError):  # it ended already: judged by its exit
                    os.write(answer_w, b"y" if yes else b"n")
                os.close(answer_w)
                answer_w = -1
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                if not yes:
                    if proc.returncode != 0:
                        raise self._listing_failed(hook, _output(outputs[1], outputs[0]))
                    return requires, None
                if proc.returncode != 0 or not self.metadata_out.is_file():
                    raise self._metadata_failed(_output(outputs[3], outputs[2]))
                return requires, self._read_metadata()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        except subprocess.TimeoutExpired:
            raise UsageError(f"the build backend of {self.owner} ({self.backend}) did not "
                             "finish within an hour",
                             hint="fix the project so that it builds, or install a wheel of "
                                  "it") from None
        finally:
            for fd in (ready_r, ready_w, answer_r, answer_w):
                if fd >= 0:
                    os.close(fd)


def _read_signal(fd: int, deadline: float) -> bool:
    """Whether the hook process signalled on ``fd`` (False: it closed it, i.e. ended)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired("build backend", 3600)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            return os.read(fd, 1) == b"1"


def _output(first: Path, second: Path) -> str:
    """A hook's stderr, else its stdout (as text, for an error message)."""
    for path in (first, second):
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if text:
            return text
    return ""


__all__ = ["HOOK_SCRIPT", "BackendHooks"]
