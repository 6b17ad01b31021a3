"""Pre-started child processes that run function works one at a time.

A `Child` is `python -m sluice.worker.pool SPEC_FD OUTCOME_FD` (this module) in a
session of its own: once booted it writes `READY` as its first line on the outcome pipe
(`Pool.booted` waits for that), then reads one work spec per line from the other pipe,
calls the function (`sluice.worker.runner.call`) in the work's directory if it has one,
writes the outcome as one JSON line, and waits for the next. Modules a function
imports stay imported for the next work, so a work pays for an interpreter start only
when its child is new.

Isolation is the process's: stopping a run kills the child's whole process group, and
a child that crashes (its outcome pipe closes without an outcome) fails only the work
it was running. Either way the child is not used again. `Pool` hands out ready children
and replaces a child once it has run `recycle` works (starting the replacement when the
child has one work left, so that it is ready by the next), or after any work that did
not succeed.

The kernel kills a child when the thread that started it ends (PR_SET_PDEATHSIG, see
`sluice.worker.runner`), so children are started only by threads that live as long as
the worker.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import orjson

from sluice.worker.groups import KILL_AFTER, PREEXEC, kill_group
from sluice.worker.runner import Outcome, call

#: Bytes read from the outcome pipe at a time.
CHUNK = 1 << 16
#: The outcome's key saying the child ends after this work.
RETIRING = "_retiring"
#: Seconds between checks that a child still runs while its pipe says nothing.
EXIT_CHECK = 0.2
#: The line a child writes first, once it has booted.
READY = b"ready"


class Child:
    """One pre-started child process, ready for a work once `start`ed."""

    def __init__(self) -> None:
        spec_read, self._spec = os.pipe()
        self._out, out_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sluice.worker.pool", str(spec_read), str(out_write)],
                stdin=subprocess.DEVNULL,
                pass_fds=(spec_read, out_write),
                start_new_session=True,
                preexec_fn=PREEXEC,
                env=_importable_here(),
            )
        except BaseException:
            for fd in (self._spec, self._out):
                os.close(fd)
            raise
        finally:
            os.close(spec_read)
            os.close(out_write)
        #: Works handed to this child so far.
        self.works = 0
        self._buffer = b""
        self._outcome: dict[str, Any] | None = None
        self._ended = False
        #: Whether the child said it booted (its first line, `READY`).
        self._booted = False
        #: Whether the child said it ends after its work.
        self._retiring = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, spec: dict[str, Any]) -> None:
        """Hand the child a work: `{"function", "parameters"}`. OSError if it is gone."""
        self.works += 1
        self._outcome = None
        if self._booted:
            self._buffer = b""
        data = memoryview(orjson.dumps(spec) + b"\n")
        while data:
            data = data[os.write(self._spec, data) :]

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the work's outcome or the child's end; whether either
        came."""
        deadline = time.monotonic() + seconds
        while not (self._outcome is not None or self._ended or self._take_line()):
            if not self._read(deadline):
                return False
        return True

    def booted(self, seconds: float) -> bool:
        """Wait up to `seconds` for the child to finish booting (or to end); whether it
        did. Only while no work was sent to it."""
        deadline = time.monotonic() + seconds
        while not (self._booted or self._ended):
            if not self._read(deadline):
                return False
            self._take_line()
        return True

    def _read(self, deadline: float) -> bool:
        """Add what the child writes by `deadline` (a `time.monotonic()`) to the buffer,
        or see that it ended; False if it wrote nothing in time."""
        while True:
            left = max(0.0, deadline - time.monotonic())
            if select.select([self._out], [], [], min(left, EXIT_CHECK))[0]:
                break
            # A process the work forked keeps the pipe open: the child's own exit
            # would otherwise go unseen until the work's timeout.
            if self.process.poll() is not None:
                # What it wrote before it ended (its outcome, maybe) is still there.
                while select.select([self._out], [], [], 0)[0]:
                    chunk = os.read(self._out, CHUNK)
                    if not chunk:
                        break
                    self._buffer += chunk
                self._take_line()
                self._end()
                return True
            if left <= EXIT_CHECK:
                return False
        chunk = os.read(self._out, CHUNK)
        if chunk:
            self._buffer += chunk
        else:
            self._end()
        return True

    def _take_line(self) -> bool:
        """Take the lines the buffer holds: the boot line, then the outcome; whether the
        outcome came."""
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if not newline:
                return False
            self._buffer = rest
            if self._booted:
                self._outcome = orjson.loads(line)
                # The child's word that it ends after this work (see `main`).
                self._retiring = bool(self._outcome.pop(RETIRING, False))
                return True
            self._booted = True

    def outcome(self) -> dict[str, Any] | None:
        """The outcome the child wrote for its work; None if it ended without one."""
        return self._outcome

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def alive(self) -> bool:
        return not (self._ended or self._retiring) and self.process.poll() is None

    def kill(self) -> None:
        """End the child and its whole process group: SIGTERM, SIGKILL if it lingers."""
        kill_group(self.process)
        self._end()

    def close(self) -> None:
        """Retire an idle child: nothing it runs is worth waiting for."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            for fd in (self._spec, self._out):
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self.process.poll() is None:
            try:
                self.process.wait(KILL_AFTER)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _importable_here() -> dict[str, str]:
    """The worker's environment, with its working directory first on PYTHONPATH: a work
    may run in a directory of its own (and start Python processes there), and its
    functions still import from the worker's."""
    importable = [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(importable)}


