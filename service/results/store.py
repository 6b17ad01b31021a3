"""Results: finished works, one MongoDB collection per pipeline.

Every write of a batch runs in one transaction (a deposit of one document is one
insert, atomic by itself), so a request either writes all of its documents or none. A
locked result (`results.locked: true`) is never replaced or deleted; the one change
allowed on it is clearing the lock.
"""

from __future__ import annotations

import re
import time
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from schemas.work import PIPELINE_PATTERN, FinishedWork, ViewRequest
from service import canonical
from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import (
    BadRequest,
    Conflict,
    InvalidQuery,
    NotFound,
    ValidationFailed,
    batch_too_large,
)
from service.query import QueryValidator, find_projection, refused
from service.settings import Settings
from service.validation import duplicates, validate_works
from service.views import Documents, open_view

COLLECTION_PREFIX = "results."
_PIPELINE = re.compile(PIPELINE_PATTERN)

INDEXES = [
    IndexModel([("id", ASCENDING)], unique=True, name="id_unique"),
    IndexModel([("event", ASCENDING)], name="event"),
    IndexModel([("creation", ASCENDING)], name="creation"),
    IndexModel([("status", ASCENDING)], name="status"),
    IndexModel([("tags", ASCENDING)], name="tags"),
    IndexModel([("results.locked", ASCENDING)], name="locked"),
]

#: Collection handles kept for reuse (building one costs as much as a small query's
#: own work); past this many pipelines the cache starts afresh.
CACHED_COLLECTIONS = 1024


def check_pipeline(name: Any) -> str:
    """Return `name` if it is a valid pipeline name; 400 otherwise."""
    if not isinstance(name, str) or not _PIPELINE.match(name):
        raise BadRequest(
            f"invalid pipeline name {name!r}: 1-128 characters, each a letter, digit or '-'",
            {"pipeline": name if isinstance(name, str) else repr(name)},
        )
    return name


def is_locked(document: Document) -> bool:
    """Whether a stored result carries `results.locked: true`."""
    results = document.get("results")
    return isinstance(results, dict) and results.get("locked") is True


def _without_lock(document: Document) -> Document:
    comparable = {k: v for k, v in document.items() if k != "_id"}
    results = comparable.get("results")
    if isinstance(results, dict):
        comparable["results"] = {k: v for k, v in results.items() if k != "locked"}
    return comparable


def _same_result(stored: Document, deposited: Document) -> bool:
    """Whether a deposit is the stored result again (a `creation` left unset matches)."""
    if deposited["creation"] is None:
        deposited = {**deposited, "creation": stored.get("creation")}
    return canonical.same({k: v for k, v in stored.items() if k != "_id"}, deposited)


