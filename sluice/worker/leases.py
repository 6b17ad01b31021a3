"""The leases a worker holds, renewed together from one thread.

Every work the worker holds (running, or claimed ahead and waiting for a free slot) is
a `Held` lease. The `Leases` thread renews each every `beat_interval(timeout)` seconds;
the leases due at the same moment go in one request (`Buckets.heartbeats`), so a worker
running many short works sends about one heartbeat request per interval, not one per
work. The answer marks a lease `lost` (the server no longer has it held by us) or
`stop` (the run was asked to stop); whoever runs the work reads those flags. A failed
request is retried within a second: a lease outlives a short outage.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sluice.buckets import Buckets
from sluice.core.plan import Document
from sluice.errors import SluiceError

log = logging.getLogger("sluice.worker")

#: Longest pause between heartbeats, in seconds, so a stop request is seen soon.
MAX_BEAT = 30.0
#: Seconds before a heartbeat that could not be sent is tried again (at most).
RETRY_BEAT = 1.0


def beat_interval(timeout: float) -> float:
    """Seconds between heartbeats for a work with this `timeout`."""
    return min(timeout / 3, MAX_BEAT)


@dataclass(eq=False)
class Held:
    """One held lease and what the server last said of it."""

    work_id: str
    lease: str
    interval: float
    next_beat: float
    #: The server no longer holds the work for this lease: stop and report nothing.
    lost: bool = False
    #: The run was asked to stop.
    stop: bool = False
    changed: threading.Event = field(default_factory=threading.Event)


class Leases:
    """The worker's held leases; `start()`, `hold()` each claimed work, `drop()` it once
    reported or released, `stop()`."""

    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets
        self._held: dict[int, Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, work: Document, lease: str) -> Held:
        """Track the lease of a work just claimed; the first beat is due after one
        interval."""
        interval = beat_interval(float(work.get("timeout") or 3600))
        held = Held(str(work["id"]), lease, interval, time.monotonic() + interval)
        with self._lock:
            self._held[id(held)] = held
        self._wake.set()
        return held

    def drop(self, held: Held) -> None:
        """Stop renewing `held` (its work was reported or released)."""
        with self._lock:
            self._held.pop(id(held), None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sluice-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            now = time.monotonic()
            with self._lock:
                due = [h for h in self._held.values() if h.next_beat <= now]
                upcoming = [h.next_beat for h in self._held.values() if h.next_beat > now]
            if due:
                self._beat(due)
                continue
            self._wake.wait(max(0.0, min(upcoming, default=now + MAX_BEAT) - now))
            self._wake.clear()

    def _beat(self, due: list[Held]) -> None:
        now = time.monotonic()
        try:
            answers = self.buckets.heartbeats([(h.work_id, h.lease) for h in due])
        except SluiceError as exc:
            log.warning("heartbeat for %d work(s) failed: %s", len(due), exc)
            for held in due:
                held.next_beat = now + min(held.interval, RETRY_BEAT)
            return
        for held, answer in zip(due, answers, strict=True):
            held.next_beat = now + held.interval
            if answer is None:
                held.lost = True
            elif answer.stop:
                held.stop = True
            else:
                continue
            held.changed.set()
