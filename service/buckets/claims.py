"""Claims: how a withdraw picks queued works and takes them (the `Claims` methods of
`BucketsStore`).

A claim is always a conditional update: a work is taken only while it is still `queued`
and still matches the caller's filter, so two claimers (coroutines, processes or Sluice
replicas) never take the same work. Two ways to pick it, by SLUICE_CLAIM_BATCH:

- **0, one sorted claim** (the default; right for a real MongoDB, which serves the sort
  from the claim index): one `find_one_and_update` sorted highest priority first, then
  oldest creation. Exact order.
- **N > 0, candidate batches** (what the embedded database gets): it sorts every
  matching work in memory on each sorted claim, and its `find_one_and_update` scans the
  whole collection, so a claim's cost grows with the queue. Instead one sorted read
  yields up to N candidates (ids only), kept per filter in this process; each claim
  takes the next candidate with a conditional update on its `_id` (and `id`, the
  queue's shard key on a sharded cluster, so the update is targeted) that re-asserts
  `queued` and the whole filter, answering the claimed work (`service.db.
  update_then_read`: with SLUICE_UPDATE_THEN_READ an `update_one` then a read of the
  work holding the new lease token, two point lookups). A claim of several works
  (`limit`) takes that many candidates with one `update_many` on their ids and one
  read, each work written a lease token of its own; the read keeps the works holding
  theirs. A candidate another claimer took meanwhile simply fails its update and the
  next is tried. The order bound: a claim takes the best work as of a check at most
  SLUICE_CLAIM_BATCH_SECONDS old (longer only when the read itself took longer, on a
  very deep queue). At that age the batch is checked: when no queued work outside it
  ranks before its last candidate (two small indexed reads) it is used again, else
  it is read anew. A work queued through this process (deposit, release, requeue)
  that ranks before cached candidates cuts the batch there, so it is next at once; one
  queued through another replica waits at most that long. A filter with a top-level
  operator (`$or`, ...) or on `status` keeps the sorted claim: for several works, one
  sorted read of the best ids (no cache), claimed by id as above.

Several works are claimed CLAIM_GROUP to an update, so a claim's cost grows with the
number of works it takes, not with its square.
"""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import orjson
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from service.auth.principal import Principal
from service.buckets import lease
from service.buckets.candidates import Candidates, Rank
from service.buckets.documents import BOUND, LEASE, SERVER_FIELDS, STOP, public
from service.db import Document, update_then_read
from service.errors import BadRequest
from service.query import QueryValidator, refused
from service.settings import Settings

#: Claim order: highest priority first, then oldest.
CLAIM_SORT = [("priority", DESCENDING), ("creation", ASCENDING)]
#: Fields a candidate read returns: the id to claim and what ranks it.
CANDIDATE_FIELDS = {"_id": True, "id": True, "priority": True, "creation": True}
#: Candidate reads one claim request makes before it falls back to the sorted claim
#: (each read's first candidates were all taken by other claimers meanwhile).
READS_PER_CLAIM = 3

#: Works one update claims at most when a request claims several (`_claim_ids`).
CLAIM_GROUP = 50

Claimed = tuple[Document, str]


def _pinned(query: Document) -> Document:
    """`query` with a one-name `{"pipeline": {"$in": [name]}}` as `{"pipeline": name}`
    (the same match): the embedded database serves an index range after equalities only."""
    value = query.get("pipeline")
    if isinstance(value, dict) and list(value) == ["$in"]:
        names = value["$in"]
        if isinstance(names, list) and len(names) == 1 and isinstance(names[0], str):
            return {**query, "pipeline": names[0]}
    return query


def batchable(query: Document) -> bool:
    """Whether `query` can be claimed from candidate batches: every top-level key is a
    field other than `_id` and `status` (an operator there would make the claim's
    update scan the collection on the embedded database)."""
    return all(not key.startswith("$") and key not in ("_id", "status") for key in query)