class ResultsStore:
    """Deposit, update, delete, view and count results."""

    def __init__(self, database: Database, validator: QueryValidator, settings: Settings) -> None:
        self.database = database
        self.validator = validator
        self.settings = settings
        self._indexed: set[str] = set()
        self._collections: dict[str, AsyncCollection[Document]] = {}

    def collection(self, pipeline: str) -> AsyncCollection[Document]:
        """The results collection of `pipeline` (a handle; the collection may not exist)."""
        found = self._collections.get(pipeline)
        if found is None:
            if len(self._collections) >= CACHED_COLLECTIONS:
                self._collections.clear()
            found = self._collections[pipeline] = self.database.db[COLLECTION_PREFIX + pipeline]
        return found

    async def pipelines(self) -> list[str]:
        """Names of the pipelines that have a results collection, sorted."""
        names = await self.database.db.list_collection_names(
            filter={"name": {"$regex": "^" + re.escape(COLLECTION_PREFIX)}}
        )
        return sorted(name[len(COLLECTION_PREFIX) :] for name in names)

    async def create_indexes(self) -> None:
        """Ensure the indexes of every existing pipeline (run at start-up)."""
        for pipeline in await self.pipelines():
            await self.ensure_indexes(pipeline)

    async def ensure_indexes(self, pipeline: str) -> None:
        # Must precede the first insert: the unique index is what refuses duplicates.
        if pipeline not in self._indexed:
            await self.collection(pipeline).create_indexes(INDEXES)
            self._indexed.add(pipeline)

    async def deposit(self, raw: Any, caller: Principal | None = None) -> dict[str, bool]:
        """Insert finished works; all or nothing; 403 if `caller` may not touch one of
        their pipelines.

        A document whose `id` is already stored in its pipeline is "already there" (not
        written again, no error) when it is the same result, compared type-exactly
        (`service.canonical`; a `creation` the depositor left unset is not compared);
        otherwise 409 naming the ids, and nothing is written. So a blind retry, or the
        mover and a `workflow transfer` daemon moving the same work, both succeed.
        """
        by_pipeline: dict[str, list[Document]] = {}
        for document in validate_works(raw, FinishedWork, self.settings.max_batch):
            if document["id"] is None:
                document["id"] = str(ObjectId())
            by_pipeline.setdefault(document["pipeline"], []).append(document)
        if caller is not None:
            caller.check_pipelines(by_pipeline)
        for pipeline, documents in by_pipeline.items():
            repeated = duplicates([d["id"] for d in documents])
            if repeated:
                raise Conflict(
                    f"ids repeated within the batch for pipeline {pipeline}; nothing was written",
                    {"pipeline": pipeline, "ids": repeated},
                )
            await self.ensure_indexes(pipeline)
        now = time.time()

        async def insert(careful: bool, session: AsyncClientSession | None) -> None:
            new = await self._new_results(by_pipeline, session) if careful else by_pipeline
            for pipeline, documents in new.items():
                await self.collection(pipeline).insert_many(
                    [{**d, "creation": now if d["creation"] is None else d["creation"]}
                     for d in documents],
                    session=session,
                )  # fmt: skip

        single = sum(len(documents) for documents in by_pipeline.values()) == 1
        if await self.database.insert_judged(insert, single):
            return {pipeline: True for pipeline in by_pipeline}
        raise Conflict("the results kept being deposited concurrently; retry", {})

    async def _new_results(
        self, by_pipeline: dict[str, list[Document]], session: AsyncClientSession | None
    ) -> dict[str, list[Document]]:
        """The documents whose ids are not stored yet, by pipeline; 409 naming the ids
        stored with a different result (a stored id with the same result is dropped)."""
        conflicts: dict[str, list[str]] = {}
        new: dict[str, list[Document]] = {}
        for pipeline, documents in by_pipeline.items():
            cursor = self.collection(pipeline).find(
                {"id": {"$in": [d["id"] for d in documents]}}, {"_id": False}, session=session
            )
            stored = {d["id"]: d async for d in cursor}
            for document in documents:
                known = stored.get(document["id"])
                if known is None:
                    new.setdefault(pipeline, []).append(document)
                elif not _same_result(known, document):
                    conflicts.setdefault(pipeline, []).append(document["id"])
        if conflicts:
            raise Conflict(
                "results with these ids already exist and differ from those deposited; "
                "nothing was deposited",
                {"existing": {p: sorted(ids) for p, ids in conflicts.items()}},
            )
        return new

    async def update(self, raw: Any, caller: Principal | None = None) -> dict[str, list[str]]:
        """Replace results by `id`; all or nothing. 404 for unknown ids, 409 for locked
        ones; 403 if `caller` may not touch a pipeline, or clears a lock without `admin`.
        Returns the ids whose lock this update cleared, by pipeline."""
        documents = validate_works(raw, FinishedWork, self.settings.max_batch)
        by_pipeline: dict[str, dict[str, Document]] = {}
        for index, document in enumerate(documents):
            if document["id"] is None:
                raise ValidationFailed(f"document {index} has no id; an update needs one")
            batch = by_pipeline.setdefault(document["pipeline"], {})
            if document["id"] in batch:
                raise ValidationFailed(f"id {document['id']} appears twice in the batch")
            batch[document["id"]] = document
        if caller is not None:
            caller.check_pipelines(by_pipeline)
        unlocked: dict[str, list[str]] = {}

        async def apply(session: AsyncClientSession) -> None:
            missing: dict[str, list[str]] = {}
            locked: dict[str, list[str]] = {}
            unlocked.clear()  # the transaction may be retried
            for pipeline, incoming in by_pipeline.items():
                collection = self.collection(pipeline)
                stored = {
                    d["id"]: d
                    async for d in collection.find({"id": {"$in": list(incoming)}}, session=session)
                }
                writes = []
                for result_id, document in incoming.items():
                    current = stored.get(result_id)
                    if current is None:
                        missing.setdefault(pipeline, []).append(result_id)
                    elif not is_locked(current):
                        guard = {"_id": current["_id"], "results.locked": {"$ne": True}}
                        writes.append(ReplaceOne(guard, document))
                    elif canonical.same(_without_lock(current), _without_lock(document)):
                        # Unchanged but for the lock: an unlock, or locking what is locked.
                        if not is_locked(document):
                            if caller is not None:
                                caller.require("admin", "clearing a result's lock")
                            unlocked.setdefault(pipeline, []).append(result_id)
                        writes.append(ReplaceOne({"_id": current["_id"]}, document))
                    else:
                        locked.setdefault(pipeline, []).append(result_id)
                if writes and not missing and not locked:
                    await collection.bulk_write(writes, session=session)
            if missing:
                raise NotFound(
                    "no results with these ids; nothing was updated", {"missing": missing}
                )
            if locked:
                raise Conflict(
                    "these results are locked and cannot be changed; nothing was updated",
                    {"locked": locked},
                )

        await self.database.transaction(apply)
        return unlocked

    async def delete(self, ids_by_pipeline: dict[str, list[str]]) -> dict[str, bool]:
        """Delete results by id; all or nothing. 409 listing locked ids. Unknown ids are no-ops."""
        total = sum(len(ids) for ids in ids_by_pipeline.values())
        if total > self.settings.max_batch:
            raise batch_too_large(total, self.settings.max_batch, "ids")
        for pipeline in ids_by_pipeline:
            check_pipeline(pipeline)

        async def remove(session: AsyncClientSession) -> None:
            locked: dict[str, list[str]] = {}
            for pipeline, ids in ids_by_pipeline.items():
                cursor = self.collection(pipeline).find(
                    {"id": {"$in": ids}, "results.locked": True},
                    {"id": True, "_id": False},
                    session=session,
                )
                found = sorted([d["id"] async for d in cursor])
                if found:
                    locked[pipeline] = found
            if locked:
                raise Conflict(
                    "these results are locked and cannot be deleted; nothing was deleted",
                    {"locked": locked},
                )
            for pipeline, ids in ids_by_pipeline.items():
                await self.collection(pipeline).delete_many(
                    {"id": {"$in": ids}, "results.locked": {"$ne": True}}, session=session
                )

        await self.database.transaction(remove)
        return {pipeline: True for pipeline in ids_by_pipeline}

    def _split_query(
        self, query: dict[str, Any], caller: Principal | None
    ) -> tuple[str, dict[str, Any]]:
        """Validate a view/count query; return its pipeline and the rest of the filter."""
        self.validator.filter(query)
        if "pipeline" not in query:
            raise InvalidQuery("query.pipeline is required: it names the results collection")
        rest = dict(query)
        pipeline = check_pipeline(rest.pop("pipeline"))
        if caller is not None:
            caller.check_pipelines([pipeline])
        return pipeline, rest

    async def view(self, request: ViewRequest, caller: Principal | None = None) -> Documents:
        """Matching results in deposit order, streamed (service.views.open_view).

        `limit` 0 or None means all, which is refused past SLUICE_MAX_VIEW_RESULTS.
        """
        pipeline, query = self._split_query(request.query, caller)
        projection = find_projection(self.validator.projection(request.projection))
        return await open_view(
            self.collection(pipeline),
            query,
            projection,
            request.skip,
            request.limit,
            self.settings.max_view_results,
            "results",
        )

    async def count(self, query: dict[str, Any], caller: Principal | None = None) -> int:
        """How many results match `query` (which names its pipeline)."""
        pipeline, rest = self._split_query(query, caller)
        collection = self.collection(pipeline)
        try:
            if not rest:
                return await collection.estimated_document_count()
            return await collection.count_documents(rest)
        except OperationFailure as exc:
            raise refused(exc) from None

    async def status(self) -> dict[str, int]:
        """Result count of every pipeline that holds results."""
        counts = {
            pipeline: await self.collection(pipeline).estimated_document_count()
            for pipeline in await self.pipelines()
        }
        return {pipeline: n for pipeline, n in counts.items() if n}

    async def find_ids(self, pipeline: str, ids: list[str]) -> list[Document]:
        """The stored results of `pipeline` with these ids, as stored (no `_id`)."""
        cursor = self.collection(pipeline).find({"id": {"$in": ids}}, {"_id": False})
        return await cursor.to_list()
