"""Buckets: queued works of every pipeline in one MongoDB collection.

A work moves `queued` -> `running` (withdraw: a conditional claim that also takes a
lease, see service.buckets.claims) -> `success` / `failure` (the run's `PUT /work`). The reaper
and the audit routes (service.buckets.audit) end runs whose lease lapsed; every such
change is a conditional update, so several Sluice processes may share one database.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from schemas.work import ViewRequest, Work
from service.auth.principal import Principal
from service.buckets import audit, lease
from service.buckets.batches import Batches
from service.buckets.candidates import Candidates
from service.buckets.claims import CLAIM_SORT, Claims
from service.buckets.documents import (
    DEPOSIT,
    LEASE,
    RUN,
    SERVER_FIELDS,
    STOP,
    assign_ids,
    deposit_fingerprint,
    public,
)
from service.buckets.lease import Late
from service.buckets.lifecycle import Lifecycle
from service.buckets.reports import Reports
from service.buckets.status import Status
from service.db import Database, Document, update_then_read
from service.errors import (
    BadRequest,
    Conflict,
    batch_too_large,
)
from service.query import QueryValidator, find_projection
from service.settings import Settings
from service.validation import duplicates, validate_works
from service.views import Documents, open_view

COLLECTION = "buckets.work"
#: A release: `queued` again, the attempt it held not counted, its lease gone.
RELEASE: list[Document] = [
    {
        "$set": {
            "status": "queued",
            "start": None,
            "stop": None,
            "attempt": {"$max": [0, {"$subtract": ["$attempt", 1]}]},
        }
    },
    {"$unset": [LEASE, STOP]},
]

INDEXES = [
    IndexModel([("id", ASCENDING)], unique=True, name="id_unique"),
    # Equality on status and pipeline, then the claim order: serves withdraw's sort.
    IndexModel([("status", ASCENDING), ("pipeline", ASCENDING), *CLAIM_SORT], name="claim"),
    # The same with the site first: what every worker's filter names (`workflow run -s`,
    # `sluice worker --site`). The embedded database plans only an index whose keys
    # cover every filtered field; without it that filter read every queued work.
    IndexModel(
        [("status", ASCENDING), ("site", ASCENDING), ("pipeline", ASCENDING), *CLAIM_SORT],
        name="claim_site",
    ),
    # Only running works carry a lease: the reaper's sweep reads just those.
    IndexModel([(f"{LEASE}.expires", ASCENDING)], name="lease_expires", sparse=True),
    IndexModel([("creation", ASCENDING)], name="creation"),
]


class BucketsStore(Claims, Lifecycle, Status, Batches, Reports):
    """Deposit, withdraw, lease, update, delete, view and count queued works."""

    def __init__(self, database: Database, validator: QueryValidator, settings: Settings) -> None:
        self.database = database
        self.validator = validator
        self.settings = settings
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        # One claim at a time per process when the server collapses under contention.
        self._claim_lock = asyncio.Lock() if settings.serialize_claims else None
        self.candidates = Candidates(settings.claim_batch, settings.claim_batch_seconds)

    async def create_indexes(self) -> None:
        """Ensure the collection's indexes (run at start-up, before any deposit)."""
        await self.collection.create_indexes(INDEXES)

    async def deposit(
        self, raw: Any, caller: Principal | None = None, run: str | None = None
    ) -> list[str]:
        """Queue works; return their ids in input order. All or nothing.

        A work whose id is already stored (given by the client, or derived from its
        content, see `documents.assign_ids`) is answered "already there" only when it is
        the same work as first deposited (`documents.deposit_fingerprint`), whatever the
        queue did with it since; otherwise 409 naming the ids, and nothing is queued.
        Invalid input queues nothing; nor does a work of a pipeline `caller` may not
        touch (403). `run` (the server's own deposits only) binds the works to a
        workfile run as its steps.
        """
        documents = validate_works(raw, Work, self.settings.max_batch)
        if caller is not None:
            caller.check_pipelines(d["pipeline"] for d in documents)
        repeated = duplicates([d["id"] for d in documents if d["id"] is not None])
        if repeated:
            raise Conflict("ids repeated within the batch; nothing was queued", {"ids": repeated})
        assign_ids(documents)
        now = time.time()
        queued: list[Document] = []
        for document in documents:
            stored = {**document, "status": "queued", DEPOSIT: deposit_fingerprint(document, run)}
            if stored["creation"] is None:
                stored["creation"] = now
            if run is not None:
                stored[RUN] = run
            queued.append(stored)
        if queued:
            await self._insert_new(queued)
            self.candidates.queued(queued)
        return [d["id"] for d in documents]

    async def _insert_new(self, queued: list[Document]) -> None:
        """Insert the works whose ids are not stored yet, all or nothing (a transaction,
        or one insert for a single work); 409 if a stored one is not the same work."""
        prints = {d["id"]: d[DEPOSIT] for d in queued}

        async def insert(careful: bool, session: AsyncClientSession | None) -> None:
            new = queued
            if careful:
                found = self.collection.find(
                    {"id": {"$in": list(prints)}}, {"id": True, DEPOSIT: True}, session=session
                )
                existing = {d["id"]: d.get(DEPOSIT) async for d in found}
                squatted = sorted(i for i, known in existing.items() if known != prints[i])
                if squatted:
                    raise Conflict(
                        f"{len(squatted)} id(s) already hold a different work "
                        f"(first: {squatted[0]}); nothing was queued",
                        {"ids": squatted},
                    )
                new = [d for d in queued if d["id"] not in existing]
            if new:
                await self.collection.insert_many(new, session=session)

        if await self.database.insert_judged(insert, len(queued) == 1):
            return
        raise Conflict("the works kept being deposited concurrently; retry", {})

    async def _held(self, work_id: str, token: str, caller: Principal | None) -> Document:
        """The filter of a held lease, limited to what `caller` may touch: 403 if the
        work is of a pipeline outside its patterns."""
        held = lease.held(work_id, token)
        if caller is not None and caller.restricted:
            found = await self.collection.find_one(held, {"pipeline": True, "_id": False})
            if found is None:
                raise lease.not_held(work_id)
            caller.check_pipelines([found.get("pipeline")])
            held["pipeline"] = found.get("pipeline")
        return held

    async def heartbeat(
        self, work_id: str, token: str, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Extend a held lease by the work's timeout; 409 if the lease is not held, 403
        if `caller` may not touch the work's pipeline."""
        held = await self._held(work_id, token, caller)
        now = time.time()
        # Read back only while `token` still holds the lease: what it answers (expiry,
        # stop) is then the lease's current state, even if a cancel or another
        # heartbeat of the same holder came in between.
        renewed = await update_then_read(
            self.collection,
            {"id": work_id},
            held,
            [{"$set": {LEASE: {"token": token, "expires": {"$add": [now, "$timeout"]}}}}],
            lease.held(work_id, token),
            self.settings.update_then_read,
            projection={LEASE: True, STOP: True, "_id": False},
        )
        if renewed is None:
            raise lease.not_held(work_id)
        return {
            "id": work_id,
            "expires": renewed[LEASE]["expires"],
            "stop": bool(renewed.get(STOP)),
        }

    async def release(self, work_id: str, token: str, caller: Principal | None = None) -> Document:
        """Give back a held work unfinished: `queued` again, the attempt not counted.
        409 if the lease is not held, 403 if `caller` may not touch the pipeline."""
        held = await self._held(work_id, token, caller)
        split = self.settings.update_then_read

        async def give_back(session: AsyncClientSession | None) -> Document | None:
            return await update_then_read(
                self.collection,
                {"id": work_id},
                held,
                RELEASE,
                {"status": "queued"},
                split,
                session=session,
            )

        # A released work carries no token of ours to recognise it by, and may be
        # claimed again at once: split, the update and its read share a transaction,
        # so the answer is the work as released, never as the next claimer took it.
        released = await (self.database.transaction(give_back) if split else give_back(None))
        if released is None:
            raise lease.not_held(work_id)
        self.candidates.queued([released])
        return public(released)

    async def update(
        self, raw: Any, token: str | None = None, caller: Principal | None = None
    ) -> list[Late]:
        """Replace works by id with the client's values; return the late reports.

        `token` is the `X-Sluice-Lease` header, if sent. Whether a document may replace
        the stored work is decided by `lease.judge`, the one rule for reports. A late
        tokenless report changes nothing and is returned; every other document of the
        batch is applied, all in one transaction, so any refusal (404 for an unknown
        id, 409, 403 when `caller` may not touch a pipeline or needs admin) changes
        nothing at all. A document the same as what is stored is always accepted, so a
        blind retry succeeds. Reports answered one by one: `report_many`.
        """
        documents = self.reported_documents(raw, caller)
        strict = self.settings.require_lease
        if len(documents) == 1:
            late = await lease.report(self.collection, documents[0], token, caller, strict)
            return [] if late is None else [late]

        async def replace_all(session: AsyncClientSession) -> list[Late]:
            found = [
                await lease.report(self.collection, d, token, caller, strict, session)
                for d in documents
            ]
            return [late for late in found if late is not None]

        return await self.database.transaction(replace_all)

    async def delete(self, ids: list[str], caller: Principal | None = None) -> bool:
        """Delete works by id, whatever their state. Unknown ids are no-ops. 403 (nothing
        deleted) if `caller` may not touch the pipeline of one of the stored works."""
        selected = await self._selection(
            ids, {}, caller, "name the works to delete as ?ids=<id>&ids=<id>"
        )
        await self.collection.delete_many(selected)
        return True

    async def retry_now(self, ids: list[str], caller: Principal | None = None) -> int:
        """Queue the named `failure` works again now (whatever retries they have left);
        how many were. Others are left as they are; 403 (nothing changed) if `caller`
        may not touch the pipeline of one of them."""
        selected = await self._selection(
            ids, {"status": "failure"}, caller, 'name the works to retry: {"ids": ["<id>"]}'
        )
        outcome = await self.collection.update_many(selected, audit.REQUEUE_FAILED)
        if outcome.modified_count:
            self.candidates.clear()
        return outcome.modified_count

    async def running(self, limit: int, caller: Principal | None = None) -> list[Document]:
        """Up to `limit` running works the caller may see, longest running first, each
        with `lease_expires` (when the reaper may take it back)."""
        cursor = self.collection.find({"status": "running"}, sort=[("start", ASCENDING)])
        found: list[Document] = []
        async for stored in cursor.limit(limit):
            if caller is None or caller.allows(stored.get("pipeline")):
                lease_field = stored.get(LEASE) or {}
                found.append({**public(stored), "lease_expires": lease_field.get("expires")})
        return found

    async def _selection(
        self, ids: list[str], condition: Document, caller: Principal | None, hint: str
    ) -> Document:
        """The filter selecting works `ids` (also matching `condition`) for a batch
        change; 400 without ids, 413 past SLUICE_MAX_BATCH, 403 if `caller` may not
        touch the pipeline of one of them."""
        if not ids:
            raise BadRequest(hint)
        if len(ids) > self.settings.max_batch:
            raise batch_too_large(len(ids), self.settings.max_batch, "ids")
        selected: Document = {"id": {"$in": ids}, **condition}
        if caller is not None and caller.patterns:
            pipelines = await self.collection.distinct("pipeline", selected)
            caller.check_pipelines(pipelines)
            # Conditional on the pipelines checked: a work moved elsewhere meanwhile stays.
            selected["pipeline"] = {"$in": pipelines}
        return selected

    async def view(self, request: ViewRequest, caller: Principal | None = None) -> Documents:
        """Matching works in deposit order, projected, streamed; never a server-only
        field (service.views.open_view).

        `limit` 0 or None means all, refused past SLUICE_MAX_VIEW_RESULTS. A
        pipeline-restricted `caller` must name its pipelines in the filter (403).
        """
        query = self.checked_filter(request.query)
        if caller is not None:
            caller.check_filter(query)
        projection = find_projection(
            self.validator.projection(request.projection, hidden=SERVER_FIELDS)
        )
        return await open_view(
            self.collection,
            query,
            projection,
            request.skip,
            request.limit,
            self.settings.max_view_results,
            "works",
            public,
        )