class Pool:
    """`size` ready children, each used for at most `recycle` works (None: until one
    fails). A child's replacement starts when the child has one work left, so it has
    booted by the next one; a child retired early (its work failed, it crashed, it was
    stopped) is replaced at once."""

    def __init__(self, size: int = 1, recycle: int | None = None) -> None:
        self.size = size
        self.recycle = recycle
        self._idle: list[Child] = []
        #: Children taken and not given back yet.
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        #: Children started so far.
        self.started = 0

    def take(self) -> Child:
        """A ready child (a new one if none is idle); OSError if none can start."""
        with self._lock:
            self._busy += 1
            while self._idle:
                # The longest idle first: a replacement just started may still be booting.
                child = self._idle.pop(0)
                if child.alive:
                    return child
                child.close()
        try:
            return self._start()
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise

    def give_back(self, child: Child, succeeded: bool) -> None:
        """Take `child` back after its work; it is kept unless the work did not succeed,
        the child ended or it has run `recycle` works."""
        spent = self.recycle is not None and child.works >= self.recycle
        kept = succeeded and child.alive and not spent
        last_ahead = kept and self.recycle is not None and child.works == self.recycle - 1
        with self._lock:
            self._busy -= 1
            if kept and not self._closed:
                self._idle.append(child)
            else:
                kept = False
            # One more than `size` while a child runs its last work.
            wanted = self.size + (1 if last_ahead else 0) - self._busy - len(self._idle)
        if not kept:
            child.close()
        if wanted > 0:
            self.fill(self.size + (1 if last_ahead else 0))

    def fill(self, count: int | None = None) -> None:
        """Start children until `count` (default `size`) are ready or busy."""
        target = self.size if count is None else count
        while True:
            with self._lock:
                if self._closed or self._busy + len(self._idle) >= target:
                    return
            try:
                child = self._start()
            except OSError:
                return  # the next `take` tries again, and its work fails if it cannot
            with self._lock:
                if not self._closed:
                    self._idle.append(child)
                    continue
            child.close()
            return

    def booted(self, seconds: float) -> None:
        """Wait up to `seconds` in all for the idle children to finish booting."""
        deadline = time.monotonic() + seconds
        with self._lock:
            idle = list(self._idle)
        for child in idle:
            if not child.booted(deadline - time.monotonic()):
                return

    def close(self) -> None:
        """Retire every idle child; children given back later are retired too."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()

    def _start(self) -> Child:
        child = Child()
        with self._lock:
            self.started += 1
        return child


def main(argv: list[str]) -> int:
    """Child entry point: run the function of each spec line from fd argv[0], writing
    each outcome as a line to fd argv[1], until the spec pipe closes."""
    from dataclasses import asdict

    specs_fd, out_fd = int(argv[0]), int(argv[1])
    # Processes a function starts must not hold the pipes: the worker sees this
    # process's end as the outcome pipe's end.
    os.set_inheritable(specs_fd, False)
    os.set_inheritable(out_fd, False)
    home = os.getcwd()
    standard = _standard_streams()
    # Booted: the worker claims works only once its children can run them.
    os.write(out_fd, READY + b"\n")
    with os.fdopen(specs_fd, "rb") as specs:
        for line in specs:
            spec = orjson.loads(line)
            try:
                if spec.get("cwd"):
                    os.chdir(spec["cwd"])
            except OSError as exc:
                outcome = Outcome.failed(f"cannot enter the work's directory: {exc}")
            else:
                outcome = call(spec)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            # The next work starts where every work starts.
            with contextlib.suppress(OSError):
                os.chdir(home)
            # A work that closed or replaced stdin, stdout or stderr would have the next
            # one print into nothing (or into a file of its own): this child retires,
            # saying so with the outcome, and the worker starts a fresh one.
            retiring = _standard_streams() != standard
            data = memoryview(orjson.dumps({**asdict(outcome), RETIRING: retiring}) + b"\n")
            while data:
                data = data[os.write(out_fd, data) :]
            if retiring:
                return 0
    return 0


def _standard_streams() -> list[tuple[int, int] | None]:
    """What fds 0-2 are (device and inode; None when closed)."""
    found: list[tuple[int, int] | None] = []
    for fd in (0, 1, 2):
        try:
            stat = os.fstat(fd)
        except OSError:
            found.append(None)
        else:
            found.append((stat.st_dev, stat.st_ino))
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
