"""Concurrent look-ahead for the (sequential) resolver.

resolvelib asks for one thing at a time; most of that time is network round trips. As soon as
a requirement is known, its index page and the core metadata of the file pip would most likely
pick are fetched in the background (bounded pool), so the resolver usually finds them ready.
Errors are swallowed here: the resolver's own call raises them with full context.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

T = TypeVar("T")


class Memo(Generic[T]):
    """Run a computation once per key, however many threads ask for it at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Hashable, Future[T]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        fut, owner = self.claim(key)
        if owner:
            self.settle(key, fut, compute)
        return fut.result()

    def claim(self, key: Hashable) -> tuple[Future[T], bool]:
        """The key's future, and whether the caller now owns it (and must :meth:`settle` it)."""
        with self._lock:
            fut = self._futures.get(key)
            if fut is not None:
                return fut, False
            fut = Future()
            self._futures[key] = fut
            return fut, True

    def settle(self, key: Hashable, fut: Future[T], compute: Callable[[], T]) -> None:
        """Run ``compute`` for an owned key and hand its result or error to every caller, later
        ones too: a download that failed after its retries is not tried again in the same run
        (the background look-ahead must not double the retries the user allowed). Only an
        interrupt is forgotten."""
        try:
            fut.set_result(compute())
        except Exception as exc:
            fut.set_exception(exc)
        except BaseException as exc:
            fut.set_exception(exc)
            with self._lock:
                self._futures.pop(key, None)
            raise


def _await_all(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=5)


class Prefetcher:
    """Warms index pages and likely metadata for requirement names, in the background."""

    def __init__(self, warm: Callable[[str, SpecifierSet], Any], max_workers: int = 8) -> None:
        self._warm = warm
        self._pool = ThreadPoolExecutor(max_workers=max_workers,
                                        thread_name_prefix="safe-install-prefetch")
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        # Start every worker now, while nothing else runs: a thread started later, while
        # the others parse pages, waits for the GIL before it reports that it started, and
        # the resolver's thread, which submits the work, would wait with it.
        # (each waits for all: an idle worker would be reused instead of a new one started)
        started = threading.Barrier(max_workers)
        for _ in range(max_workers):
            self._pool.submit(_await_all, started)

    def requirements(self, items: Iterable[tuple[str, SpecifierSet]]) -> None:
        for name, specifier in items:
            key = f"{canonicalize_name(name)}{specifier}"
            with self._lock:
                if key in self._seen:
                    continue
                self._seen.add(key)
            self._pool.submit(self._quiet, name, specifier)

    def _quiet(self, name: str, specifier: SpecifierSet) -> None:
        # errors are the resolver's to meet (and report) in the foreground
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self._warm(name, specifier)

    @property
    def closed(self) -> bool:
        """True once the resolver is done: look-ahead work still running should stop at its
        next step (the process waits for these threads before it exits)."""
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
