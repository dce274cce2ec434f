"""The one helper for speculative work (safeinstall.background): real processes and threads,
read with a timeout, stopped when no longer wanted."""

from __future__ import annotations

import os
import sys
import time

import pytest

from safeinstall.background import Background, BackgroundTimeout, Finished


def _alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet is not: it was killed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


def test_a_process_is_read_once_through_its_read_function():
    calls: list[Finished] = []

    def read(done: Finished) -> int:
        calls.append(done)
        return int(done.stdout)

    work = Background.process("answer", [sys.executable, "-c", "print(6 * 7)"], read)
    assert work.result(timeout=30) == 42
    assert work.result(timeout=30) == 42 and work.done()
    assert len(calls) == 1 and calls[0].returncode == 0


def test_a_process_past_its_timeout_is_stopped():
    work = Background.process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                              lambda done: done.stdout)
    with pytest.raises(BackgroundTimeout, match="sleeper took more than 0 s"):
        work.result(timeout=0.2)
    assert work.proc is not None and work.proc.returncode is not None


def test_closing_stops_the_whole_process_group(tmp_path):
    """A process in a session of its own (pip re-running itself under --python) is killed
    with its children; leaving the context manager closes it."""
    pidfile = tmp_path / "child.pid"
    script = ("import subprocess, sys, time; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    with Background.process("parent", [sys.executable, "-c", script], lambda d: None,
                            new_session=True) as work:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert not work.done()
    assert work.proc is not None and work.proc.returncode is not None
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:  # reaped by init once killed
        time.sleep(0.05)
    assert not _alive(child)


def test_a_thread_hands_over_its_value_or_its_error():
    assert Background.thread("value", lambda: "ok").result(timeout=10) == "ok"

    def fail() -> str:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        Background.thread("error", fail).result(timeout=10)
    slow = Background.thread("slow", lambda: time.sleep(5))
    with pytest.raises(BackgroundTimeout):
        slow.result(timeout=0.05)
    slow.close()  # a thread is abandoned, not waited for


def test_a_known_answer_needs_no_work():
    work = Background.known("known", 3)
    assert work.done() and work.result() == 3
    work.close()
