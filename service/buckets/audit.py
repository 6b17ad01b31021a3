"""Ending runs that lost their lease: the reaper, and the CHIME audit routes.

Every change is conditional on the state it was decided from, so any number of Sluice
processes (and `workflow audit` daemons) may sweep one database at the same time
without acting twice on a work. A run the server ends is marked closed, so its late
report is refused (see BucketsStore.update).
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from service.buckets.documents import CLOSED, LEASE, STOP
from service.db import Document

#: Expired runs read per query by the reaper.
REAP_BATCH = 200

_END_RUN = {"$unset": [LEASE, STOP]}
REQUEUE: list[dict[str, Any]] = [{"$set": {"status": "queued", CLOSED: True}}, _END_RUN]


def fail(reason: str) -> list[dict[str, Any]]:
    """An update pipeline marking a running work `failure`, `reason` in `results.error`."""
    results = {"$mergeObjects": [{"$ifNull": ["$results", {}]}, {"error": {"$literal": reason}}]}
    return [{"$set": {"status": "failure", "results": results, CLOSED: True}}, _END_RUN]


async def reap(collection: AsyncCollection[Document], now: float | None = None) -> dict[str, int]:
    """End every run whose lease expired before `now`: requeue it while `attempt <
    retries`, else mark it `failure`. Returns how many were requeued and failed."""
    now = time.time() if now is None else now
    done = {"requeued": 0, "failed": 0}
    while True:
        # Only running works hold a lease, so the sparse lease index alone finds them.
        expired = await collection.find(
            {f"{LEASE}.expires": {"$lt": now}},
            {"attempt": True, "retries": True, LEASE: True},
            limit=REAP_BATCH,
        ).to_list()
        acted = 0
        for seen in expired:
            attempt, retries = seen.get("attempt", 0), seen.get("retries", 0)
            # The token and expiry it was decided from: a heartbeat, a report or a
            # rival reaper in between makes this a no-op.
            guard = {
                "_id": seen["_id"],
                "status": "running",
                f"{LEASE}.token": seen[LEASE]["token"],
                f"{LEASE}.expires": {"$lt": now},
                "attempt": attempt,
                "retries": retries,
            }
            retry = attempt < retries
            update = REQUEUE if retry else fail(_reason(attempt, retries))
            if await collection.find_one_and_update(guard, update, projection={"_id": True}):
                acted += 1
                done["requeued" if retry else "failed"] += 1
        # A batch where rivals won everything would repeat forever: stop there.
        if len(expired) < REAP_BATCH or not acted:
            return done


def _reason(attempt: int, retries: int) -> str:
    return (
        f"lease expired: attempt {attempt} sent no result within its timeout "
        f"(retries: {retries}); reaped by the server"
    )


async def failed(collection: AsyncCollection[Document]) -> int:
    """Requeue `failure` works with `attempt < retries`; return how many."""
    result = await collection.update_many(
        {"status": "failure", "$expr": {"$lt": ["$attempt", "$retries"]}},
        {"$set": {"status": "queued", CLOSED: True}},
    )
    return result.modified_count


async def expired(collection: AsyncCollection[Document], now: float | None = None) -> int:
    """Mark `failure` every running work past its lease (or, without a lease, past
    `start + timeout`); return how many."""
    now = time.time() if now is None else now
    result = await collection.update_many(
        {
            "status": "running",
            "$or": [
                {f"{LEASE}.expires": {"$lt": now}},
                {
                    LEASE: {"$exists": False},
                    "$expr": {"$lt": [{"$add": ["$start", "$timeout"]}, now]},
                },
            ],
        },
        fail("expired: running past its timeout; failed by audit"),
    )
    return result.modified_count


async def stale(
    collection: AsyncCollection[Document], days: float, now: float | None = None
) -> int:
    """How many works were created more than `days` days ago (counted, not deleted)."""
    now = time.time() if now is None else now
    return await collection.count_documents({"creation": {"$lt": now - days * 86400}})
