"""Python clients for Sluice Buckets, the work queue: `Buckets` (blocking) and
`AsyncBuckets` (asyncio).

Method names and arguments follow the CHIME/FRB `workflow` Buckets client; on top of
it, `withdraw` hands back the lease that `heartbeat`, `release` and `update` prove the
claim with. Every failure raises a `sluice.errors.SluiceError`.

    with Buckets("http://127.0.0.1:8000") as buckets:
        buckets.deposit([new_work("header-localization", "chime", "me", function="m.f")])
        claimed = buckets.withdraw("header-localization", site="chime")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

from schemas.buckets import LeaseStatus, ReportOutcome
from schemas.work import Work
from schemas.workers import BeatAnswer
from sluice.core.plan import Document
from sluice.core.sender import AsyncSender, Sender
from sluice.plans import buckets as plans
from sluice.plans import workers as worker_plans
from sluice.plans.buckets import Progress, Withdrawn

Works = Sequence[Work | Mapping[str, Any]]


class Buckets(Sender):
    """Blocking client for the Buckets API of one Sluice server.

    `base_url` is the Sluice root (default `$SLUICE_URL`, else http://127.0.0.1:8000);
    the client adds `/buckets`. `token` (default `$SLUICE_TOKEN`) is sent as the
    `x-access-token` header. `timeout` is in seconds, per request.
    """

    prefix = "/buckets"

    @overload
    def deposit(self, works: Works, return_ids: Literal[False] = False) -> bool: ...
    @overload
    def deposit(self, works: Works, return_ids: Literal[True]) -> list[str]: ...
    def deposit(self, works: Works, return_ids: bool = False) -> bool | list[str]:
        """Queue works (dicts or `Work` models, any pipelines); `creation` is set to
        now where missing. Returns their ids in input order with `return_ids`, else
        True. Depositing a work again with the same id queues nothing."""
        ids = self._run(plans.deposit(works))
        return ids if return_ids else True

    def withdraw(
        self,
        pipeline: str | Sequence[str],
        site: str | None = None,
        priority: int | None = None,
        user: str | None = None,
        event: Sequence[int] | None = None,
        tags: Sequence[str] | None = None,
        parent: Sequence[str] | None = None,
    ) -> Withdrawn | None:
        """Claim the best queued work matching the filters (highest priority, then
        oldest): `(work, lease)`, or None when there is none. The work is `running`
        until its lease (the work's `timeout`, renewed by `heartbeat`) lapses; its
        reports need the lease. A filter left None is not applied; any other value
        is, even an empty one (`tags=[]` matches nothing); a priority outside 1-5
        raises ValueError."""
        query = plans.withdraw_query(pipeline, site, priority, user, event, tags, parent)
        return self._run(plans.withdraw(query))

    def withdraw_many(
        self,
        pipeline: str | Sequence[str],
        limit: int,
        site: str | None = None,
        priority: int | None = None,
        user: str | None = None,
        event: Sequence[int] | None = None,
        tags: Sequence[str] | None = None,
        parent: Sequence[str] | None = None,
    ) -> list[Withdrawn]:
        """Claim up to `limit` works as `withdraw` claims one (same filters), in one
        request, each with its own lease; in claim order, empty when none is queued."""
        query = plans.withdraw_query(pipeline, site, priority, user, event, tags, parent)
        return self._run(plans.withdraw_batch(query, limit))

    def heartbeat(self, work_id: str, lease: str) -> LeaseStatus:
        """Renew a held lease for the work's timeout; `.stop` is True when the run was
        asked to stop. Conflict once the lease is lost."""
        return self._run(plans.heartbeat(work_id, lease))

    def heartbeats(self, leases: Sequence[tuple[str, str]]) -> list[LeaseStatus | None]:
        """Renew many held leases, `(work id, token)` each, in one request; per lease,
        in order, its status (as `heartbeat` answers) or None once it is lost."""
        return self._run(plans.heartbeats(leases))

    def release(self, work_id: str, lease: str) -> Document:
        """Give a held work back unfinished (queued again, attempt not counted);
        returns it. Conflict if the lease is lost."""
        return self._run(plans.release(work_id, lease))

    def update(self, works: Works, lease: str | None = None) -> bool:
        """Replace works by id with these full documents. With `lease`, the work must
        still be held with it (Conflict once the run lost it). Without, False when some
        were late reports of runs withdrawn again since (the others are applied);
        NotFound for an unknown id, and then nothing changed."""
        return self._run(plans.update(works, lease))

    def report_many(
        self, reports: Sequence[tuple[Work | Mapping[str, Any], str]]
    ) -> list[ReportOutcome]:
        """Report finished works, `(work, lease)` each, in one request, each as `update`
        with its lease would; per report, in order, `.recorded`, else `.error` (what
        `update` would have raised for it alone: code "conflict" once its lease is
        lost). Invalid input and a pipeline the token may not touch raise, and then
        none was recorded. NotFound from a server older than this route."""
        return self._run(plans.report_many(reports))

    def delete_ids(self, ids: Sequence[str], progress: Progress | None = None) -> bool:
        """Delete works by id in batches of 100, whatever their state; unknown ids
        are ignored. `progress(done, total)` is called after each batch."""
        return self._run(plans.delete_ids(ids, progress))

    def delete_many(
        self,
        pipeline: str,
        status: str | None = None,
        events: Sequence[int] | None = None,
        tags: Sequence[str] | None = None,
        parent: str | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Delete the works of `pipeline` matching the filters (at most `limit`), never
        asking; returns how many. A filter left None is not applied; an empty one
        (`events=[]`) matches nothing. `progress` as in `delete_ids`."""
        query = plans.delete_query(pipeline, status, events, tags, parent)
        return self._run(plans.delete_many(query, limit, progress))

    def matching_ids(self, query: Document, limit: int | None = None) -> list[str]:
        """Ids of the works matching the MongoDB `query` (at most `limit`)."""
        return self._run(plans.matching_ids(query, limit))

    def view(
        self,
        query: Document,
        projection: Mapping[str, Any] | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> list[Document]:
        """Works matching the MongoDB `query`, in deposit order; `limit` -1 means all
        (the service still caps one answer's size)."""
        return self._run(plans.view(query, projection, skip, limit))

    def status(self) -> Document:
        """Counts by status over every pipeline."""
        return self._run(plans.status())

    def pipelines(self) -> list[str]:
        """Names of the pipelines that hold work."""
        return self._run(plans.pipelines())

    def details(self, pipeline: str) -> dict[str, int]:
        """`{"total", "queued", "running", "success", "failure"}` of one pipeline."""
        return self._run(plans.details(pipeline))

    def audit(self, stale_days: float = plans.STALE_DAYS) -> dict[str, int]:
        """Run the server's audits: `{"failed": requeued failures, "expired": runs
        failed past their timeout, "stale": works older than stale_days}`."""
        return self._run(plans.audit(stale_days))

    def retry(self, ids: Sequence[str]) -> int:
        """Queue these failed works again now (admin); how many were failed and are
        queued. Works in another status are left alone."""
        return self._run(plans.retry(ids))

    def transfer(self) -> dict[str, int]:
        """Run the server's mover once (admin): its tallies (`archived`, `deleted`...)."""
        return self._run(plans.transfer())

    def beat(self, worker_id: str, info: Mapping[str, Any]) -> BeatAnswer:
        """Register worker `worker_id` or renew its registration with `info` (name,
        host, pid, pipelines, site, version, current work); `.beat` says when to send
        the next."""
        return self._run(worker_plans.beat(worker_id, info))

    def forget_worker(self, worker_id: str) -> bool:
        """Remove a registered worker (as it exits)."""
        return self._run(worker_plans.forget(worker_id))

    def workers(self, pipeline: str | None = None, site: str | None = None) -> list[Document]:
        """Live workers, most recently heard first; only those serving `pipeline` and
        at `site` if given."""
        return self._run(worker_plans.live(pipeline, site))


class AsyncBuckets(AsyncSender):
    """Asyncio client for the Buckets API; same methods and arguments as `Buckets`,
    each a coroutine. Use `async with`, or `await aclose()` when done."""

    prefix = "/buckets"

    @overload
    async def deposit(self, works: Works, return_ids: Literal[False] = False) -> bool: ...
    @overload
    async def deposit(self, works: Works, return_ids: Literal[True]) -> list[str]: ...
    async def deposit(self, works: Works, return_ids: bool = False) -> bool | list[str]:
        """See `Buckets.deposit`."""
        ids = await self._run(plans.deposit(works))
        return ids if return_ids else True

    async def withdraw(
        self,
        pipeline: str | Sequence[str],
        site: str | None = None,
        priority: int | None = None,
        user: str | None = None,
        event: Sequence[int] | None = None,
        tags: Sequence[str] | None = None,
        parent: Sequence[str] | None = None,
    ) -> Withdrawn | None:
        """See `Buckets.withdraw`."""
        query = plans.withdraw_query(pipeline, site, priority, user, event, tags, parent)
        return await self._run(plans.withdraw(query))

    async def withdraw_many(
        self,
        pipeline: str | Sequence[str],
        limit: int,
        site: str | None = None,
        priority: int | None = None,
        user: str | None = None,
        event: Sequence[int] | None = None,
        tags: Sequence[str] | None = None,
        parent: Sequence[str] | None = None,
    ) -> list[Withdrawn]:
        """See `Buckets.withdraw_many`."""
        query = plans.withdraw_query(pipeline, site, priority, user, event, tags, parent)
        return await self._run(plans.withdraw_batch(query, limit))

    async def heartbeats(self, leases: Sequence[tuple[str, str]]) -> list[LeaseStatus | None]:
        """See `Buckets.heartbeats`."""
        return await self._run(plans.heartbeats(leases))

    async def heartbeat(self, work_id: str, lease: str) -> LeaseStatus:
        """See `Buckets.heartbeat`."""
        return await self._run(plans.heartbeat(work_id, lease))

    async def release(self, work_id: str, lease: str) -> Document:
        """See `Buckets.release`."""
        return await self._run(plans.release(work_id, lease))

    async def update(self, works: Works, lease: str | None = None) -> bool:
        """See `Buckets.update`."""
        return await self._run(plans.update(works, lease))

    async def report_many(
        self, reports: Sequence[tuple[Work | Mapping[str, Any], str]]
    ) -> list[ReportOutcome]:
        """See `Buckets.report_many`."""
        return await self._run(plans.report_many(reports))

    async def delete_ids(self, ids: Sequence[str], progress: Progress | None = None) -> bool:
        """See `Buckets.delete_ids`."""
        return await self._run(plans.delete_ids(ids, progress))

    async def delete_many(
        self,
        pipeline: str,
        status: str | None = None,
        events: Sequence[int] | None = None,
        tags: Sequence[str] | None = None,
        parent: str | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> int:
        """See `Buckets.delete_many`."""
        query = plans.delete_query(pipeline, status, events, tags, parent)
        return await self._run(plans.delete_many(query, limit, progress))

    async def matching_ids(self, query: Document, limit: int | None = None) -> list[str]:
        """See `Buckets.matching_ids`."""
        return await self._run(plans.matching_ids(query, limit))

    async def view(
        self,
        query: Document,
        projection: Mapping[str, Any] | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> list[Document]:
        """See `Buckets.view`."""
        return await self._run(plans.view(query, projection, skip, limit))

    async def status(self) -> Document:
        """See `Buckets.status`."""
        return await self._run(plans.status())

    async def pipelines(self) -> list[str]:
        """See `Buckets.pipelines`."""
        return await self._run(plans.pipelines())

    async def details(self, pipeline: str) -> dict[str, int]:
        """See `Buckets.details`."""
        return await self._run(plans.details(pipeline))

    async def audit(self, stale_days: float = plans.STALE_DAYS) -> dict[str, int]:
        """See `Buckets.audit`."""
        return await self._run(plans.audit(stale_days))

    async def retry(self, ids: Sequence[str]) -> int:
        """See `Buckets.retry`."""
        return await self._run(plans.retry(ids))

    async def transfer(self) -> dict[str, int]:
        """See `Buckets.transfer`."""
        return await self._run(plans.transfer())

    async def beat(self, worker_id: str, info: Mapping[str, Any]) -> BeatAnswer:
        """See `Buckets.beat`."""
        return await self._run(worker_plans.beat(worker_id, info))

    async def forget_worker(self, worker_id: str) -> bool:
        """See `Buckets.forget_worker`."""
        return await self._run(worker_plans.forget(worker_id))

    async def workers(self, pipeline: str | None = None, site: str | None = None) -> list[Document]:
        """See `Buckets.workers`."""
        return await self._run(worker_plans.live(pipeline, site))
