"""Concurrent workers for the queue benchmark: N threads, started together, each running
one cycle after another until a shared budget of cycles or of time is spent."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass

#: One cycle of one worker; False when there was nothing left to do.
Cycle = Callable[[], bool]
#: Opens one worker's resources (say, its HTTP connection) and hands out its cycle.
OpenWorker = Callable[[], AbstractContextManager[Cycle]]


@dataclass(frozen=True)
class Race:
    """What a run of concurrent workers did."""

    workers: int
    cycles: int
    seconds: float
    #: Why the run ended: "cycles", "time" or "queue empty".
    ended: str

    @property
    def per_second(self) -> float:
        return self.cycles / self.seconds if self.seconds else math.nan


def race(open_worker: OpenWorker, workers: int, cycles: int, seconds: float) -> Race:
    """Run `workers` threads of cycles until `cycles` cycles are done, `seconds` have
    passed or a cycle finds nothing to do. Timed from the moment every worker is ready
    (resources opened) to the end of the last cycle; cycles under way at the deadline
    finish and count. Raises the first error a worker raised."""
    lock = threading.Lock()
    failed = threading.Event()
    taken = 0
    clock: dict[str, float] = {}

    def start() -> None:
        clock["start"] = time.perf_counter()
        clock["deadline"] = clock["start"] + seconds

    barrier = threading.Barrier(workers, action=start)

    def take() -> bool:
        nonlocal taken
        with lock:
            if taken >= cycles or failed.is_set() or time.perf_counter() >= clock["deadline"]:
                return False
            taken += 1
            return True

    def work() -> tuple[int, float, bool]:
        done = 0
        try:
            with open_worker() as cycle:
                barrier.wait()
                while take():
                    if not cycle():
                        return done, time.perf_counter(), True
                    done += 1
                return done, time.perf_counter(), False
        except BaseException:
            failed.set()
            barrier.abort()
            raise

    with ThreadPoolExecutor(workers, thread_name_prefix="bench-worker") as pool:
        futures = [pool.submit(work) for _ in range(workers)]
        errors = [future.exception() for future in futures]
    for error in errors:
        # A worker that failed broke the barrier of the others: raise its own error.
        if error is not None and not isinstance(error, threading.BrokenBarrierError):
            raise error
    results = [future.result() for future in futures]
    done = sum(count for count, _, _ in results)
    if any(empty for _, _, empty in results):
        ended = "queue empty"
    else:
        ended = "cycles" if done >= cycles else "time"
    return Race(workers, done, max(end for _, end, _ in results) - clock["start"], ended)


def merge(parts: list[Race]) -> Race:
    """Runs of the same workers taken together: their cycles over their seconds."""
    ended = sorted({part.ended for part in parts})
    return Race(
        parts[0].workers,
        sum(part.cycles for part in parts),
        sum(part.seconds for part in parts),
        ", ".join(ended),
    )
