"""Buckets: queued works of every pipeline in one MongoDB collection.

A work moves `queued` -> `running` (withdraw: one conditional `find_one_and_update`
that also takes a lease) -> `success` / `failure` (the run's `PUT /work`). The reaper
and the audit routes (service.buckets.audit) end runs whose lease lapsed; every such
change is a conditional update, so several Sluice processes may share one database.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, OperationFailure

from schemas.work import ViewRequest, Work
from service.auth.principal import Principal
from service.buckets import lease
from service.buckets.documents import (
    CLOSED,
    LEASE,
    SERVER_FIELDS,
    STOP,
    assign_ids,
    public,
)
from service.db import DUPLICATE_KEY, Database, Document, count_by
from service.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    TooManyResults,
    ValidationFailed,
)
from service.query import QueryValidator, find_projection, refused
from service.settings import Settings
from service.validation import duplicates, validate_works

COLLECTION = "buckets.work"
STATUSES = ("queued", "running", "success", "failure")

#: Claim order: highest priority first, then oldest.
CLAIM_SORT = [("priority", DESCENDING), ("creation", ASCENDING)]

INDEXES = [
    IndexModel([("id", ASCENDING)], unique=True, name="id_unique"),
    # Equality on status and pipeline, then the claim order: serves withdraw's sort.
    IndexModel([("status", ASCENDING), ("pipeline", ASCENDING), *CLAIM_SORT], name="claim"),
    # Only running works carry a lease: the reaper's sweep reads just those.
    IndexModel([(f"{LEASE}.expires", ASCENDING)], name="lease_expires", sparse=True),
    IndexModel([("creation", ASCENDING)], name="creation"),
]

#: Attempts at a PUT whose document changed between our read and our write.
UPDATE_ATTEMPTS = 5


class BucketsStore:
    """Deposit, withdraw, lease, update, delete, view and count queued works."""

    def __init__(self, database: Database, validator: QueryValidator, settings: Settings) -> None:
        self.database = database
        self.validator = validator
        self.settings = settings
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        # One claim at a time per process when the server collapses under contention.
        self._claim_lock = asyncio.Lock() if settings.serialize_claims else None

    async def create_indexes(self) -> None:
        """Ensure the collection's indexes (run at start-up, before any deposit)."""
        await self.collection.create_indexes(INDEXES)

    def checked_filter(self, query: Any, where: str = "query") -> dict[str, Any]:
        """`query` if it is a safe filter over public fields; 400 otherwise."""
        self.validator.filter(query, where, hidden=SERVER_FIELDS)
        return dict(query)

    async def deposit(self, raw: Any, caller: Principal | None = None) -> list[str]:
        """Queue works; return their ids in input order. Idempotent by `id`.

        A work whose id is already stored (given by the client, or derived from its
        content, see `documents.assign_ids`) is left as it is, whatever its state, and
        its id is answered again. Invalid input queues nothing; nor does a work of a
        pipeline `caller` may not touch (403).
        """
        documents = validate_works(raw, Work, self.settings.max_batch)
        if caller is not None:
            caller.check_pipelines(d["pipeline"] for d in documents)
        repeated = duplicates([d["id"] for d in documents if d["id"] is not None])
        if repeated:
            raise Conflict("ids repeated within the batch; nothing was queued", {"ids": repeated})
        assign_ids(documents)
        now = time.time()
        for document in documents:
            document["status"] = "queued"
            if document["creation"] is None:
                document["creation"] = now
        if documents:
            try:
                # Unordered: every new work goes in even when some ids already exist.
                await self.collection.insert_many([dict(d) for d in documents], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if exc.details.get("writeConcernErrors") or any(
                    error.get("code") != DUPLICATE_KEY for error in errors
                ):
                    raise
        return [d["id"] for d in documents]

    async def withdraw(
        self, query: Any, caller: Principal | None = None
    ) -> tuple[Document, str] | None:
        """Claim the best `queued` work matching `query`; return it and its lease token.

        One conditional `find_one_and_update`, highest priority first, then oldest
        creation: `running`, `start` now, `attempt` + 1, and a lease lasting the
        work's `timeout`. None when nothing matches. A pipeline-restricted `caller`
        must name its pipelines in the filter (403 otherwise).
        """
        query = self.checked_filter(query)
        if caller is not None:
            caller.check_filter(query)
        claim = {"status": "queued", **query}
        if "status" in query:
            claim = {"status": "queued", "$and": [query]}
        lock: AbstractAsyncContextManager[Any] = self._claim_lock or nullcontext()
        async with lock:
            now = time.time()
            claimed_lease = lease.new_lease(now, "$timeout")
            update: list[dict[str, Any]] = [
                {
                    "$set": {
                        "status": "running",
                        "start": now,
                        "stop": None,
                        "attempt": {"$add": [{"$ifNull": ["$attempt", 0]}, 1]},
                        LEASE: claimed_lease,
                    }
                },
                {"$unset": [STOP, CLOSED]},
            ]
            try:
                claimed = await self.collection.find_one_and_update(
                    claim, update, sort=CLAIM_SORT, return_document=ReturnDocument.AFTER
                )
            except OperationFailure as exc:
                raise refused(exc) from None
        if claimed is None:
            return None
        return public(claimed), claimed_lease["token"]

    async def heartbeat(self, work_id: str, token: str) -> dict[str, Any]:
        """Extend a held lease by the work's timeout; 409 if the lease is not held."""
        now = time.time()
        renewed = await self.collection.find_one_and_update(
            lease.held(work_id, token),
            [{"$set": {LEASE: {"token": token, "expires": {"$add": [now, "$timeout"]}}}}],
            projection={LEASE: True, STOP: True, "_id": False},
            return_document=ReturnDocument.AFTER,
        )
        if renewed is None:
            raise lease.not_held(work_id)
        return {
            "id": work_id,
            "expires": renewed[LEASE]["expires"],
            "stop": bool(renewed.get(STOP)),
        }

    async def release(self, work_id: str, token: str) -> Document:
        """Give back a held work unfinished: `queued` again, the attempt not counted."""
        released = await self.collection.find_one_and_update(
            lease.held(work_id, token),
            [
                {
                    "$set": {
                        "status": "queued",
                        "start": None,
                        "stop": None,
                        "attempt": {"$max": [0, {"$subtract": ["$attempt", 1]}]},
                        CLOSED: True,
                    }
                },
                {"$unset": [LEASE, STOP]},
            ],
            return_document=ReturnDocument.AFTER,
        )
        if released is None:
            raise lease.not_held(work_id)
        return public(released)

    async def update(
        self, raw: Any, token: str | None = None, caller: Principal | None = None
    ) -> bool:
        """Replace works by id with the client's values; all or nothing.

        `token` is the `X-Sluice-Lease` header, if sent. Whether a document may replace
        the stored work (a run still holding it, or an administrative edit) is decided
        by `lease.replacement`. A document equal to what is stored is always accepted,
        so a blind retry succeeds. 404 for an unknown id, 409 for a refused update, 403
        when `caller` may not touch the pipeline of a document or of the stored work.
        """
        documents = validate_works(raw, Work, self.settings.max_batch)
        if caller is not None:
            caller.check_pipelines(d["pipeline"] for d in documents)
        for index, document in enumerate(documents):
            if document["id"] is None:
                raise ValidationFailed(f"document {index} has no id; an update needs one")
        repeated = duplicates([d["id"] for d in documents])
        if repeated:
            raise ValidationFailed("ids repeated within the batch", {"ids": repeated})
        if len(documents) == 1:
            await self._replace(documents[0], token, None, caller)
            return True

        async def replace_all(session: AsyncClientSession) -> None:
            for document in documents:
                await self._replace(document, token, session, caller)

        await self.database.transaction(replace_all)
        return True

    async def _replace(
        self,
        incoming: Document,
        token: str | None,
        session: AsyncClientSession | None,
        caller: Principal | None,
    ) -> None:
        for _ in range(UPDATE_ATTEMPTS):
            stored = await self.collection.find_one({"id": incoming["id"]}, session=session)
            if stored is None:
                raise NotFound(f"no work with id {incoming['id']}", {"id": incoming["id"]})
            if caller is not None:
                caller.check_pipelines([stored.get("pipeline")])
            if public(stored) == incoming:
                return
            replacement = lease.replacement(stored, incoming, token)
            result = await self.collection.replace_one(
                lease.version(stored), replacement, session=session
            )
            if result.matched_count:
                return
        raise Conflict(
            f"work {incoming['id']} kept changing during the update; retry",
            {"id": incoming["id"]},
        )

    async def delete(self, ids: list[str], caller: Principal | None = None) -> bool:
        """Delete works by id, whatever their state. Unknown ids are no-ops. 403 (nothing
        deleted) if `caller` may not touch the pipeline of one of the stored works."""
        if not ids:
            raise BadRequest("name the works to delete as ?ids=<id>&ids=<id>")
        if len(ids) > self.settings.max_batch:
            raise PayloadTooLarge(
                f"{len(ids)} ids exceed SLUICE_MAX_BATCH ({self.settings.max_batch})",
                {"limit": "SLUICE_MAX_BATCH", "max_batch": self.settings.max_batch},
            )
        selected: Document = {"id": {"$in": ids}}
        if caller is not None and caller.patterns:
            pipelines = await self.collection.distinct("pipeline", selected)
            caller.check_pipelines(pipelines)
            # Conditional on the pipelines checked: a work moved elsewhere meanwhile stays.
            selected["pipeline"] = {"$in": pipelines}
        await self.collection.delete_many(selected)
        return True

    async def view(self, request: ViewRequest, caller: Principal | None = None) -> list[Document]:
        """Matching works in deposit order, projected; never a server-only field.

        `limit` 0 or None means all, refused past SLUICE_MAX_VIEW_RESULTS. A
        pipeline-restricted `caller` must name its pipelines in the filter (403).
        """
        query = self.checked_filter(request.query)
        if caller is not None:
            caller.check_filter(query)
        projection = find_projection(
            self.validator.projection(request.projection, hidden=SERVER_FIELDS)
        )
        cap = self.settings.max_view_results
        limit = request.limit or 0
        too_many = TooManyResults(
            f"more than SLUICE_MAX_VIEW_RESULTS ({cap}) works requested or matching; "
            "page with skip and limit",
            {"limit": "SLUICE_MAX_VIEW_RESULTS", "max": cap},
        )
        if limit > cap:
            raise too_many
        try:
            cursor = self.collection.find(
                query,
                projection,
                skip=request.skip,
                limit=limit or cap + 1,
                sort=[("_id", ASCENDING)],
            )
            found = [public(document) async for document in cursor]
        except OperationFailure as exc:
            raise refused(exc) from None
        if len(found) > cap:
            raise too_many
        return found

    async def counts(self, pipeline: str | None = None) -> dict[str, int]:
        """`{"total", "queued", "running", "success", "failure"}`, of one pipeline or all."""
        # One count per status: each is served by the claim index's (status, pipeline)
        # prefix, where a match on pipeline alone would scan the collection.
        counts = {"total": 0}
        for status in (*STATUSES, "created"):
            query = (
                {"status": status} if pipeline is None else {"status": status, "pipeline": pipeline}
            )
            found = await self.collection.count_documents(query)
            counts["total"] += found
            if status in STATUSES:
                counts[status] = found
        return counts

    async def pipelines(self) -> list[str]:
        """Names of the pipelines that hold work, sorted."""
        names: set[str] = set()
        for status in (*STATUSES, "created"):
            names.update(await self.collection.distinct("pipeline", {"status": status}))
        return sorted(names)

    async def depth(self) -> dict[tuple[str, str], int]:
        """How many works each (pipeline, status) holds, in one pass over the queue."""
        counts = await count_by(self.collection, "pipeline", "status")
        return {(str(pipeline), str(status)): n for (pipeline, status), n in counts.items()}
