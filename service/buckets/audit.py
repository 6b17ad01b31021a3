"""Ending runs that lost their lease (the reaper), retrying failures (the retrier), and
the CHIME audit routes.

Every change is conditional on the state it was decided from, so any number of Sluice
processes (and `workflow audit` daemons) may sweep one database at the same time
without acting twice on a work. A run the server ends loses its lease; whether its late
report still counts is decided by `service.buckets.lease.judge`.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from schemas.work import RETRIES_LIMIT
from service.buckets.documents import LEASE, STOP
from service.db import Document

#: Expired runs read per query by the reaper.
REAP_BATCH = 200

_END_RUN = {"$unset": [LEASE, STOP]}
REQUEUE: list[dict[str, Any]] = [{"$set": {"status": "queued"}}, _END_RUN]
#: Queue a failed work again (it holds no lease); a late report is judged by `lease.judge`.
REQUEUE_FAILED: dict[str, Any] = {"$set": {"status": "queued"}}
#: A failure with retries left.
RETRYABLE: Document = {"status": "failure", "$expr": {"$lt": ["$attempt", "$retries"]}}
#: Failed works requeued per query by the retrier.
RETRY_BATCH = 200


def fail(reason: str) -> list[dict[str, Any]]:
    """An update pipeline marking a running work `failure`, `reason` in `results.error`."""
    results = {"$mergeObjects": [{"$ifNull": ["$results", {}]}, {"error": {"$literal": reason}}]}
    return [{"$set": {"status": "failure", "results": results}}, _END_RUN]


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
            # An update_one: nothing is read back, and the embedded database's
            # find_one_and_update would scan the collection for every expired run.
            ended = await collection.update_one(guard, update)
            if ended.matched_count:
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


def backoff(attempt: int, base: float, longest: float) -> float:
    """Seconds a work that failed at its `attempt`-th try waits before the next one."""
    return float(min(longest, base * 2 ** max(0, attempt - 1)))


async def retry(
    collection: AsyncCollection[Document],
    base: float,
    longest: float,
    now: float | None = None,
) -> dict[str, int]:
    """Requeue every failed work with retries left whose backoff has passed since it
    ended (`stop`, else `start`); return `{"retried": n}`.

    A worker marks a failure permanent by reporting it with no retry left, so it is
    never picked here. Every requeue is conditional on the work still being that
    failure, so several Sluice processes may retry at once without acting twice.
    """
    now = time.time() if now is None else now
    due: list[Document] = []
    for attempt in range(RETRIES_LIMIT):
        cutoff = now - backoff(attempt, base, longest)
        due.append(
            {
                "attempt": attempt,
                "$or": [{"stop": {"$lt": cutoff}}, {"stop": None, "start": {"$lt": cutoff}}],
            }
        )
    selected = {**RETRYABLE, "$or": due}
    done = {"retried": 0}
    while True:
        found = await collection.find(selected, {"_id": True}, limit=RETRY_BATCH).to_list()
        if not found:
            return done
        result = await collection.update_many(
            {"_id": {"$in": [d["_id"] for d in found]}, **selected}, REQUEUE_FAILED
        )
        done["retried"] += result.modified_count
        # A batch that rivals requeued first would repeat forever: stop there.
        if len(found) < RETRY_BATCH or not result.modified_count:
            return done


async def failed(collection: AsyncCollection[Document], only: Document | None = None) -> int:
    """Requeue `failure` works with `attempt < retries` (and matching `only`, a filter
    on pipelines); return how many."""
    result = await collection.update_many({**RETRYABLE, **(only or {})}, REQUEUE_FAILED)
    return result.modified_count


def retries_left(work: Document) -> bool:
    """Whether `work` is a `failure` that may be tried again (`attempt < retries`)."""
    attempt, retries = work.get("attempt") or 0, work.get("retries") or 0
    return work.get("status") == "failure" and attempt < retries


async def requeue_failure(collection: AsyncCollection[Document], work: Document) -> bool:
    """Whether `work` (as read) has retries left; if so it is queued again, as
    `workflow audit` would, provided it is still that failure (a rival's requeue, or a
    newer attempt, is left alone)."""
    if not retries_left(work):
        return False
    await collection.update_one(
        {"id": work["id"], "status": "failure", "attempt": work.get("attempt", 0)},
        REQUEUE_FAILED,
    )
    return True


async def expired(
    collection: AsyncCollection[Document], now: float | None = None, only: Document | None = None
) -> int:
    """Mark `failure` every running work past its lease (or, without a lease, past
    `start + timeout`) and matching `only` (a filter on pipelines); return how many."""
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
            **(only or {}),
        },
        fail("expired: running past its timeout; failed by audit"),
    )
    return result.modified_count


async def stale(
    collection: AsyncCollection[Document],
    days: float,
    now: float | None = None,
    only: Document | None = None,
) -> int:
    """How many works matching `only` (a filter on pipelines) were created more than
    `days` days ago (counted, not deleted)."""
    now = time.time() if now is None else now
    query = {"creation": {"$lt": now - days * 86400}, **(only or {})}
    return await collection.count_documents(query)
