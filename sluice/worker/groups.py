"""The process groups works run in: children that die with the worker, and a stop that
ends a whole group (sluice.worker.runner, sluice.worker.pool)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

#: Seconds a stopped child gets between SIGTERM and SIGKILL.
KILL_AFTER = 3.0


def _pdeathsig() -> Callable[[], None] | None:
    """On Linux, a preexec hook asking the kernel to SIGKILL the child when the worker
    dies, so a killed worker leaves no orphan computing a result nobody will report.
    (The kernel acts when the thread that started the child ends: start children only
    from threads that live as long as the worker.)"""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up here, not in the child between fork and exec, where little is safe.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


PREEXEC = _pdeathsig()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """End `process` and its whole process group: SIGTERM, then SIGKILL to whatever of
    the group is left after KILL_AFTER seconds (at once if it all ended); returns once
    `process` has ended. Also ends what a finished process left running in its group."""
    # Signal the group even if its leader is gone: a shell's children may live on.
    group = process.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + KILL_AFTER
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(KILL_AFTER)
    # The leader ending says nothing of the rest (one that ignores SIGTERM, a shell's
    # background job): they get what is left of the patience, then SIGKILL.
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
    process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
