"""Progress of a checked run, by stage: resolving (and checking), downloading, installing.

On a terminal a rich progress display (packages resolved so far, bytes downloaded of the total,
the current step), removed when the run ends; without one, one line per stage on standard
error (so CI logs show where a long run is); with ``-q`` nothing (:class:`Silent`).
"""

from __future__ import annotations

import threading
from typing import IO, Any

STAGES = ("resolving", "downloading", "installing")


class Silent:
    """No progress (``-q``); also the base of the others."""

    def stage(self, name: str, *, total: int | None = None, detail: str = "") -> None:
        """Start stage ``name`` (one of :data:`STAGES`); ``total``: packages or bytes."""

    def advance(self, amount: int = 1) -> None:
        """``amount`` more packages resolved, or bytes downloaded, in the current stage."""

    def message(self, text: str) -> None:
        """What the current stage is doing now (``reading metadata of X``)."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Lines(Silent):
    """One line per stage on ``stream`` (no terminal); with ``verbose`` every message too."""

    def __init__(self, stream: IO[str], *, verbose: bool = False,
                 width: int | None = None) -> None:
        self._stream = stream
        self._verbose = verbose
        self._width = width
        self._seen: set[str] = set()

    def _write(self, line: str) -> None:
        from safeinstall.layout import middle_ellipsis

        self._stream.write((middle_ellipsis(line, self._width) if self._width else line)
                           + "\n")
        self._stream.flush()

    def stage(self, name: str, *, total: int | None = None, detail: str = "") -> None:
        if name in self._seen:
            return
        self._seen.add(name)
        self._write(f"safe-install: {name}{' ' + detail if detail else ''}...")

    def message(self, text: str) -> None:
        if self._verbose:
            self._write(f"safe-install: {text}")


class Terminal(Silent):
    """A rich progress display on ``console`` (transient: gone when the run ends)."""

    def __init__(self, console: Any) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
        )

        self._progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24), TextColumn("{task.fields[count]}"),
            TextColumn("[dim]{task.fields[now]}"), console=console, transient=True)
        self._lock = threading.Lock()
        self._task: Any = None
        self._bytes = False

    def start(self) -> None:
        self._progress.start()

    def stop(self) -> None:
        self._progress.stop()

    def stage(self, name: str, *, total: int | None = None, detail: str = "") -> None:
        with self._lock:
            if self._task is not None:
                self._progress.remove_task(self._task)
                self._task = None
            if name == "installing":  # pip draws its own output: one line, no live display
                self._progress.stop()
                self._progress.console.print(f"[bold]{name}[/] {detail}")
                return
            self._bytes = name == "downloading"
            self._task = self._progress.add_task(name, total=total, count="",
                                                 now=detail)
            self._refresh_count()

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.advance(self._task, amount)
                self._refresh_count()

    def message(self, text: str) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.update(self._task, now=text)

    def _refresh_count(self) -> None:
        task = self._progress.tasks[-1]
        done = int(task.completed)
        if self._bytes:
            total = f"/{format_size(int(task.total))}" if task.total else ""
            count = f"{format_size(done)}{total}"
        else:
            count = f"{done}/{int(task.total)}" if task.total else f"{done}" if done else ""
        self._progress.update(self._task, count=count)


def format_size(n: int) -> str:
    for limit, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= limit:
            return f"{n / limit:.1f} {unit}"
    return f"{n} B"


__all__ = ["STAGES", "Lines", "Silent", "Terminal", "format_size"]
