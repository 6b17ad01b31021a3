"""Workfiles: versioned workflow files of a workspace, bytes in GridFS.

`workfiles` holds one metadata document per (workspace, file name) with the list of its
versions; each version's bytes are one GridFS file of the `workfiles` bucket. Uploading
a name that exists adds a version (a conditional update on the latest version number,
so two concurrent uploads both land, one after the other); runs record the version
they execute.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId
from gridfs.errors import NoFile
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from schemas.workfiles import WorkflowFile
from service.auth.principal import Principal
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound
from service.gridstream import SweptBucket, grid_bucket
from service.params import page_skip
from service.settings import Settings
from service.workfiles import definition
from service.workfiles.workspaces import WorkspaceStore

COLLECTION = "workfiles"
BUCKET = "workfiles"
#: Attempts at adding a version while other uploads of the same name race ours.
UPLOAD_ATTEMPTS = 10

INDEXES = [
    IndexModel([("workspace", ASCENDING), ("file_name", ASCENDING)], unique=True, name="name"),
]


class WorkfileNotFound(NotFound):
    code = "workfile_not_found"


def not_found(workfile_id: str) -> WorkfileNotFound:
    return WorkfileNotFound(f"no workfile with id {workfile_id!r}", {"id": workfile_id})


def info(document: Document) -> Document:
    """The wire metadata (`schemas.workfiles.WorkfileInfo`) of a stored workfile."""
    return {
        "id": document["_id"],
        "file_name": document["file_name"],
        "file_type": document["file_type"],
        "workspace": document["workspace"],
        "owner": document["owner"],
        "workflow_name": document["workflow_name"],
        "version": document["version"],
        "size": document["versions"][-1]["size"],
        "created_at": document["created_at"],
        "modified_at": document["modified_at"],
    }


def pipelines_of(workflow: WorkflowFile) -> list[str]:
    """The pipelines a workflow's steps run in, sorted."""
    return sorted({op.pipeline or workflow.pipeline or "" for op in workflow.operators} - {""})


def check_access(stored: Document, caller: Principal | None) -> None:
    """403 unless `caller` may touch every pipeline any version of `stored` names (a
    workfile stored without that list is treated as naming an unknown pipeline)."""
    if caller is not None:
        caller.check_pipelines(stored.get("pipelines", [None]))


def check_name(what: str, value: str | None) -> str:
    """A workspace or file name: 1-256 characters, no control characters; else 400."""
    if not value or len(value) > 256 or any(ord(c) < 32 for c in value) or "/" in value:
        raise BadRequest(
            f"{what} must be 1-256 characters without '/' or control characters",
            {"name": what, "value": value},
        )
    return value


