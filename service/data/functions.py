"""The registry of functions flows may run (collection `aero_functions`).

A function is recorded by its dotted import path ("pkg.module.func"), never as a
pickle or source text: registering only names code the operator installed on the
workers, so a write token cannot make a worker run code of its choosing. What a
worker reports when it runs the function (its distribution and version, a source
hash) is recorded later with `record_meta`.
"""

from __future__ import annotations

import keyword
import uuid
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from service.data.fields import check_description, now
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound

COLLECTION = "aero_functions"
PATH_MAX = 256


def check_path(path: Any) -> str:
    """`path` if it is a dotted import path of at least a module and a name, each part
    a Python identifier and not a keyword; else 400."""
    parts = path.split(".") if isinstance(path, str) and len(path) <= PATH_MAX else []
    if len(parts) < 2 or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise BadRequest(
            f"function path must be a dotted import path such as 'package.module.function' "
            f"(Python identifiers, at most {PATH_MAX} characters), not {path!r}",
            {"path": path if isinstance(path, str) else repr(path)},
        )
    return str(path)


class FunctionStore:
    """Register and read functions by dotted path."""

    def __init__(self, database: Database) -> None:
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(
            [
                IndexModel([("path", ASCENDING), ("owner", ASCENDING)], unique=True, name="path"),
                IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent"),
            ]
        )

    async def register(self, path: Any, *, owner: str, description: Any = "") -> Document:
        """Record `path` for `owner`; 400 for a bad path, 409 if `owner` registered it
        already (the existing id in the details)."""
        document: Document = {
            "_id": str(uuid.uuid4()),
            "path": check_path(path),
            "description": check_description(description),
            "owner": owner,
            "kind": "user",
            "meta": {},
            "created_at": now(),
        }
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            existing = await self.collection.find_one({"path": path, "owner": owner})
            raise Conflict(
                f"function {path!r} is already registered",
                {"path": path, "id": existing["_id"] if existing else None},
            ) from None
        return document

    async def get(self, function_id: Any) -> Document:
        """The function `function_id`; 404 if none."""
        found = None
        if isinstance(function_id, str):
            found = await self.collection.find_one({"_id": function_id})
        if found is None:
            raise NotFound(f"no function with id {function_id!r}", {"id": str(function_id)})
        return found

    async def record_meta(self, function_id: str, meta: Document) -> Document:
        """Record what a worker reported about the function (distribution, version,
        signature, source hash), replacing the previous report; 404 if none."""
        updated = await self.collection.find_one_and_update(
            {"_id": function_id},
            {"$set": {"meta": {**meta, "reported_at": now()}}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise NotFound(f"no function with id {function_id!r}", {"id": function_id})
        return updated
