"""Provenance: one immutable record per committed flow run (`aero_provenance`, unique
`run_id`), and lineage walked over those records in both directions.

A record names the exact input versions the run was given (resolved when it was
enqueued: `derived_from`), the versions it created (`contributed_to`) and the outputs
whose bytes were already the latest version (`reproduced`), with the function's path
and the package version the worker reported.
"""

from __future__ import annotations

import time
import uuid

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import BadRequest, NotFound
from service.flows.store import visible_pipelines

COLLECTION = "aero_provenance"
INDEXES = [
    IndexModel([("run_id", ASCENDING)], name="run_id", unique=True),
    IndexModel([("parent", ASCENDING)], name="parent"),
    IndexModel([("derived_from", ASCENDING)], name="derived_from"),
    IndexModel([("contributed_to", ASCENDING)], name="contributed_to"),
    IndexModel([("flow_id", ASCENDING), ("created_at", DESCENDING)], name="flow"),
    IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="listing"),
]
#: Lineage direction -> (the field holding the version asked about, the field walked to).
DIRECTIONS = {"up": ("contributed_to", "derived_from"), "down": ("derived_from", "contributed_to")}


class ProvenanceNotFound(NotFound):
    code = "provenance_not_found"


def provenance_info(record: Document) -> Document:
    """The native JSON of a provenance record."""
    return {"id": record["_id"], **{k: v for k, v in record.items() if k != "_id"}}


class ProvenanceStore:
    """Record provenance and walk lineage."""

    def __init__(self, database: Database, max_nodes: int) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.max_nodes = max_nodes

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def record(
        self,
        run: Document,
        created: list[str],
        reproduced: list[str],
        function_version: str | None,
        session: AsyncClientSession | None = None,
    ) -> Document:
        """The run's record, inserted once (in `session`'s transaction if given): a
        repeat returns the first one."""
        existing = await self.collection.find_one({"run_id": run["_id"]}, session=session)
        if existing is not None:
            return existing
        record: Document = {
            "_id": uuid.uuid4().hex,
            "run_id": run["_id"],
            # A task's part: the run it is a part of, so a query by that run finds it.
            "parent": run.get("parent"),
            "flow_id": run["flow_id"],
            "pipeline": run["pipeline"],
            "function_id": run["function_id"],
            "function_path": run["function_path"],
            "function_version": function_version,
            "inputs": run["inputs"],
            "outputs": run["committed"],
            "derived_from": [given["version_id"] for given in run["inputs"].values()],
            "contributed_to": created,
            "reproduced": reproduced,
            "started_at": run["started_at"],
            "created_at": time.time(),
        }
        await self.collection.insert_one(record, session=session)
        return record

    async def get(self, provenance_id: str, caller: Principal | None = None) -> Document:
        """The record; ProvenanceNotFound, 403 outside `caller`'s pipelines."""
        found = await self.collection.find_one({"_id": provenance_id})
        if found is None:
            raise ProvenanceNotFound(
                f"no provenance record {provenance_id!r}", {"id": provenance_id}
            )
        if caller is not None:
            caller.check_pipelines([found["pipeline"]])
        return found

    async def query(
        self,
        flow_id: str | None,
        version_id: str | None,
        run_id: str | None,
        caller: Principal | None = None,
    ) -> Document:
        """The filter of the records `caller` may see of a flow, a run (a run of tasks:
        its parts' records), or touching a version (either way)."""
        query: Document = await visible_pipelines(self.collection, caller)
        if flow_id is not None:
            query["flow_id"] = flow_id
        either: list[Document] = []
        if run_id is not None:
            either.append({"$or": [{"run_id": run_id}, {"parent": run_id}]})
        if version_id is not None:
            either.append({"$or": [{"derived_from": version_id}, {"contributed_to": version_id},
                                   {"reproduced": version_id}]})  # fmt: skip
        if either:
            query["$and"] = either
        return query

    async def lineage(
        self, version_id: str, direction: str, depth: int, caller: Principal | None = None
    ) -> Document:
        """The records reached from `version_id` walking `up` (what it was derived from)
        or `down` (everything derived from it), at most `depth` steps and the lineage
        node limit; `{"versions": [ids in walk order], "records": [...], "truncated"}`."""
        if direction not in DIRECTIONS:
            raise BadRequest("direction must be 'up' or 'down'", {"direction": direction})
        if depth < 1:
            raise BadRequest("depth must be at least 1", {"depth": depth})
        here, there = DIRECTIONS[direction]
        visible = await visible_pipelines(self.collection, caller)
        seen = {version_id}
        order: list[str] = []
        records: list[Document] = []
        frontier = [version_id]
        truncated = False
        for _ in range(depth):
            if not frontier:
                break
            cursor = self.collection.find(
                {here: {"$in": frontier}, **visible}, sort=[("created_at", ASCENDING)],
                limit=self.max_nodes + 1,
            )  # fmt: skip
            frontier = []
            async for record in cursor:
                if len(records) >= self.max_nodes:
                    truncated = True
                    break
                records.append(record)
                for reached in record[there]:
                    if reached not in seen:
                        seen.add(reached)
                        order.append(reached)
                        frontier.append(reached)
            if truncated:
                break
        return {"versions": order, "records": records, "truncated": truncated}
