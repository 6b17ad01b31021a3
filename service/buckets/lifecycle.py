"""What other resources do to their works on the queue, and the sweeps that end runs:
the `Lifecycle` methods of `BucketsStore`.

Workfile runs and extension tasks queue works and follow them to their end. They never
read or write the queue's collection or its server-only fields themselves: they locate
their works (in Buckets, or in Results once the mover took them there), requeue a
failure that has retries left (`audit.requeue_failure`) and cancel works. Every change
is conditional on the state it was decided from, so several Sluice processes may do it
at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.auth.principal import Principal
from service.buckets import audit, lease
from service.buckets.candidates import Candidates
from service.buckets.documents import LEASE, RUN, STOP, public
from service.db import Document
from service.results.store import ResultsStore


class Lifecycle:
    """The lifecycle of works other resources queued, and the sweeps that end runs which
    lost their lease (service.buckets.audit); the base of `BucketsStore`."""

    collection: AsyncCollection[Document]
    candidates: Candidates

    async def locate(
        self, wanted: Mapping[str, str], results: ResultsStore, run: str | None = None
    ) -> dict[str, Document]:
        """The works with the ids of `wanted` (work id -> its pipeline) as clients see them,
        by id: from Buckets, else from Results. A work in neither is left out. With `run`,
        only that workfile run's own steps count: in Buckets, works the run deposited
        (bound on the server, see `documents.RUN`) in the wanted pipeline; in Results,
        results of that pipeline whose `config.parent` is the run."""
        if not wanted:
            return {}
        query: Document = {"id": {"$in": list(wanted)}}
        if run is not None:
            query[RUN] = run
        # Buckets first: the mover writes Results before deleting from Buckets, so a work
        # missed here is already in Results.
        found = {
            work["id"]: public(work)
            async for work in self.collection.find(query)
            if run is None or work.get("pipeline") == wanted[work["id"]]
        }
        missing: dict[str, list[str]] = {}
        for work_id, pipeline in wanted.items():
            if work_id not in found:
                missing.setdefault(pipeline, []).append(work_id)
        for pipeline, ids in missing.items():
            for work in await results.find_ids(pipeline, ids):
                config = work.get("config")
                if run is None or (isinstance(config, dict) and config.get("parent") == run):
                    found[work["id"]] = work
        return found

    async def held_step(
        self, work_id: str, token: str, caller: Principal | None = None
    ) -> tuple[str, int]:
        """The workfile run whose step the held work `work_id` is, and its attempt: what
        a worker moving the step's files may touch. 409 unless `token` holds the lease
        of a work some run deposited; 403 if `caller` may not touch its pipeline."""
        found = await self.collection.find_one(
            lease.held(work_id, token), {RUN: True, "pipeline": True, "attempt": True}
        )
        if found is None:
            raise lease.not_held(work_id)
        if caller is not None:
            caller.check_pipelines([found.get("pipeline")])
        if not isinstance(found.get(RUN), str):
            raise lease.not_held(work_id)
        return found[RUN], int(found.get("attempt") or 0)

    async def cancel(self, ids: list[str], grace: float | None = None) -> int:
        """Cancel the works `ids`; how many were queued or running.

        Queued ones are deleted. Running ones are asked to stop (their heartbeat answers
        stop) and lose their retries, so the reaper fails them rather than queueing them
        again; with `grace`, their lease is also cut to at most `grace` seconds from now,
        so the reaper ends them soon rather than after their whole timeout. Finished works
        are left alone.
        """
        if not ids:
            return 0
        dequeued = await self.collection.delete_many({"id": {"$in": ids}, "status": "queued"})
        stop: dict[str, Any] = {STOP: True, "retries": {"$min": ["$retries", "$attempt"]}}
        if grace is not None:
            expires = f"{LEASE}.expires"
            stop[expires] = {"$min": [f"${expires}", time.time() + grace]}
        stopped = await self.collection.update_many(
            {"id": {"$in": ids}, "status": "running"}, [{"$set": stop}]
        )
        return dequeued.deleted_count + stopped.matched_count

    async def requeue_failure(self, work: Document) -> bool:
        """Whether `work` (as read) is a failure with retries left; if so it is queued
        again, unless it changed meanwhile."""
        requeued = await audit.requeue_failure(self.collection, work)
        if requeued:
            self.candidates.queued([work])
        return requeued

    async def reap(self, now: float | None = None) -> dict[str, int]:
        """End the runs whose lease expired; `{"requeued", "failed"}` tallies."""
        return self._requeued(await audit.reap(self.collection, now), "requeued")

    async def retry(self, base: float, longest: float) -> dict[str, int]:
        """Requeue failures with retries left once their backoff (`base` seconds,
        doubling per attempt, at most `longest`) has passed; `{"retried"}` tally."""
        return self._requeued(await audit.retry(self.collection, base, longest), "retried")

    async def audit_failed(self, only: Document | None = None) -> int:
        """Requeue `failure` works with retries left (matching `only`, a filter on
        pipelines such as `BucketsStore.visible` gives); how many."""
        requeued = await audit.failed(self.collection, only)
        if requeued:
            self.candidates.clear()
        return requeued

    def _requeued(self, tallies: dict[str, int], name: str) -> dict[str, int]:
        # Works queued again by a sweep may rank before cached claim candidates.
        if tallies.get(name):
            self.candidates.clear()
        return tallies

    async def audit_expired(self, only: Document | None = None) -> int:
        """Fail running works past their lease (or timeout), matching `only`; how many."""
        return await audit.expired(self.collection, only=only)

    async def audit_stale(self, days: float, only: Document | None = None) -> int:
        """How many works matching `only` were created more than `days` days ago."""
        return await audit.stale(self.collection, days, only=only)
