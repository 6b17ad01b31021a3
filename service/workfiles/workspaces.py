"""Workspaces: the named folders workfiles live in (`workfiles.workspaces`).

A workfile names its workspace; a workspace record carries that name, an id, a summary
and who made it. The id is derived from the name (a prefix of its SHA-256), so every
surface computes it without a lookup and a name has one id, however the workspace came
to be: created explicitly (the Alpine surface), or by the first upload into a new name
(Sluice's own routes), which records it idempotently.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from service.db import Database, Document
from service.errors import Conflict, NotFound
from service.params import page_skip

COLLECTION = "workfiles.workspaces"
INDEXES = [IndexModel([("name", ASCENDING)], unique=True, name="name")]


class WorkspaceNotFound(NotFound):
    code = "workspace_not_found"


def workspace_id(name: str) -> str:
    """The id of the workspace named `name`."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def info(document: Document) -> Document:
    """The wire form (`schemas.workfiles.WorkspaceInfo`) of a stored workspace."""
    return {
        "id": document["_id"],
        "name": document["name"],
        "summary": document["summary"],
        "public": document["public"],
        "owner": document["owner"],
        "created_at": document["created_at"],
    }


class WorkspaceStore:
    """Create, record, list, read and delete workspaces (names are checked by callers)."""

    def __init__(self, database: Database) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    @staticmethod
    def _document(name: str, owner: str, summary: str, public: bool) -> Document:
        return {
            "_id": workspace_id(name),
            "name": name,
            "summary": summary,
            "public": public,
            "owner": owner,
            "created_at": time.time(),
        }

    async def create(
        self, name: str, owner: str, summary: str = "", public: bool = False
    ) -> Document:
        """A new workspace; 409 if one of that name exists."""
        document = self._document(name, owner, summary, public)
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(f"a workspace named {name!r} exists", {"name": name}) from None
        return document

    async def record(self, name: str, owner: str) -> None:
        """Make sure the workspace `name` is recorded (a no-op when it is)."""
        fields = self._document(name, owner, "", False)
        with contextlib.suppress(DuplicateKeyError):  # a concurrent upload recorded it first
            await self.collection.update_one(
                {"_id": fields.pop("_id")}, {"$setOnInsert": fields}, upsert=True
            )

    async def get(self, workspace: str) -> Document:
        """The workspace with id `workspace`; WorkspaceNotFound."""
        stored = await self.collection.find_one({"_id": workspace})
        if stored is None:
            raise WorkspaceNotFound(f"no workspace with id {workspace!r}", {"id": workspace})
        return stored

    async def page(self, page: int, per_page: int, cap: int) -> tuple[list[Document], int]:
        """One page (from 1) of the workspaces by name, and how many there are; 400
        unless per_page is 1-`cap`."""
        skip = page_skip(page, per_page, cap)
        total = await self.collection.count_documents({})
        cursor = self.collection.find({}, skip=skip, limit=per_page, sort=[("name", ASCENDING)])
        return await cursor.to_list(), total

    async def delete(
        self, workspace: str, holds_workfiles: Callable[[str], Awaitable[bool]]
    ) -> Document:
        """Delete an empty workspace; the deleted record. WorkspaceNotFound; 409 when it
        holds workfiles. `holds_workfiles(name)` answers whether it does; it is asked
        after the delete too, and a workspace an upload raced into is put back."""
        stored = await self.get(workspace)
        if await holds_workfiles(stored["name"]):
            raise self._not_empty(stored)
        removed = await self.collection.find_one_and_delete({"_id": workspace})
        if removed is None:
            raise WorkspaceNotFound(f"no workspace with id {workspace!r}", {"id": workspace})
        if await holds_workfiles(removed["name"]):
            with contextlib.suppress(DuplicateKeyError):  # an upload recorded it again
                await self.collection.insert_one(removed)
            raise self._not_empty(removed)
        return removed

    @staticmethod
    def _not_empty(workspace: Document) -> Conflict:
        return Conflict(
            f"workspace {workspace['name']!r} still holds workfiles; delete them first",
            {"id": workspace["_id"], "name": workspace["name"]},
        )