class WorkfileStore(SweptBucket):
    """Upload, list, read, download and delete workfiles."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.settings = settings
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.files, meta, chunks = grid_bucket(database.db, BUCKET)
        self.swept(self.files, meta, chunks)
        self.workspaces = WorkspaceStore(database)

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)
        await self.workspaces.create_indexes()

    async def upload(
        self,
        workspace: str,
        file_name: str,
        owner: str,
        content: bytes,
        caller: Principal | None = None,
    ) -> Document:
        """Store `content` as a new workfile or a new version of the same name; its
        metadata. The content is checked first (InvalidWorkfile, nothing stored); 403
        if `caller` may not touch a pipeline it, or the workfile it adds to, names."""
        check_name("workspace", workspace)
        check_name("file_name", file_name)
        kind = definition.file_type(file_name)
        workflow = await self.parse(content, kind)
        if caller is not None:
            caller.check_pipelines(pipelines_of(workflow))
        now = time.time()
        file_id = await self.files.upload_from_stream(
            file_name, content, metadata={"workspace": workspace, "file_name": file_name}
        )
        entry = {"file_id": file_id, "size": len(content), "created_at": now}
        try:
            stored = await self._add_version(
                workspace, file_name, owner, kind, workflow, entry, caller
            )
        except BaseException:
            await self.files.delete(file_id)
            raise
        # After the workfile: a workspace delete racing this upload sees the workfile.
        await self.workspaces.record(workspace, owner)
        return info(stored)

    async def sweep_unheld(self, grace: float, limit: int) -> int:
        """Delete, of the next `limit` files uploaded over `grace` seconds ago, those no
        workfile version holds (an upload whose version was never recorded, a delete
        cut short); how many. Versions are never added to an old file again."""
        return await self.delete_unheld(grace, limit, self._held)

    async def _held(self, files: list[Document]) -> set[Any]:
        cursor = self.collection.find(
            {"versions.file_id": {"$in": [found["_id"] for found in files]}},
            {"versions.file_id": True},
        )
        return {entry["file_id"] async for record in cursor for entry in record["versions"]}

    async def holds_workfiles(self, workspace: str) -> bool:
        """Whether the workspace named `workspace` holds any workfile."""
        return await self.collection.find_one({"workspace": workspace}, {"_id": True}) is not None

    async def _add_version(
        self,
        workspace: str,
        file_name: str,
        owner: str,
        kind: str,
        workflow: WorkflowFile,
        entry: Document,
        caller: Principal | None,
    ) -> Document:
        named = pipelines_of(workflow)
        latest = {
            "file_type": kind,
            "workflow_name": workflow.name,
            "modified_at": entry["created_at"],
        }
        for _ in range(UPLOAD_ATTEMPTS):
            stored = await self.collection.find_one(
                {"workspace": workspace, "file_name": file_name}
            )
            if stored is None:
                document = {
                    "_id": uuid.uuid4().hex[:24],
                    "workspace": workspace,
                    "file_name": file_name,
                    "owner": owner,
                    "created_at": entry["created_at"],
                    "version": 1,
                    "versions": [{**entry, "version": 1}],
                    "pipelines": named,
                    **latest,
                }
                try:
                    await self.collection.insert_one(document)
                    return document
                except DuplicateKeyError:
                    continue  # a concurrent first upload won: become its next version
            check_access(stored, caller)
            version = stored["version"] + 1
            updated = await self.collection.find_one_and_update(
                {"_id": stored["_id"], "version": stored["version"]},
                {"$set": {**latest, "version": version},
                 "$push": {"versions": {**entry, "version": version}},
                 "$addToSet": {"pipelines": {"$each": named}}},
                return_document=ReturnDocument.AFTER,
            )  # fmt: skip
            if updated is not None:
                return updated
        raise Conflict(f"workfile {file_name!r} kept changing during the upload; retry")

    async def get(self, workfile_id: str, caller: Principal | None = None) -> Document:
        """The stored document; WorkfileNotFound, 403 if `caller` may not touch one of
        the pipelines it names."""
        stored = await self.collection.find_one({"_id": workfile_id})
        if stored is None:
            raise not_found(workfile_id)
        check_access(stored, caller)
        return stored

    async def page(
        self,
        workspace: str,
        page: int,
        per_page: int,
        file_name: str | None,
        caller: Principal | None = None,
    ) -> Document:
        """One page (from 1) of the workspace's workfiles sorted by name, and the total;
        only those naming pipelines `caller` may all touch."""
        check_name("workspace", workspace)
        skip = page_skip(page, per_page, self.settings.max_view_results)
        query: dict[str, Any] = {"workspace": workspace}
        if file_name is not None:
            query["file_name"] = file_name
        if caller is not None and caller.restricted:
            named = await self.collection.distinct("pipelines", query)
            outside = [name for name in named if not caller.allows(name)]
            query["pipelines"] = {"$exists": True, "$nin": outside}
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(
            query, skip=skip, limit=per_page, sort=[("file_name", ASCENDING)]
        )
        found = [info(document) async for document in cursor]
        return {"workfiles": found, "page": page, "per_page": per_page, "total": total}

    async def version(
        self, workfile_id: str, version: int | None, caller: Principal | None = None
    ) -> tuple[Document, Document]:
        """The workfile and one version entry (the latest by default); WorkfileNotFound,
        403 as `get`."""
        stored = await self.get(workfile_id, caller)
        wanted = stored["version"] if version is None else version
        for entry in stored["versions"]:
            if entry["version"] == wanted:
                return stored, entry
        raise NotFound(
            f"workfile {workfile_id!r} has no version {wanted}",
            {"id": workfile_id, "version": wanted, "latest": stored["version"]},
        )

    async def content(self, file_id: ObjectId) -> bytes:
        """All the bytes of one stored version (bounded by SLUICE_MAX_WORKFILE_BYTES)."""
        stream = await self.files.open_download_stream(file_id)
        data: bytes = await stream.read()
        return data

    async def chunks(self, file_id: ObjectId) -> AsyncIterator[bytes]:
        """The bytes of one stored version, chunk by chunk."""
        try:
            stream = await self.files.open_download_stream(file_id)
        except NoFile:
            return
        while chunk := await stream.readchunk():
            yield chunk

    async def load(self, workfile_id: str) -> tuple[Document, Document, WorkflowFile]:
        """The workfile, its latest version entry and that version's parsed workflow."""
        stored, entry = await self.version(workfile_id, None)
        content = await self.content(entry["file_id"])
        return stored, entry, await self.parse(content, stored["file_type"])

    async def parse(self, content: bytes, kind: definition.FileType) -> WorkflowFile:
        """`definition.parse` with the configured limits, in a worker thread: YAML
        parsing is pure Python and would hold the event loop (every other request)."""
        return await asyncio.to_thread(
            definition.parse,
            content,
            kind,
            self.settings.max_workfile_depth,
            self.settings.max_workfile_steps,
        )

    async def delete(self, workfile_id: str, caller: Principal | None = None) -> None:
        """Delete a workfile and every version's bytes; WorkfileNotFound, 403 as `get`."""
        stored = await self.get(workfile_id, caller)
        # Conditional on the version checked: one uploaded meanwhile may name others.
        removed = await self.collection.find_one_and_delete(
            {"_id": workfile_id, "version": stored["version"]}
        )
        if removed is None:
            if await self.collection.count_documents({"_id": workfile_id}, limit=1):
                raise Conflict(f"workfile {workfile_id!r} changed during the delete; retry")
            raise not_found(workfile_id)
        for entry in removed["versions"]:
            # NoFile: a concurrent delete of the same workfile got there first.
            with contextlib.suppress(NoFile):
                await self.files.delete(entry["file_id"])
