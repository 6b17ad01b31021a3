"""The worker's reporter (sluice.worker.reports) against the live service: reports of
finished works go several in one request, each settled on its own, and one by one to a
server without the batched route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.buckets import ReportOutcome
from sluice import Buckets, Work
from sluice.core.plan import Call, Plan
from sluice.plans import buckets as plans
from sluice.plans.buckets import Withdrawn
from sluice.worker.leases import Leases
from sluice.worker.reports import Reporter
from sluice.worker.runner import Outcome
from tests.sluice.buckets.conftest import job, wait_for

Reports = Sequence[tuple[Work | Mapping[str, Any], str]]


class Counting(Buckets):
    """The SDK, counting the report requests it sends."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.batches: list[int] = []
        self.singles = 0

    def report_many(self, reports: Reports) -> list[ReportOutcome]:
        self.batches.append(len(reports))
        return super().report_many(reports)

    def update(self, works: Any, lease: str | None = None) -> bool:
        self.singles += 1
        return super().update(works, lease)


class Older(Counting):
    """The SDK talking to a server older than `POST /work/reports`: the request goes to
    a path the server does not route, and the server's own answer comes back."""

    def report_many(self, reports: Reports) -> list[ReportOutcome]:
        self.batches.append(len(reports))
        return self._run(_unrouted(plans.report_many(reports)))


def _unrouted(plan: Plan[list[ReportOutcome]]) -> Plan[list[ReportOutcome]]:
    call = next(plan)
    assert isinstance(call, Call)
    answer = yield Call(call.method, call.path + "-not-here", json=call.json)
    plan.send(answer)
    raise AssertionError("the server answered a route it does not have")


def claim(buckets: Buckets, pipeline: str, count: int) -> list[Withdrawn]:
    buckets.deposit([job(pipeline, "noop") for _ in range(count)])
    claimed = buckets.withdraw_many(pipeline, count, site="local")
    assert len(claimed) == count
    return claimed


def report_all(
    buckets: Buckets, claimed: list[Withdrawn], several: int
) -> tuple[list[Outcome | None], Leases]:
    """Hand every claimed work to a reporter as a success, then start and stop it."""
    leases = Leases(buckets)
    reporter = Reporter(buckets, leases, several)
    settled: list[Outcome | None] = []
    for work, lease in claimed:
        held = leases.hold(work, lease)
        reporter.submit(work, lease, Outcome("success"), held, settled.append)
    reporter.start()
    reporter.stop()
    return settled, leases


def statuses(buckets: Buckets, claimed: list[Withdrawn]) -> list[Any]:
    ids = [c.work["id"] for c in claimed]
    found = {w["id"]: w["status"] for w in buckets.view({"id": {"$in": ids}})}
    return [found[i] for i in ids]


def test_several_reports_go_in_one_request(base_url: str, pipeline: str) -> None:
    with Counting(base_url) as buckets:
        claimed = claim(buckets, pipeline, 4)
        gone = claimed[1]
        buckets.release(gone.work["id"], gone.lease)
        settled, leases = report_all(buckets, claimed, several=4)
        assert buckets.batches == [4] and buckets.singles == 0
        assert [s is not None for s in settled] == [True, False, True, True]
        assert statuses(buckets, claimed) == ["success", "queued", "success", "success"]
        assert not leases._held, "every lease is dropped once its report is settled"


def test_stopping_sends_what_waits(base_url: str, pipeline: str) -> None:
    with Counting(base_url) as buckets:
        claimed = claim(buckets, pipeline, 2)
        # Fewer than `several`, and stopped at once: sent together without waiting.
        settled, _ = report_all(buckets, claimed, several=50)
        assert buckets.batches == [2] and all(s is not None for s in settled)
        assert statuses(buckets, claimed) == ["success", "success"]


def test_an_older_server_gets_one_report_per_work(base_url: str, pipeline: str) -> None:
    with Older(base_url) as buckets:
        claimed = claim(buckets, pipeline, 4)
        leases = Leases(buckets)
        reporter = Reporter(buckets, leases, 2)
        settled: list[Outcome | None] = []
        for number, (work, lease) in enumerate(claimed):
            if number == 2:
                reporter.start()
                wait_for(lambda: len(settled) == 2, what="the first two settled")
            held = leases.hold(work, lease)
            reporter.submit(work, lease, Outcome("success"), held, settled.append)
        reporter.stop()
        # Asked once; from then on every report is a PUT of its own.
        assert buckets.batches == [2] and buckets.singles == 4
        assert all(s is not None for s in settled)
        assert statuses(buckets, claimed) == ["success"] * 4
