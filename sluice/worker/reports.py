"""The worker's reports of finished works, several in one request, from one thread.

A slot hands its finished work to the `Reporter` and goes on to the next work; the
reporter sends the reports that are waiting in one `POST /buckets/work/reports`
(`Buckets.report_many`) once `several` are, or `REPORT_DELAY` seconds after the first of
them finished, whichever comes first, and at once when the worker shuts down. The cost:
a report reaches the server up to `REPORT_DELAY` seconds later than it would alone (its
`stop` time is still when the work ended), and its lease is renewed until the report is
sent (the work's `Held` is dropped only then), so a lost lease is still judged by the
server. What it buys: one request per batch instead of one per work.

A batch the server could not take (unreachable, 5xx) is sent again every second for up
to `REPORT_PATIENCE` seconds. A server older than that route (404 or 405 for it) gets one
`PUT /buckets/work` per work from then on, sent as soon as it is handed over; so does
every report of a batch the server refused as a whole (too large, an outcome it
rejects, ...): `report_one`, which records why an outcome was refused instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sluice.buckets import Buckets
from sluice.core.plan import Document
from sluice.errors import (
    APIError,
    Conflict,
    RateLimited,
    ServerError,
    SluiceError,
    TransportError,
)
from sluice.worker import runner
from sluice.worker.leases import Held, Leases

log = logging.getLogger("sluice.worker")

#: Most seconds a finished work's report waits for others to go in the same request.
REPORT_DELAY = 0.05
#: Most reports per request (within the server's SLUICE_MAX_BATCH, 1000 by default).
REPORTS_PER_REQUEST = 100
#: Seconds the worker keeps retrying a report the server could not take.
REPORT_PATIENCE = 30.0
#: Seconds before a batch the server could not take is sent again.
RETRY_PAUSE = 1.0
#: Errors worth retrying: the server was unreachable, failed or asked to slow down
#: (429: never a verdict on the request, so never a reason to record a failure).
RETRYABLE = (TransportError, ServerError, RateLimited)

#: Statuses of a server that has no `POST /work/reports`.
NO_ROUTE = frozenset({404, 405})

#: Called once a report is settled: the outcome the server recorded, None if none.
Settled = Callable[[runner.Outcome | None], None]


def pause_for(exc: SluiceError, pause: float) -> float:
    """`pause` seconds, or longer if `exc` is a 429 whose Retry-After says so."""
    asked = exc.retry_after if isinstance(exc, RateLimited) else None
    return pause if asked is None else max(pause, asked)


@dataclass(eq=False)
class _Pending:
    work: Document
    lease: str
    outcome: runner.Outcome
    held: Held
    settled: Settled
    since: float = field(default_factory=time.monotonic)
    #: The report's `stop`: when the work ended, not when its report is sent.
    ended: float = field(default_factory=time.time)


class Reporter:
    """Send finished works' reports in batches; `start()`, `submit()` each finished
    work, `flush()` to send what waits now, `stop()` to send everything and end."""

    def __init__(self, buckets: Buckets, leases: Leases, several: int) -> None:
        self.buckets = buckets
        self.leases = leases
        self.several = max(1, several)
        self._pending: list[_Pending] = []
        self._changed = threading.Condition()
        self._hurry = False
        self._stopped = False
        self._batched = True
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sluice-reports", daemon=True)
        self._thread.start()

    def submit(
        self, work: Document, lease: str, outcome: runner.Outcome, held: Held, settled: Settled
    ) -> None:
        """Report `work` as ended with `outcome`, holding `lease` (renewed through
        `held` until sent, then dropped); `settled` is called from the reporter's
        thread with what the server recorded."""
        with self._changed:
            self._pending.append(_Pending(work, lease, outcome, held, settled))
            self._changed.notify_all()

    def flush(self) -> None:
        """Send what is waiting now, and every later report at once."""
        with self._changed:
            self._hurry = True
            self._changed.notify_all()

    def stop(self) -> None:
        """Send every waiting report, then end the thread."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._stopped:
                    self._changed.wait()
                if not self._pending:
                    return
                due = self._pending[0].since + REPORT_DELAY
                while (
                    self._batched
                    and len(self._pending) < self.several
                    and not (self._hurry or self._stopped)
                ):
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                batch = self._pending[:REPORTS_PER_REQUEST]
                del self._pending[:REPORTS_PER_REQUEST]
            try:
                self._send(batch)
            except Exception:
                # The thread outlives whatever one batch does to it.
                log.exception("reporting %d work(s) failed", len(batch))
                for item in batch:
                    self._settle(item, None)

    def _send(self, batch: list[_Pending]) -> None:
        if self._batched and len(batch) > 1:
            try:
                reports = [(finished(p.work, p.outcome, p.ended), p.lease) for p in batch]
                answers = self.buckets.report_many(reports)
            except RETRYABLE as exc:  # before APIError: a 5xx or 429 is one too
                self._again(batch, exc)
                return
            except APIError as exc:
                if exc.status_code in NO_ROUTE:
                    log.info("the server has no batched reports; reporting one by one")
                    self._batched = False
                else:
                    log.warning("batched report refused (%s); reporting one by one", exc)
            else:
                for item, answer in zip(batch, answers, strict=True):
                    if not answer.recorded and answer.error and answer.error.code != "conflict":
                        log.error("work %s: report refused: %s", item.work.get("id"), answer.error)
                    self._settle(item, item.outcome if answer.recorded else None)
                return
        for item in batch:
            # Patience counted from when the work ended: a batch reported one by one
            # while the server is down is given up together, not one after another.
            deadline = item.since + REPORT_PATIENCE
            recorded = report_one(
                self.buckets, item.work, item.lease, item.outcome, item.ended, deadline
            )
            self._settle(item, recorded)

    def _again(self, batch: list[_Pending], exc: SluiceError) -> None:
        """Put `batch` back to be sent after a pause, unless its first report has waited
        REPORT_PATIENCE already: then give them all up."""
        if time.monotonic() - batch[0].since > REPORT_PATIENCE:
            log.error("giving up reporting %d work(s): %s", len(batch), exc)
            for item in batch:
                self._settle(item, None)
            return
        log.warning("reporting %d work(s) failed, retrying: %s", len(batch), exc)
        time.sleep(pause_for(exc, RETRY_PAUSE))
        with self._changed:
            self._pending[:0] = batch

    def _settle(self, item: _Pending, recorded: runner.Outcome | None) -> None:
        self.leases.drop(item.held)
        item.settled(recorded)