class Claims:
    """Withdraw and claim; the base of `BucketsStore`."""

    collection: AsyncCollection[Document]
    settings: Settings
    validator: QueryValidator
    _claim_lock: asyncio.Lock | None
    candidates: Candidates

    def checked_filter(self, query: Any, where: str = "query") -> dict[str, Any]:
        """`query` if it is a safe filter over public fields; 400 otherwise."""
        self.validator.filter(query, where, hidden=SERVER_FIELDS)
        return dict(query)

    async def withdraw(
        self, query: Any, caller: Principal | None = None, bound: bool = False
    ) -> Claimed | None:
        """Claim the best `queued` work matching `query`; return it and its lease token.

        The work becomes `running`, `start` now, `attempt` + 1, with a lease lasting the
        work's `timeout`. None when nothing matches. A pipeline-restricted `caller` must
        name its pipelines in the filter (403 otherwise). `bound`: the caller reports
        with the lease token, so tokenless reports of this run are refused.
        """
        claimed = await self.claim(query, caller, bound)
        return claimed[0] if claimed else None

    async def claim(
        self, query: Any, caller: Principal | None = None, bound: bool = False, limit: int = 1
    ) -> list[Claimed]:
        """Up to `limit` works as `withdraw` claims one, each with its own lease, in
        claim order (within the candidate bound, see the module docstring); an empty
        list when nothing matches. 400 unless `limit` is 1 to SLUICE_MAX_BATCH."""
        if not 1 <= limit <= self.settings.max_batch:
            raise BadRequest(
                f"limit must be 1 to SLUICE_MAX_BATCH ({self.settings.max_batch})",
                {"limit": limit},
            )
        query = self.checked_filter(query)
        if caller is not None:
            caller.check_filter(query)
        lock: AbstractAsyncContextManager[Any] = self._claim_lock or nullcontext()
        async with lock:
            try:
                if self.settings.claim_batch and batchable(query):
                    return await self._claim_batched(query, bound, limit)
                return await self._claim_sorted(query, bound, limit)
            except OperationFailure as exc:
                raise refused(exc) from None

    async def _claim_sorted(self, query: Document, bound: bool, limit: int) -> list[Claimed]:
        """One work: one sorted `find_one_and_update`. Several: the best `limit` read in
        one sorted read (ids only), then claimed by `_claim_ids`; again for those other
        claimers took meanwhile, at most READS_PER_CLAIM reads. One claim per work would
        be a round trip each, and on the embedded database a scan each: 1,000 works with
        an `$or` filter took 30 s, under the claim lock."""
        claim = {"status": "queued", **query}
        if "status" in query:
            claim = {"status": "queued", "$and": [query]}
        if limit == 1:
            update, token = claim_update(bound)
            claimed = await self.collection.find_one_and_update(
                claim, update, sort=CLAIM_SORT, return_document=ReturnDocument.AFTER
            )
            return [] if claimed is None else [(public(claimed), token)]
        found: list[Claimed] = []
        for _ in range(READS_PER_CLAIM):
            cursor = self.collection.find(
                claim, CANDIDATE_FIELDS, sort=CLAIM_SORT, limit=limit - len(found)
            )
            candidates = await cursor.to_list()
            if not candidates:
                break
            found.extend(await self._claim_ids(candidates, claim, bound))
            if len(found) == limit:
                break
        return found

    async def _claim_batched(self, query: Document, bound: bool, limit: int) -> list[Claimed]:
        claim = {"status": "queued", **query}
        try:
            key = orjson.dumps(claim)
        except TypeError:
            # Not JSON (a filter built by the server itself): no cache key.
            return await self._claim_sorted(query, bound, limit)
        found: list[Claimed] = []
        reads = 0
        while len(found) < limit:
            group = self.candidates.take(key, limit - len(found))
            if not group:
                if reads == READS_PER_CLAIM:
                    found.extend(await self._claim_sorted(query, bound, limit - len(found)))
                    break
                reads += 1
                stale = self.candidates.stale(key)
                if stale and await self._still_best(query, stale):
                    self.candidates.renew(key)
                    continue
                started = time.monotonic()
                cursor = self.collection.find(
                    claim, CANDIDATE_FIELDS, sort=CLAIM_SORT, limit=self.settings.claim_batch
                )
                batch = await cursor.to_list()
                if not batch:
                    break
                self.candidates.keep(key, batch, query, time.monotonic() - started)
                continue
            if len(group) == 1:
                claimed = await self._claim_id(group[0], claim, bound)
                found.extend([] if claimed is None else [claimed])
            else:
                found.extend(await self._claim_ids(group, claim, bound))
        return found

    async def _still_best(self, query: Document, left: list[tuple[Rank, Document]]) -> bool:
        """Whether the candidates `left` of an expired batch are still the best queued
        works matching `query`: no queued work outside them ranks before the last one.

        Two reads bounded by the batch's size, each served by the claim indexes for a
        worker's filter (pipeline and site), where a new sorted read would load every
        queued work of the pipeline on the embedded database."""
        (negated, creation), _ = left[-1]
        if not (math.isfinite(negated) and math.isfinite(creation)):
            return False
        if "priority" in query or "creation" in query:
            return False
        base = {"status": "queued", **_pinned(query)}
        known = {candidate["_id"] for _, candidate in left}
        for before in (
            {"priority": {"$gt": -negated}},
            {"priority": -negated, "creation": {"$lt": creation}},
        ):
            cursor = self.collection.find({**base, **before}, {"_id": True}, limit=len(left) + 1)
            async for work in cursor:
                if work["_id"] not in known:
                    await cursor.close()
                    return False
        return True

    async def _claim_id(self, work: Document, claim: Document, bound: bool) -> Claimed | None:
        """Claim the candidate `work` (its `_id` and `id`) if it still matches `claim`."""
        update, token = claim_update(bound)
        # Read back only while it holds the token handed out here: None when the work
        # was taken from us in the instant between the two (an administrator's edit).
        stored = await update_then_read(
            self.collection,
            work,
            claim,
            update,
            {f"{LEASE}.token": token},
            self.settings.update_then_read,
        )
        return None if stored is None else (public(stored), token)

    async def _claim_ids(
        self, works: list[Document], claim: Document, bound: bool
    ) -> list[Claimed]:
        """Claim the candidates `works` (each its `_id` and `id`, best first) that still
        match `claim`, with one update and one read per CLAIM_GROUP of them, each work
        with a lease token of its own; those claimed, in the order of `works`.

        The update does not say which works it took; the read does: a work is ours
        only while it holds the token written for it here (one taken by another
        claimer first was not updated, one taken from us in the instant between the two
        holds another token)."""
        found: list[Claimed] = []
        # In groups: the update's token expression has a branch per work, evaluated for
        # each work it updates, so one update of all would cost their number squared.
        for start in range(0, len(works), CLAIM_GROUP):
            group = works[start : start + CLAIM_GROUP]
            tokens = {work["_id"]: lease.new_token() for work in group}
            keys = {
                "_id": {"$in": list(tokens)},
                "id": {"$in": [work.get("id") for work in group]},
            }
            # One expression writes each work's own token: the branch of its `_id`.
            token = {
                "$switch": {
                    "branches": [
                        {"case": {"$eq": ["$_id", i]}, "then": t} for i, t in tokens.items()
                    ],
                    "default": None,
                }
            }
            await self.collection.update_many({**keys, **claim}, claim_writing(bound, token))
            held = {f"{LEASE}.token": {"$in": list(tokens.values())}}
            stored = {work["_id"]: work async for work in self.collection.find({**keys, **held})}
            for work in group:
                mine = stored.get(work["_id"])
                if mine is not None and mine.get(LEASE, {}).get("token") == tokens[work["_id"]]:
                    found.append((public(mine), tokens[work["_id"]]))
        return found


def claim_update(bound: bool) -> tuple[list[Document], str]:
    """The update of a claim (`running`, `start` now, `attempt` + 1, a fresh lease
    lasting the work's `timeout`), and the lease token it hands out."""
    token = lease.new_token()
    return claim_writing(bound, token), token


def claim_writing(bound: bool, token: str | Document) -> list[Document]:
    """`claim_update`'s update with the lease token `token`: a string, or an expression
    when one update claims several works."""
    now = time.time()
    return [
        {
            "$set": {
                "status": "running",
                "start": now,
                "stop": None,
                "attempt": {"$add": [{"$ifNull": ["$attempt", 0]}, 1]},
                LEASE: {"token": token, "expires": {"$add": [now, "$timeout"]}},
                BOUND: bound,
            }
        },
        {"$unset": [STOP]},
    ]
