"""The periodic pass following flow runs to their end (in every Sluice process; each
change is conditional, so replicas racing on one run change it once)."""

from __future__ import annotations

import time

from service.flows.runs import ACTIVE, ORPHAN_AGE, Triggers
from service.flows.store import GATED


class RunFollower:
    """Follow unfinished runs' works and catch up on lost triggers."""

    def __init__(self, triggers: Triggers) -> None:
        self.triggers = triggers

    async def reconcile(self) -> dict[str, int]:
        """Follow unfinished runs' works: deposit those not queued yet, mark running
        ones, fail runs whose work failed for good (with its error) or vanished; then
        re-evaluate the gates of idle ANY/ALL flows (a trigger lost to a crash fires
        here). `{"failed", "deposited", "fired"}` tallies."""
        tallies = {"failed": 0, "deposited": 0, "fired": 0}
        limit = self.triggers.flows.settings.aero_max_dependants
        async for run in self.triggers.collection.find(
            {"status": {"$in": list(ACTIVE)}}, limit=limit
        ):
            flow = await self.triggers.flows.collection.find_one({"_id": run["flow_id"]})
            if flow is None:
                continue
            if run.get("tasks") and run["deposited"]:
                continue  # its parts carry its works (and end it)
            if not run["deposited"]:
                if run.get("parent") is not None:
                    continue  # deposited with its run, which is not yet
                # Only the flow's pending run is queued: an undeposited run that is not
                # is a trigger that lost the race to another (its enqueue deletes it).
                if flow["pending_run_id"] == run["_id"]:
                    await self.triggers.deposit(run, flow)
                    tallies["deposited"] += 1
                elif run["created_at"] < time.time() - ORPHAN_AGE:
                    # Its process died mid-enqueue: free its id for the same trigger.
                    await self.triggers.collection.delete_one(
                        {"_id": run["_id"], "deposited": False}
                    )
                continue
            wanted = {run["_id"]: run["pipeline"]}
            found = await self.triggers.buckets.locate(wanted, self.triggers.results, run["_id"])
            work = found.get(run["_id"])
            if work is None:
                tallies["failed"] += await self.triggers.finish(
                    run, "failed", "the run's work was deleted"
                )
                continue
            if await self.triggers.buckets.requeue_failure(work):
                continue
            if work.get("status") == "running" and run["status"] == "queued":
                await self.triggers.collection.update_one(
                    {"_id": run["_id"], "status": "queued"},
                    {"$set": {"status": "running", "started_at": work.get("start")}},
                )
            elif work.get("status") in ("failure", "success"):
                results = work.get("results")
                error = results.get("error") if isinstance(results, dict) else None
                why = str(error) if error else "the run's work ended without committing"
                tallies["failed"] += await self.triggers.finish(run, "failed", why)
        idle = self.triggers.flows.collection.find(
            {"state": "active", "policy": {"$in": list(GATED)}, "pending_run_id": None},
            limit=limit,
        )
        async for flow in idle:
            tallies["fired"] += await self.triggers.evaluate(flow, "catch-up") is not None
        return tallies
