"""Workers' beats in `workers`: one document per worker id, its last beat and when.

A worker id is the worker's own (a random id it picks at start) and is bound to the
token that first registered it: another token's beat on that id is refused (409), so
one token cannot overwrite or remove another's workers. Workers not heard from for
SLUICE_WORKER_STALE seconds are not listed, and `prune` deletes them (any number of
Sluice processes may prune at once: a delete is idempotent).
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from schemas.workers import BeatAnswer, WorkerBeat
from service.auth.principal import Principal
from service.db import Database, Document, count_by
from service.errors import Conflict
from service.settings import Settings

COLLECTION = "workers"
INDEXES = [IndexModel([("seen", DESCENDING)], name="seen")]
#: Fraction of SLUICE_WORKER_STALE between beats: two beats may be lost before a worker
#: drops out.
BEATS_PER_STALE = 3


class WorkerStore:
    """Record beats, list live workers, forget and prune workers."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.stale = settings.worker_stale
        self.cap = settings.max_view_results

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def beat(self, worker_id: str, beat: WorkerBeat, caller: Principal) -> BeatAnswer:
        """Record `beat` of worker `worker_id`; 403 outside the caller's pipelines, 409
        when another token registered that id."""
        caller.check_pipelines(beat.pipelines)
        now = time.time()
        try:
            await self.collection.update_one(
                {"_id": worker_id, "token": caller.name},
                {
                    "$set": {**beat.model_dump(), "seen": now},
                    "$setOnInsert": {"registered": now},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            raise Conflict(
                f"worker id {worker_id!r} is registered by another token", {"id": worker_id}
            ) from None
        return BeatAnswer(id=worker_id, beat=self.stale / BEATS_PER_STALE)

    async def forget(self, worker_id: str, caller: Principal) -> bool:
        """Remove the caller's worker `worker_id` (a worker that exits cleanly)."""
        outcome = await self.collection.delete_one({"_id": worker_id, "token": caller.name})
        return bool(outcome.deleted_count)

    async def live(
        self,
        caller: Principal,
        pipeline: str | None = None,
        site: str | None = None,
    ) -> list[Document]:
        """Workers heard from within SLUICE_WORKER_STALE seconds, most recent first
        (at most SLUICE_MAX_VIEW_RESULTS), each serving some pipeline the caller may
        touch, and showing only those (and its current work only if of one of them);
        optionally only those serving `pipeline` and at `site`."""
        query: dict[str, Any] = {"seen": {"$gte": time.time() - self.stale}}
        if pipeline is not None:
            query["pipelines"] = pipeline
        if site is not None:
            query["site"] = site
        cursor = self.collection.find(query, sort=[("seen", DESCENDING), ("_id", ASCENDING)])
        found: list[Document] = []
        async for document in cursor.limit(self.cap):
            mine = [name for name in document.get("pipelines", []) if caller.allows(name)]
            if mine:
                shown = {**_public(document), "pipelines": mine}
                current = shown.get("current")
                if isinstance(current, dict) and not caller.allows(current.get("pipeline")):
                    shown["current"] = None  # a work of another pipeline
                found.append(shown)
        return found

    async def serving(self) -> dict[str, int]:
        """How many live workers serve each pipeline."""
        counts = await count_by(
            self.collection, "pipelines", match={"seen": {"$gte": time.time() - self.stale}},
            unwind="pipelines",
        )  # fmt: skip
        return {str(pipeline): n for (pipeline,), n in counts.items()}

    async def prune(self) -> dict[str, int]:
        """Delete workers not heard from within SLUICE_WORKER_STALE; `{"dropped": n}`."""
        outcome = await self.collection.delete_many({"seen": {"$lt": time.time() - self.stale}})
        return {"dropped": outcome.deleted_count}


def _public(document: Document) -> Document:
    shown = {key: value for key, value in document.items() if key not in ("_id", "token")}
    return {"id": document["_id"], **shown}
