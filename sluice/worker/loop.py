"""The Sluice worker: claim works, run them, report how each ended; repeat.

The worker runs up to `concurrency` works at once, each in a child process
(sluice.worker.runner): a function work in a pre-started pool child (sluice.worker.pool),
recycled after `recycle` works or any failure; a command in a process of its own. The
main thread claims works: as many as there are free slots plus `prefetch`, in one
request (`Buckets.withdraw_many`), each with its own lease; the slots take them best
first (highest priority, then oldest). All held leases are renewed together
(sluice.worker.leases). If the server answers that a lease is lost, or that the run was
asked to stop, the run is stopped and nothing is reported: the work is no longer the
worker's to report. A run past its `timeout` is stopped and reported as a failure
(sluice.worker.perform). Reports of finished works go several in one request, from one
thread (sluice.worker.reports): a slot does not wait for its report.

`Worker.shutdown()` (SIGTERM and SIGINT call it) ends the loop: works claimed but not
started are released at once; reports waiting to be sent go at once; running works may
finish within `grace` seconds and are reported; otherwise they are stopped and released
to the queue, their attempt not counted. A second signal skips what is left of the grace.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from sluice.buckets import Buckets
from sluice.errors import SluiceError
from sluice.experiments import Experiments
from sluice.plans.buckets import Withdrawn
from sluice.stepfiles import StepFiles
from sluice.worker.leases import Held, Leases, beat_interval
from sluice.worker.perform import Performer, Stopping
from sluice.worker.pool import Pool
from sluice.worker.presence import Backoff, Presence
from sluice.worker.reports import RETRYABLE, Reporter, finished, pause_for

__all__ = ["Filters", "Worker", "beat_interval", "finished"]

log = logging.getLogger("sluice.worker")

#: Works a pool child runs before a fresh one replaces it, unless told otherwise.
DEFAULT_RECYCLE = 100
#: Most seconds the first claim waits for the pool's children to boot.
BOOT_PATIENCE = 10.0


def default_prefetch(concurrency: int) -> int:
    """Works claimed ahead of the free slots unless told otherwise: one per slot.

    That hides the claim's round trip however many slots end at once: with none, no-op
    works ran at about 0.6 of the queue's cycle rate; at concurrency 8, one ahead ran
    them at about 0.6 of the rate eight ahead did. The cost: a work claimed ahead may
    wait behind a long one while another worker is idle."""
    return concurrency


@dataclass(frozen=True)
class Filters:
    """Which works a worker takes: the filters of `Buckets.withdraw` (None: any)."""

    pipelines: Sequence[str]
    site: str | None = None
    priority: int | None = None
    user: str | None = None
    events: Sequence[int] | None = None
    tags: Sequence[str] | None = None
    parents: Sequence[str] | None = None


#: A claimed work waiting for a slot: (-priority, creation, arrival, work, its lease).
_Waiting = tuple[int, float, int, Withdrawn, Held]


class Worker:
    """Run works from `buckets` matching `filters`, up to `concurrency` at a time.

    `lives`: stop after that many works (None: never). `sleep`: seconds to wait after
    finding the queue empty. `once`: a single claim of one work (and its run, if any).
    `grace`: seconds running works may take to finish after `shutdown()`. `prefetch`:
    works claimed ahead of the free slots (None: `default_prefetch`). `recycle`: works a
    pool child runs before it is replaced (None: until one fails). `register`: list the
    worker in the server's registry (named `name`) while it runs. `experiments`
    downloads the experiment files an extension task's command needs
    (sluice.worker.staging); `step_files` moves workfile steps' files in and out
    (sluice.worker.stepfiles). While the server is unreachable, claims are retried after
    pauses growing exponentially, with jitter (`presence.Backoff`).
    """

    def __init__(
        self,
        buckets: Buckets,
        filters: Filters,
        *,
        lives: int | None = None,
        sleep: float = 5.0,
        once: bool = False,
        grace: float = 30.0,
        concurrency: int = 1,
        prefetch: int | None = None,
        recycle: int | None = DEFAULT_RECYCLE,
        register: bool = True,
        name: str | None = None,
        experiments: Experiments | None = None,
        step_files: StepFiles | None = None,
    ) -> None:
        prefetch = default_prefetch(concurrency) if prefetch is None else prefetch
        if concurrency < 1 or prefetch < 0 or (recycle is not None and recycle < 1):
            raise ValueError("concurrency and recycle must be at least 1, prefetch at least 0")
        self.buckets = buckets
        self.filters = filters
        self.lives = lives
        self.sleep = sleep
        self.once = once
        self.concurrency = concurrency
        self.prefetch = prefetch
        #: Works run so far.
        self.done = 0
        self.stopping = Stopping(grace)
        self.pool = Pool(concurrency, recycle)
        self.leases = Leases(buckets)
        # Several: about one report per slot finishing in the same moment.
        self.reporter = Reporter(buckets, self.leases, max(2, concurrency))
        self.performer = Performer(
            buckets, self.pool, self.stopping, self.reporter, experiments, step_files
        )
        self.presence = (
            Presence(buckets, filters.pipelines, filters.site, name) if register else None
        )
        self.backoff = Backoff()
        self._waiting: list[_Waiting] = []
        self._running = 0
        self._claimed = 0
        self._no_more = False
        self._arrivals = itertools.count()
        self._changed = threading.Condition()

    def shutdown(self) -> None:
        """Stop taking work; let the running ones finish within `grace`. Called a
        second time, stop them now."""
        self.stopping.ask()
        self.reporter.flush()
        with self._changed:
            self._changed.notify_all()

    def run(self) -> int:
        """Take and run works until `lives`, `once` or `shutdown()` ends the loop;
        returns how many works were run. With `once`, a failed claim raises;
        otherwise the worker waits and tries again."""
        with self._signals():
            if self.presence is not None:
                self.presence.start()
            self.leases.start()
            self.reporter.start()
            slots = [
                threading.Thread(target=self._slot, name=f"sluice-slot-{n}", daemon=True)
                for n in range(self.concurrency)
            ]
            try:
                self.pool.fill(min(self.concurrency, self.lives or self.concurrency))
                for slot in slots:
                    slot.start()
                # No work is claimed before a child can run it: a work claimed while the
                # children boot would wait, holding its lease, while others might run it.
                self.pool.booted(BOOT_PATIENCE)
                self._claim_loop()
            finally:
                with self._changed:
                    self._no_more = True
                    self._changed.notify_all()
                for slot in slots:
                    if slot.is_alive():
                        slot.join()
                self._release_waiting()
                self.pool.close()
                # Every report is sent before the leases stop being renewed.
                self.reporter.stop()
                self.leases.stop()
                if self.presence is not None:
                    self.presence.stop()
        return self.done

    def _claim_loop(self) -> None:
        while not self.stopping.is_set():
            with self._changed:
                while not self.stopping.is_set() and self._wanted() == 0 and not self._spent():
                    self._changed.wait()
                if self.stopping.is_set() or self._spent():
                    return
                wanted = self._wanted()
            try:
                claimed = self._withdraw(1 if self.once else wanted)
            except SluiceError as exc:
                if self.once or not isinstance(exc, RETRYABLE):
                    raise
                pause = pause_for(exc, self.backoff.next())
                log.warning("withdraw failed, retrying in %.1fs: %s", pause, exc)
                self.stopping.event.wait(pause)
                continue
            self.backoff.reset()
            with self._changed:
                for work, lease in claimed:
                    held = self.leases.hold(work, lease)
                    key = (-int(work.get("priority") or 0), float(work.get("creation") or 0))
                    entry = (*key, next(self._arrivals), Withdrawn(work, lease), held)
                    heapq.heappush(self._waiting, entry)
                self._claimed += len(claimed)
                self._changed.notify_all()
            if self.once:
                return
            if not claimed:
                self.stopping.event.wait(self.sleep)

    def _wanted(self) -> int:
        """Works to claim now: free slots plus prefetch, less those claimed and waiting,
        within what is left of `lives`."""
        room = self.concurrency + self.prefetch - self._running - len(self._waiting)
        if self.lives is not None:
            room = min(room, self.lives - self._claimed)
        return max(0, room)

    def _spent(self) -> bool:
        return self.lives is not None and self._claimed >= self.lives

    def _withdraw(self, limit: int) -> list[Withdrawn]:
        f = self.filters
        return self.buckets.withdraw_many(
            f.pipelines,
            limit,
            site=f.site,
            priority=f.priority,
            user=f.user,
            event=f.events,
            tags=f.tags,
            parent=f.parents,
        )

    def _slot(self) -> None:
        """One slot: run waiting works, best first, until there are none to come.

        A slot ends only once no work runs in any slot: the kernel kills the children
        a thread started when it ends, and another slot may be using one of them."""
        while True:
            with self._changed:
                while True:
                    if self._waiting and not self.stopping.is_set():
                        *_, claimed, held = heapq.heappop(self._waiting)
                        self._running += 1
                        break
                    if (self._no_more or self.stopping.is_set()) and self._running == 0:
                        return
                    self._changed.wait()
            if self.presence is not None:
                self.presence.started(claimed.work)
            handed = False
            try:
                handed = self.performer.perform(claimed, held)
            except Exception:
                # A slot outlives whatever one work does to it.
                log.exception("work %s: the worker failed to run it", claimed.work.get("id"))
            finally:
                if not handed:
                    self.leases.drop(held)
                if self.presence is not None:
                    self.presence.ended(claimed.work)
                with self._changed:
                    self._running -= 1
                    self.done += 1
                    self._changed.notify_all()

    def _release_waiting(self) -> None:
        """Give back the works claimed but never started."""
        with self._changed:
            waiting, self._waiting = self._waiting, []
        for *_, (work, lease), held in waiting:
            verdict = self.performer.release(work, lease)
            self.leases.drop(held)
            log.info("work %s pipeline=%s %s", work.get("id"), work.get("pipeline"), verdict)

    @contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("received %s: finishing up", signal.Signals(signum).name)
            self.shutdown()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
