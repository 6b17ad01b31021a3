"""The Sluice worker: withdraw a work, run it, report how it ended; repeat.

While a work runs (sluice.worker.runner) the worker renews its lease every `timeout / 3`
seconds (at most every `MAX_BEAT`). If the server answers that the lease is lost, or
that the run was asked to stop, the worker stops the run and reports nothing: the work
is no longer its to report. A run past its `timeout` is stopped and reported as a
failure.

`Worker.shutdown()` (SIGTERM and SIGINT call it) ends the loop: a running work may
finish within `grace` seconds and is reported; otherwise it is stopped and released to
the queue, its attempt not counted. A second signal skips what is left of the grace.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from sluice.buckets import Buckets
from sluice.core.plan import Document
from sluice.errors import APIError, Conflict, ServerError, SluiceError, TransportError
from sluice.experiments import Experiments
from sluice.plans.buckets import Withdrawn
from sluice.stepfiles import StepFiles
from sluice.worker import runner, staging, stepfiles
from sluice.worker.presence import Backoff, Presence

log = logging.getLogger("sluice.worker")

#: Longest pause between heartbeats, in seconds, so a stop request is seen soon.
MAX_BEAT = 30.0
#: Seconds between checks on a running work.
TICK = 0.1
#: Seconds the worker keeps retrying a report the server could not take.
REPORT_PATIENCE = 30.0

#: Errors worth retrying: the server was unreachable or failed, not the request.
RETRYABLE = (TransportError, ServerError)


def beat_interval(timeout: float) -> float:
    """Seconds between heartbeats for a work with this `timeout`."""
    return min(timeout / 3, MAX_BEAT)


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


class Worker:
    """Run works from `buckets` matching `filters`, one at a time.

    `lives`: stop after that many works (None: never). `sleep`: seconds to wait after
    finding the queue empty. `once`: a single withdraw attempt (and its work, if any).
    `grace`: seconds a running work may take to finish after `shutdown()`. `register`:
    list the worker in the server's registry (named `name`) while it runs.
    `experiments` downloads the experiment files an extension task's command needs
    (sluice.worker.staging). While the server is unreachable, withdraws are retried
    after pauses growing exponentially, with jitter (`presence.Backoff`).
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
        register: bool = True,
        name: str | None = None,
        experiments: Experiments | None = None,
        step_files: StepFiles | None = None,
    ) -> None:
        self.buckets = buckets
        self.filters = filters
        self.lives = lives
        self.sleep = sleep
        self.once = once
        self.grace = grace
        #: Works run so far.
        self.done = 0
        self._stopping = threading.Event()
        self._stop_asked: float | None = None
        self._hurry = False
        self.presence = (
            Presence(buckets, filters.pipelines, filters.site, name) if register else None
        )
        self.backoff = Backoff()
        #: Downloads the experiment files a work asks for (sluice.worker.staging).
        self.experiments = experiments
        #: Moves workfile steps' files in and out (sluice.worker.stepfiles).
        self.step_files = step_files

    def shutdown(self) -> None:
        """Stop taking work; let the running one finish within `grace`. Called a
        second time, stop the running work now."""
        if self._stopping.is_set():
            self._hurry = True
            return
        self._stop_asked = time.monotonic()
        self._stopping.set()

    def run(self) -> int:
        """Take and run works until `lives`, `once` or `shutdown()` ends the loop;
        returns how many works were run. With `once`, a failed withdraw raises;
        otherwise the worker waits `sleep` and tries again."""
        with self._signals():
            if self.presence is not None:
                self.presence.start()
            try:
                self._loop()
            finally:
                if self.presence is not None:
                    self.presence.stop()
        return self.done

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._withdraw()
            except SluiceError as exc:
                if self.once or not isinstance(exc, RETRYABLE):
                    raise
                pause = self.backoff.next()
                log.warning("withdraw failed, retrying in %.1fs: %s", pause, exc)
                self._stopping.wait(pause)
                continue
            self.backoff.reset()
            if claimed is not None:
                if self.presence is not None:
                    self.presence.running(claimed.work)
                self.perform(claimed)
                self.done += 1
                if self.presence is not None:
                    self.presence.running(None)
            if self.once or (self.lives is not None and self.done >= self.lives):
                break
            if claimed is None:
                self._stopping.wait(self.sleep)

    def _withdraw(self) -> Withdrawn | None:
        f = self.filters
        return self.buckets.withdraw(
            f.pipelines,
            site=f.site,
            priority=f.priority,
            user=f.user,
            event=f.events,
            tags=f.tags,
            parent=f.parents,
        )

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

    def perform(self, claimed: Withdrawn) -> None:
        """Run one claimed work to its end and report it (or release it, or drop it
        when the lease is lost); logs one line."""
        work, lease = claimed
        # First: the grant must never be reported back with the work.
        work, granted = staging.take_grant(work)
        started = time.monotonic()
        run: runner.Run
        staged = staging.Staged()
        try:
            staged = staging.stage(work, self.experiments)
            stepfiles.stage(work, lease, staged, self.step_files)
        except staging.StagingError as exc:
            run = runner.NotStarted(work, str(exc))
        else:
            staged.variables.update(granted)
            run = runner.start(work, staged)
        outcome: runner.Outcome | None = None
        try:
            verdict = self._watch(run, work, lease, started)
            if verdict == "ended":
                # Outputs go up before the report, while the lease is still held.
                outcome = stepfiles.deliver(work, lease, staged, run.outcome(), self.step_files)
        finally:
            staged.cleanup()
        elapsed = time.monotonic() - started
        if outcome is not None:
            recorded = self._report(work, lease, outcome)
            verdict = "not recorded" if recorded is None else recorded.status
            if recorded is not None and recorded.status == "failure" and recorded.results:
                verdict += f" ({str(recorded.results.get('error'))[:200]})"
        log.info(
            "work %s pipeline=%s attempt=%s %s in %.2fs",
            work.get("id"),
            work.get("pipeline"),
            work.get("attempt"),
            verdict,
            elapsed,
        )

    def _watch(self, run: runner.Run, work: Document, lease: str, started: float) -> str:
        """Wait for `run` while heartbeating; "ended" when it ended (or timed out),
        else what happened instead."""
        timeout = float(work.get("timeout") or 3600)
        interval = beat_interval(timeout)
        next_beat = started + interval
        while not run.wait(TICK):
            now = time.monotonic()
            if self._stop_asked is not None and (
                self._hurry or now - self._stop_asked > self.grace
            ):
                run.stop()
                return self._release(work, lease)
            if now - started > timeout:
                run.stop(timed_out=True)
                return "ended"
            if now < next_beat:
                continue
            try:
                beat = self.buckets.heartbeat(work["id"], lease)
            except Conflict:
                run.stop()
                return "stopped: lease lost"
            except SluiceError as exc:
                # The lease outlives a short outage; the next beat may get through.
                log.warning("heartbeat for work %s failed: %s", work.get("id"), exc)
                next_beat = now + min(interval, 1.0)
                continue
            if beat.stop:
                run.stop()
                return "stopped: asked to stop"
            next_beat = now + interval
        return "ended"

    def _grace_over(self, now: float) -> bool:
        if self._stop_asked is None:
            return False
        return self._hurry or now - self._stop_asked > self.grace

    def _release(self, work: Document, lease: str) -> str:
        try:
            self.buckets.release(work["id"], lease)
        except Conflict:
            return "stopped at shutdown: lease already lost"
        except SluiceError as exc:
            return f"stopped at shutdown; release failed ({exc}), the lease will lapse"
        return "released at shutdown"

    def _report(self, work: Document, lease: str, outcome: runner.Outcome) -> runner.Outcome | None:
        """PUT the finished work; the outcome the server recorded, None if none."""
        deadline = time.monotonic() + REPORT_PATIENCE
        substituted = False
        while True:
            try:
                self.buckets.update([finished(work, outcome)], lease=lease)
                return outcome
            except Conflict:
                return None
            except RETRYABLE as exc:
                if time.monotonic() > deadline:
                    log.error("giving up reporting work %s: %s", work.get("id"), exc)
                    return None
                time.sleep(1.0)
            except APIError as exc:
                if substituted:
                    log.error("work %s: report refused: %s", work.get("id"), exc)
                    return None
                # The outcome itself was refused (too large, invalid): record why instead.
                substituted = True
                work = {**work, "results": None, "products": None, "plots": None}
                outcome = runner.Outcome.failed(f"the report was refused: {exc}")


def finished(work: Document, outcome: runner.Outcome) -> Document:
    """`work` as reported: status, stop time, and the outcome merged in as the
    `workflow` client merges it (results updated, products and plots appended). A
    permanent failure is reported with `retries` lowered to `attempt`."""
    report = dict(work)
    report["status"] = outcome.status
    if outcome.permanent:
        # No retry left: the server's retrier, `workflow audit` and the mover all read
        # this as final, and the results say why.
        report["retries"] = min(work.get("retries") or 0, work.get("attempt") or 0)
    report["stop"] = time.time()
    if outcome.results:
        report["results"] = {**(work.get("results") or {}), **outcome.results}
    for name in ("products", "plots"):
        added = getattr(outcome, name)
        if added:
            report[name] = [*(work.get(name) or []), *added]
    return report
