"""What both entry points (``safe-install`` and ``safe-install-tool``) do around a run: the
collector tuned for a long-lived heap, an unexpected error reported as a bug (exit 70), and
the exit itself."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, NoReturn


def internal_error(exc: BaseException, err: IO[str], environ: Mapping[str, str],
                    prog: str) -> None:
    """An unexpected exception: one line naming it (escaped), the traceback only with
    ``SAFE_INSTALL_DEBUG=1``."""
    from safeinstall.display import printable

    err.write(f"{prog}: internal error (a bug in safe-install, exit 70): "
              f"{exc.__class__.__name__}: {printable(exc)}\n")
    if environ.get("SAFE_INSTALL_DEBUG"):
        import traceback

        err.write(printable("".join(traceback.format_exception(exc)), keep_newlines=True))
    else:
        err.write(f"{prog}: run again with SAFE_INSTALL_DEBUG=1 to see where, and report it\n")


def tune_gc() -> None:
    """For the process entry points only. Index pages of popular projects parse into hundreds
    of thousands of small dicts and strings that live for the whole run and hold no cycles;
    with CPython's default thresholds the cyclic collector rescans them again and again (a
    sixth to a quarter of a large run's CPU). Collect the youngest generation 140x less often,
    and full collections rarely; memory freed by reference counting is unaffected."""
    import gc

    gc.set_threshold(100_000, 50, 1000)


def leave(code: int) -> NoReturn:
    """End an entry point's process with ``code``. Whatever is still alive now lives until the
    process ends: the collector need not look at it again while the interpreter shuts down (a
    full collection over every parsed index page, tens of milliseconds), nor is it freed
    object by object: the process ends without the interpreter's teardown, once logging and
    the standard streams are flushed (every file and store of the run is closed by then).
    Background threads still busy are not waited for beyond a moment
    (:func:`safeinstall.process.end_process`)."""
    import gc

    from safeinstall.process import end_process

    gc.freeze()
    end_process(code)
    sys.exit(code)  # not reached
