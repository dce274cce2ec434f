"""Speculative work started early and read when needed: the one helper for every background
subprocess and thread of a run.

A run overlaps its waits: pip's configuration (``pip config list``), the target interpreter's
tags, the listing of what is installed, the final ``pip install`` waiting for its list, the
default TLS context. Each is a :class:`Background`: started at once, its :meth:`result` read
(with a timeout) when the answer is needed, and closed when it is no longer wanted (a process
killed, with its process group when it has one of its own; a thread abandoned).
A :class:`Background` is a context manager, so a run registers each one on its
:class:`contextlib.ExitStack` (:mod:`safeinstall.run`) and none outlives the run.

Nothing heavy is imported here: this runs first thing in a run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")
B = TypeVar("B", bound="Background[Any]")


class BackgroundTimeout(TimeoutError):
    """:meth:`Background.result` waited ``timeout`` seconds; the work was stopped."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"{name} took more than {timeout:.0f} s")
        self.timeout = timeout


@dataclass(frozen=True)
class Finished:
    """How a background process ended."""

    returncode: int
    stdout: str
    stderr: str


class Background(Generic[T]):
    """One piece of speculative work: a subprocess (its answer made by :meth:`read` from how
    it :class:`Finished`), a thread (its answer the function's value), or an answer known at
    once. Subclasses name a kind of work and override :meth:`read`; simple uses take
    :meth:`process`, :meth:`thread` or :meth:`known`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: subprocess.Popen[str] | None = None
        self._group = False
        self._finished: Finished | None = None
        self._thread_done = threading.Event()
        self._thread: threading.Thread | None = None
        self._has_value = False
        self._value: Any = None
        self._thread_error: BaseException | None = None
        self._read_fn: Callable[[Finished], T] | None = None

    # -- starting ---------------------------------------------------------------------------

    def start_process(self, args: Sequence[str], *, env: Mapping[str, str] | None = None,
                      stdin: int | IO[Any] | None = subprocess.DEVNULL,
                      stdout: int | IO[Any] | None = subprocess.PIPE,
                      stderr: int | IO[Any] | None = subprocess.PIPE,
                      new_session: bool = False) -> None:
        """Start ``args`` (text mode). ``new_session``: in a process group of its own, which
        :meth:`close` kills whole. An :class:`OSError` (no such program) is the caller's."""
        self._group = new_session
        self.proc = subprocess.Popen(
            list(args), stdin=stdin, stdout=stdout, stderr=stderr, text=True,
            env=dict(env) if env is not None else None, start_new_session=new_session)

    def start_thread(self, fn: Callable[[], T]) -> None:
        """Run ``fn`` in a daemon thread (one that never keeps the process alive)."""

        def run() -> None:
            try:
                self._value = fn()
                self._has_value = True
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
                self._thread_error = exc
            finally:
                self._thread_done.set()

        self._thread = threading.Thread(target=run, name=f"safe-install-{self.name}",
                                        daemon=True)
        self._thread.start()

    def set_result(self, value: T) -> None:
        """The answer is known without any work."""
        self._value = value
        self._has_value = True

    @classmethod
    def process(cls, name: str, args: Sequence[str], read: Callable[[Finished], T],
                **options: Any) -> Background[T]:
        """``args`` started now; its answer ``read(finished)``."""
        work: Background[T] = cls(name)
        work._read_fn = read
        work.start_process(args, **options)
        return work

    @classmethod
    def thread(cls, name: str, fn: Callable[[], T]) -> Background[T]:
        """``fn()`` in a thread started now."""
        work: Background[T] = cls(name)
        work.start_thread(fn)
        return work

    @classmethod
    def known(cls, name: str, value: T) -> Background[T]:
        work: Background[T] = cls(name)
        work.set_result(value)
        return work

    # -- reading ----------------------------------------------------------------------------

    def read(self, finished: Finished) -> T:
        """The answer of a process that ended (subclasses; errors raised here reach the caller
        of :meth:`result`)."""
        if self._read_fn is None:
            raise NotImplementedError(f"{type(self).__name__}.read")
        return self._read_fn(finished)

    def wait(self, timeout: float | None = None) -> Finished:
        """Wait for the process to end; on a timeout it is stopped and
        :class:`BackgroundTimeout` raised."""
        if self._finished is not None:
            return self._finished
        assert self.proc is not None, f"{self.name}: no process"
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise BackgroundTimeout(self.name, timeout or 0) from None
        self._finished = Finished(self.proc.returncode, stdout or "", stderr or "")
        return self._finished

    def result(self, timeout: float | None = None) -> T:
        """The answer, waiting up to ``timeout`` seconds for it (:class:`BackgroundTimeout`
        after that; a process is stopped then). A process's answer is read once."""
        if self._has_value:
            return self._value  # type: ignore[no-any-return]
        if self._thread is not None:
            if not self._thread_done.wait(timeout):
                raise BackgroundTimeout(self.name, timeout or 0)
            if self._thread_error is not None:
                raise self._thread_error
            return self._value  # type: ignore[no-any-return]
        value = self.read(self.wait(timeout))
        self._value, self._has_value = value, True
        return value

    def done(self) -> bool:
        """Whether :meth:`result` would answer without waiting."""
        if self._has_value or self._finished is not None:
            return True
        if self._thread is not None:
            return self._thread_done.is_set()
        return self.proc is None or self.proc.poll() is not None

    # -- stopping ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the work if its answer is no longer wanted: a process still running is killed
        (its whole process group if it has one of its own) and reaped; a thread is left to
        end on its own (it is a daemon). A no-op once the process was waited for."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if self._group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        with proc:
            proc.communicate()

    def __enter__(self: B) -> B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
