"""One claimed work's life in the worker: stage its files, run it, watch it, report it.

`Performer.perform` runs a work in a child process (a pool child for a function), checks
it every `TICK` against its timeout, its lease (sluice.worker.leases) and the worker's
shutdown (`Stopping`), then hands the outcome to the reporter (sluice.worker.reports,
which sends it with the lease), releases the work, or drops it when the lease is lost.
It logs one line per work, once its report is settled.
"""

from __future__ import annotations

import logging
import threading
import time

from sluice.buckets import Buckets
from sluice.core.plan import Document
from sluice.errors import Conflict, SluiceError
from sluice.experiments import Experiments
from sluice.plans.buckets import Withdrawn
from sluice.stepfiles import StepFiles
from sluice.worker import runner, staging, stepfiles
from sluice.worker.leases import Held
from sluice.worker.pool import Child, Pool
from sluice.worker.reports import Reporter

log = logging.getLogger("sluice.worker")

#: Seconds between checks on a running work (its end is seen at once).
TICK = 0.1


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
        reporter: Reporter,
        experiments: Experiments | None = None,
        step_files: StepFiles | None = None,
    ) -> None:
        self.buckets = buckets
        self.pool = pool
        self.stopping = stopping
        #: Sends the reports of finished works, several at a time.
        self.reporter = reporter
        #: Downloads the experiment files a work asks for (sluice.worker.staging).
        self.experiments = experiments
        #: Moves workfile steps' files in and out (sluice.worker.stepfiles).
        self.step_files = step_files

    def perform(self, claimed: Withdrawn, held: Held) -> bool:
        """Run one claimed work to its end and hand its report to the reporter (or
        release it, or drop it when the lease is lost); logs one line. True when the
        report was handed over: the reporter drops `held` once it is sent; otherwise
        the caller drops it."""
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

        def settled(recorded: runner.Outcome | None) -> None:
            said: str = "not recorded" if recorded is None else recorded.status
            if recorded is not None and recorded.status == "failure" and recorded.results:
                said += f" ({str(recorded.results.get('error'))[:200]})"
            self._log(work, said, elapsed)

        if outcome is not None:
            self.reporter.submit(work, lease, outcome, held, settled)
            return True
        self._log(work, verdict, elapsed)
        return False

    @staticmethod
    def _log(work: Document, verdict: str, elapsed: float) -> None:
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
