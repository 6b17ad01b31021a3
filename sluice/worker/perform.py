"""One claimed work's life in the worker: stage its files, run it, watch it, report it.

`Performer.perform` runs a work in a child process (a pool child for a function), checks
it every `TICK` against its timeout, its lease (sluice.worker.leases) and the worker's
shutdown (`Stopping`), then reports the outcome with the lease, releases the work, or
drops it when the lease is lost. It logs one line per work.
"""

from __future__ import annotations

import logging
import threading
import time

from sluice.buckets import Buckets
from sluice.core.plan import Document
from sluice.errors import APIError, Conflict, ServerError, SluiceError, TransportError
from sluice.experiments import Experiments
from sluice.plans.buckets import Withdrawn
from sluice.stepfiles import StepFiles
from sluice.worker import runner, staging, stepfiles
from sluice.worker.leases import Held
from sluice.worker.pool import Child, Pool

log = logging.getLogger("sluice.worker")

#: Seconds between checks on a running work (its end is seen at once).
TICK = 0.1
#: Seconds the worker keeps retrying a report the server could not take.
REPORT_PATIENCE = 30.0

#: Errors worth retrying: the server was unreachable or failed, not the request.
RETRYABLE = (TransportError, ServerError)


class Stopping:
    """The worker's shutdown: asked once, running works get `grace` seconds; asked
    again, none."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.event = threading.Event()
        self._asked: float | None = None
        self._hurry = False

    def ask(self) -> None:
        if self.event.is_set():
            self._hurry = True
            return
        self._asked = time.monotonic()
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def grace_over(self, now: float) -> bool:
        """Whether a running work must be stopped now."""
        if self._asked is None:
            return False
        return self._hurry or now - self._asked > self.grace


class Performer:
    """Runs claimed works for a worker: its client, children and shutdown state."""

    def __init__(
        self,
        buckets: Buckets,
        pool: Pool,
        stopping: Stopping,
        experiments: Experiments | None = None,
        step_files: StepFiles | None = None,
    ) -> None:
        self.buckets = buckets
        self.pool = pool
        self.stopping = stopping
        #: Downloads the experiment files a work asks for (sluice.worker.staging).
        self.experiments = experiments
        #: Moves workfile steps' files in and out (sluice.worker.stepfiles).
        self.step_files = step_files

    def perform(self, claimed: Withdrawn, held: Held) -> None:
        """Run one claimed work to its end and report it (or release it, or drop it
        when the lease is lost); logs one line."""
        work, lease = claimed
        # First: the grant must never be reported back with the work.
        work, granted = staging.take_grant(work)
        started = time.monotonic()
        child: Child | None = None
        run: runner.Run
        staged = staging.Staged()
        try:
            staged = staging.stage(work, self.experiments)
            stepfiles.stage(work, lease, staged, self.step_files)
        except staging.StagingError as exc:
            run = runner.NotStarted(work, str(exc))
        else:
            staged.variables.update(granted)
            try:
                child = self.pool.take() if work.get("function") else None
            except OSError as exc:
                run = runner.NotStarted(work, f"cannot start the work: {exc}")
            else:
                run = runner.start(work, staged, child)
        outcome: runner.Outcome | None = None
        try:
            verdict = self._watch(run, work, lease, held, started)
            if verdict == "ended":
                ran = run.outcome()
                if child is not None:
                    # Given back before the report: a replacement boots while it is sent.
                    self.pool.give_back(child, ran.status == "success")
                    child = None
                # Outputs go up before the report, while the lease is still held.
                outcome = stepfiles.deliver(work, lease, staged, ran, self.step_files)
        finally:
            staged.cleanup()
            if child is not None:
                self.pool.give_back(child, False)
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

    def _watch(
        self, run: runner.Run, work: Document, lease: str, held: Held, started: float
    ) -> str:
        """Wait for `run`; "ended" when it ended (or timed out), else what happened
        instead."""
        timeout = float(work.get("timeout") or 3600)
        while not run.wait(TICK):
            now = time.monotonic()
            if self.stopping.grace_over(now):
                run.stop()
                return self.release(work, lease)
            if now - started > timeout:
                run.stop(timed_out=True)
                return "ended"
            if held.lost:
                run.stop()
                return "stopped: lease lost"
            if held.stop:
                run.stop()
                return "stopped: asked to stop"
        return "ended"

    def release(self, work: Document, lease: str) -> str:
        """Give `work` back to the queue unfinished; what happened, for the log."""
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