def report_one(
    buckets: Buckets,
    work: Document,
    lease: str,
    outcome: runner.Outcome,
    ended: float | None = None,
    deadline: float | None = None,
) -> runner.Outcome | None:
    """PUT the finished work alone (its `stop`: `ended`, else now); the outcome the
    server recorded, None if none (the lease was lost, or the server could not take it
    by `deadline`, a `time.monotonic()`, else within REPORT_PATIENCE). An outcome the
    server refuses (too large, invalid) is replaced by a failure saying why."""
    if deadline is None:
        deadline = time.monotonic() + REPORT_PATIENCE
    substituted = False
    while True:
        try:
            buckets.update([finished(work, outcome, ended)], lease=lease)
            return outcome
        except Conflict:
            return None
        except RETRYABLE as exc:
            if time.monotonic() > deadline:
                log.error("giving up reporting work %s: %s", work.get("id"), exc)
                return None
            time.sleep(pause_for(exc, RETRY_PAUSE))
        except APIError as exc:
            if substituted:
                log.error("work %s: report refused: %s", work.get("id"), exc)
                return None
            # The outcome itself was refused (too large, invalid): record why instead.
            substituted = True
            work = {**work, "results": None, "products": None, "plots": None}
            outcome = runner.Outcome.failed(f"the report was refused: {exc}")


def finished(work: Document, outcome: runner.Outcome, ended: float | None = None) -> Document:
    """`work` as reported: status, stop time (`ended`, else now), and the outcome merged in as the
    `workflow` client merges it (results updated, products and plots appended). A
    permanent failure is reported with `retries` lowered to `attempt`."""
    report = dict(work)
    report["status"] = outcome.status
    if outcome.permanent:
        # No retry left: the server's retrier, `workflow audit` and the mover all read
        # this as final, and the results say why.
        report["retries"] = min(work.get("retries") or 0, work.get("attempt") or 0)
    report["stop"] = time.time() if ended is None else ended
    if outcome.results:
        report["results"] = {**(work.get("results") or {}), **outcome.results}
    for name in ("products", "plots"):
        added = getattr(outcome, name)
        if added:
            report[name] = [*(work.get(name) or []), *added]
    return report
