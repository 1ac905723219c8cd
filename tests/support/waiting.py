"""Waits that hold on a busy machine: a test fails when the system under test stops making
progress, not when a fixed number of seconds has passed.

A fixed timeout is a guess at the machine's speed; on a shared 2-core machine under load the
same work takes several times longer and the guess fails a healthy test. Here the deadline
moves while there is progress (a counter that grows, a child process that uses CPU), and only
a stall, a dead process or a hang guard (minutes, for a test that would otherwise never end)
fails the wait.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HANG_GUARD = 900.0   # seconds: only a hung test reaches this


def wait_progressing(predicate: Callable[[], object], what: str, *,
                     progress: Callable[[], object], stall: float = 60.0,
                     procs: Sequence[subprocess.Popen] = (), poll: float = 0.5,
                     limit: float = HANG_GUARD):
    """Poll ``predicate`` until it returns something truthy (returned). Fails (AssertionError)
    when ``progress()`` has not changed for ``stall`` seconds, when one of ``procs`` exits, or
    after ``limit`` seconds. Errors of either callable count as "not yet"."""
    start = last_change = time.monotonic()
    seen = object()
    result = None
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited with {proc.returncode} while waiting "
                                     f"for {what}")
        try:
            result = predicate()
            if result:
                return result
        except (OSError, ValueError, KeyError):
            pass
        try:
            now_seen = progress()
        except (OSError, ValueError, KeyError):
            now_seen = seen
        now = time.monotonic()
        if now_seen != seen:
            seen, last_change = now_seen, now
        if now - last_change > stall:
            raise AssertionError(f"no progress for {stall:.0f} s while waiting for {what} "
                                 f"(progress stayed at {seen!r}; last: {result!r})")
        if now - start > limit:
            raise AssertionError(f"waited {limit:.0f} s for {what} (last: {result!r})")
        time.sleep(poll)


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) used so far by process ``pid``, None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_watched(cmd: Sequence[str], *, stall: float = 60.0, limit: float = HANG_GUARD,
                **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True)``, killed only when the child
    has used no CPU for ``stall`` seconds (it is stuck, not slow) or after ``limit``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)
    start = last_change = time.monotonic()
    used = cpu_seconds(proc.pid)
    while True:
        try:
            out, err = proc.communicate(timeout=1.0)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            pass
        now, now_used = time.monotonic(), cpu_seconds(proc.pid)
        if now_used is None or now_used != used:   # unknown CPU time: only the guard
            used, last_change = now_used, now
        if now - last_change > stall or now - start > limit:
            proc.kill()
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, now - start, out, err)
