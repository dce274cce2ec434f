"""How a run ends: signals, a closed standard output, unexpected errors, and the exit itself.

* SIGINT and SIGTERM stop a run at any stage within moments. The handler (installed by the
  entry points for the length of a run) first aborts every network read in flight, in every
  thread (:func:`abort_on_interrupt`), so no background fetch keeps the process alive, then
  raises :class:`KeyboardInterrupt` (SIGINT) or :class:`Terminated` (SIGTERM) in the main
  thread, whose ``finally`` blocks stop pip processes that are still waiting and remove
  temporary files. Exit 130 (SIGINT) or 143 (SIGTERM). pip already installing the checked
  files is let finish (see :mod:`safeinstall.installer`).
* A standard output closed by its reader (``| head -1``) ends the run quietly with exit 141.
* :func:`leave` ends the process without waiting for background threads that are still busy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import IO, Protocol

from safeinstall.errors import EXIT_INTERRUPTED, EXIT_TERMINATED


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a KeyboardInterrupt, so everything that cleans up after Ctrl-C cleans
    up after it too)."""


class Abortable(Protocol):
    def abort(self) -> None: ...


_ABORTABLE: weakref.WeakSet[Abortable] = weakref.WeakSet()
_LOCK = threading.Lock()


def abort_on_interrupt(obj: Abortable) -> None:
    """Call ``obj.abort()`` when SIGINT or SIGTERM arrives (held weakly)."""
    with _LOCK:
        _ABORTABLE.add(obj)


def forget_on_interrupt(obj: Abortable) -> None:
    with _LOCK:
        _ABORTABLE.discard(obj)


def abort_all() -> None:
    """Abort every registered object's work in flight (network reads, in every thread)."""
    with _LOCK:
        targets = list(_ABORTABLE)
    for obj in targets:
        with contextlib.suppress(Exception):
            obj.abort()


def _handler(signum: int, _frame: FrameType | None) -> None:
    abort_all()
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """For the length of a run: SIGINT and SIGTERM abort the network and raise in the main
    thread (see the module's docstring). A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def interrupt_code(exc: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def interrupt_name(exc: KeyboardInterrupt) -> str:
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"


def silence_stdout(stream: IO[str]) -> None:
    """After the reader of ``stream`` went away: point the process's standard output at
    /dev/null (when ``stream`` is it), so that the interpreter's last flush does not fail
    again at exit."""
    from safeinstall.display import raw_stream

    stream = raw_stream(stream)
    if stream is not sys.stdout and stream is not sys.__stdout__:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


#: How long :func:`leave` waits for busy background threads before it ends the process anyway.
THREAD_GRACE = 0.5


def busy_threads() -> list[threading.Thread]:
    """Live non-daemon threads besides the calling one (the interpreter would wait for them)."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]


def end_process(code: int) -> None:
    """End the process with ``code``. Background threads (look-ahead fetches, whose results
    nobody needs any more) get :data:`THREAD_GRACE` seconds; then the process ends without
    waiting for them, as the interpreter (and ``concurrent.futures``' exit hook) would, since
    one blocked on a slow server could keep it alive for minutes. Files of ours are closed by
    then (``with``/``finally``; the stores commit each write).

    The interpreter is not torn down: what the exit would still do is done here (the logging
    handlers are flushed and closed, the standard streams flushed), then the process ends.
    Tearing down frees every object of the run one by one: a quarter of a second after a
    918-pin lock, for nothing (issue 21). If a standard stream cannot be flushed, the
    interpreter's own exit reports it, as before."""
    busy = busy_threads()
    if busy:
        abort_all()
        end = THREAD_GRACE
        import time

        start = time.monotonic()
        for thread in busy:
            thread.join(max(0.0, end - (time.monotonic() - start)))
        if busy_threads():
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)  # the interpreter's exit says what failed (exit 120, as before)
    os._exit(code)


def kill_group(proc: subprocess.Popen[str]) -> None:
    """Stop ``proc`` and, when it leads a process group of its own, everything it started."""
    try:
        if hasattr(os, "killpg") and os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
