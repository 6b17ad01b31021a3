"""The built-in mover: finished works go from Buckets to Results.

The rules are those of the client's `workflow transfer` daemon. A finished work is a
`success`, or a `failure` with `attempt >= retries` (no retry left). Finished works
whose `config.archive.results` is true are deposited in Results, then deleted from
Buckets; other finished works are only deleted. A `failure` created longer ago than
SLUICE_TRANSFER_CUTOFF is only deleted, and so is any other stale work except a
running one (the reaper ends a run first; the next pass deletes it).

Results is written before Buckets is cleared, so a process killed in between leaves
the work in both; the next pass deposits it again, Results answers that the same result
is already there, and the work is deleted. Several movers (and `workflow transfer`
daemons) may run at once for the same reason.

Nothing is dropped silently: when Results holds a *different* result under a work's id,
the work stays in Buckets, marked (`documents.CONFLICT`) so that later passes leave it
alone until it is edited, and the conflict is logged, appended to the audit trail
(`buckets.transfer_conflict`) and counted in the pass's tallies (`conflicts`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from service.auth.audit import AuditLog, record_server
from service.buckets.documents import CONFLICT, public
from service.buckets.store import BucketsStore
from service.db import Document
from service.errors import Conflict, ValidationFailed
from service.results.store import ResultsStore

log = logging.getLogger("sluice.buckets")

#: Works moved per pass (fewer if SLUICE_MAX_BATCH, the most Results takes at once, is
#: lower): the client's daemon deletes in batches of 100 too.
BATCH = 100
#: Passes per call at most, so one call never runs unbounded.
MAX_PASSES = 50
#: Deposits tried per pass when Results already holds some of the works.
DEPOSIT_ATTEMPTS = 3

FINISHED = {
    "$or": [
        {"status": "success"},
        {"status": "failure", "$expr": {"$gte": ["$attempt", "$retries"]}},
    ]
}


def _archived(document: Document) -> bool:
    config = document.get("config")
    archive = config.get("archive") if isinstance(config, dict) else None
    return isinstance(archive, dict) and archive.get("results") is True


async def move(
    buckets: BucketsStore, results: ResultsStore, cutoff: int, audit_log: AuditLog | None = None
) -> dict[str, int]:
    """Move finished works until none is left (or MAX_PASSES); return the tallies
    `{"archived": n, "deleted": n, "conflicts": n}` (deleted counts every work removed
    from Buckets; conflicts, the works newly kept back, recorded in `audit_log`)."""
    total = {"archived": 0, "deleted": 0, "conflicts": 0}
    size = min(BATCH, results.settings.max_batch)
    for _ in range(MAX_PASSES):
        tally = await _pass(buckets, results, cutoff, audit_log, size)
        for name, count in tally.items():
            total[name] += count
        if tally["deleted"] + tally["conflicts"] < size:
            break
    return total


async def _pass(
    buckets: BucketsStore,
    results: ResultsStore,
    cutoff: int,
    audit_log: AuditLog | None,
    size: int,
) -> dict[str, int]:
    collection = buckets.collection
    oldest = time.time() - cutoff if cutoff else None
    finished = await collection.find(
        {**FINISHED, CONFLICT: {"$exists": False}}, limit=size, sort=[("_id", 1)]
    ).to_list()
    archive: list[Document] = []
    discard: list[Any] = []
    for document in finished:
        too_old = oldest is not None and (document.get("creation") or 0) < oldest
        if _archived(document) and not (too_old and document["status"] == "failure"):
            archive.append(document)
        else:
            discard.append(document["_id"])
    archived, conflicts = await _deposit(results, [public(d) for d in archive])
    kept = await _keep_back(buckets, [d for d in archive if d["id"] in conflicts], audit_log)
    moved = [d["_id"] for d in archive if d["id"] in archived]
    removed = 0
    if moved or discard:
        # Only if still finished: an admin may have requeued one meanwhile.
        outcome = await collection.delete_many({"_id": {"$in": moved + discard}, **FINISHED})
        removed += outcome.deleted_count
    if oldest is not None:
        # Success is archived above whatever its age; a run is never deleted under it.
        deletable = {"status": {"$nin": ["running", "success"]}}
        stale = await collection.find(
            {"creation": {"$lt": oldest}, **deletable}, {"_id": True}, limit=size
        ).to_list()
        if stale:
            outcome = await collection.delete_many(
                {"_id": {"$in": [d["_id"] for d in stale]}, **deletable}
            )
            removed += outcome.deleted_count
    return {"archived": len(moved), "deleted": removed, "conflicts": kept}


async def _keep_back(
    buckets: BucketsStore, documents: list[Document], audit_log: AuditLog | None
) -> int:
    """Mark works whose id holds a different result in Results; how many were marked."""
    kept = 0
    for document in documents:
        reason = (
            f"Results already holds a different result with id {document['id']} in "
            f"pipeline {document['pipeline']}; the work stays in Buckets"
        )
        marked = await buckets.collection.update_one(
            {"_id": document["_id"], **FINISHED, CONFLICT: {"$exists": False}},
            {"$set": {CONFLICT: {"at": time.time(), "reason": reason}}},
        )
        if not marked.modified_count:
            continue  # a rival mover marked it, or it changed meanwhile
        kept += 1
        log.warning("mover: %s", reason)
        if audit_log is not None:
            details = {"id": document["id"], "pipeline": document["pipeline"], "reason": reason}
            await record_server(audit_log, "buckets.transfer_conflict", "buckets/work", details)
    return kept


async def _deposit(results: ResultsStore, documents: list[Document]) -> tuple[set[str], set[str]]:
    """Deposit in Results; return the ids now held there (deposited, or the same result
    already there) and the ids under which Results holds a different result."""
    pending = documents
    conflicts: set[str] = set()
    for _ in range(DEPOSIT_ATTEMPTS):
        if not pending:
            break
        try:
            await results.deposit(pending)
            return {d["id"] for d in pending}, conflicts
        except Conflict as exc:
            existing = (exc.details or {}).get("existing") or {}
            refused = {(p, i) for p, ids in existing.items() for i in ids}
            if not refused:
                raise
            conflicts |= {d["id"] for d in pending if (d["pipeline"], d["id"]) in refused}
            pending = [d for d in pending if (d["pipeline"], d["id"]) not in refused]
        except ValidationFailed as exc:
            # Results refuses these: leave them in Buckets, and say so, rather than
            # blocking every other work behind them.
            bad = {e.get("index") for e in (exc.details or {}).get("errors", [])}
            log.warning("mover: Results refused %d works: %s", len(bad), exc.message)
            if not bad:
                raise
            pending = [d for index, d in enumerate(pending) if index not in bad]
    return set(), conflicts
