"""Experiment records: EIDs, metadata, tags and the search.

A record is `{uuid, eid, title, description, tags, files, created_at, updated_at}`;
`tags` are stored lower case (matching is case-insensitive; they are shown as first
spelled, service.experiments.tagnames) and `files` is the list of
`{name, file_id, size, modified_at, checksum}` entries that point into GridFS
(service.experiments.files). Every change is one conditional update.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure

from schemas.experiments import (
    EID_PATTERN,
    PAGE_MAX,
    TAG_MAX,
    TAG_PATTERN,
    TAGS_PER_EXPERIMENT,
    ExperimentChange,
    NewExperiment,
)
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound, Unavailable
from service.experiments.tagnames import TagNames
from service.query import refused

COLLECTION = "experiments"
COUNTERS = "experiments.counters"
_EID = re.compile(EID_PATTERN)
_TAG = re.compile(TAG_PATTERN)

INDEXES = [
    IndexModel([("uuid", ASCENDING)], unique=True, name="uuid_unique"),
    IndexModel([("eid", ASCENDING)], unique=True, name="eid_unique"),
    IndexModel([("created_at", DESCENDING)], name="created_at"),
    IndexModel([("tags", ASCENDING)], name="tags"),
    # The file sweep asks which experiments point at a file.
    IndexModel([("files.file_id", ASCENDING)], name="files"),
]

#: Attempts at incrementing the day's counter before answering 503 (each attempt that
#: finds no counter creates it first).
COUNTER_ATTEMPTS = 5


def now() -> datetime:
    """The current UTC time, at the millisecond precision BSON keeps."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def experiment_filter(ref: str) -> Document:
    """The filter selecting the experiment `ref` (an EID or a UUID); 400 if it is neither."""
    if _EID.match(ref):
        return {"eid": ref}
    try:
        return {"uuid": str(uuid.UUID(ref))}
    except ValueError:
        raise BadRequest(
            f"{ref!r} is neither an EID (YYYYMMDD-N) nor a UUID", {"experiment": ref}
        ) from None


def check_tags(tags: list[Any]) -> list[str]:
    """`tags` lower-cased and de-duplicated in order; 400 naming the first bad one."""
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag) or len(tag) > TAG_MAX:
            raise BadRequest(
                f"invalid tag {tag!r}: 1-{TAG_MAX} characters among A-Z a-z 0-9 - _ : /",
                {"tag": tag if isinstance(tag, str) else repr(tag)},
            )
        if tag.lower() not in cleaned:
            cleaned.append(tag.lower())
    return cleaned


def public(record: Document) -> Document:
    """A record as clients see it: no `_id`, file entries without their GridFS id."""
    shown = {key: value for key, value in record.items() if key != "_id"}
    shown["files"] = [
        {key: value for key, value in entry.items() if key != "file_id"}
        for entry in record.get("files", [])
    ]
    return shown


def search_pattern(search: str, max_length: int) -> str:
    """The regular expression matching `search` literally; 400 if it would be longer than
    `max_length` (SLUICE_MAX_REGEX_LENGTH)."""
    pattern = re.escape(search)
    if len(pattern) > max_length:
        raise BadRequest(
            f"search of {len(search)} characters is too long: escaped, it exceeds "
            f"SLUICE_MAX_REGEX_LENGTH ({max_length})",
            {"limit": "SLUICE_MAX_REGEX_LENGTH", "max_length": max_length},
        )
    return pattern


class ExperimentStore:
    """Create, find, change, tag and remove experiment records."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.collection: AsyncCollection[Document] = database.db[COLLECTION]
        self.counters: AsyncCollection[Document] = database.db[COUNTERS]
        self.names = TagNames(database)

    async def create_indexes(self) -> None:
        await self.collection.create_indexes(INDEXES)

    async def _next_eid(self, moment: datetime) -> str:
        """`YYYYMMDD-N` with N from the day's counter, incremented atomically.

        The counter is never upserted by the increment: the embedded database can answer
        `None` to an upsert that lost a race after counting it, which would leave a gap.
        Instead the day's counter is created with a plain insert (a duplicate means
        another create made it first) and only then incremented, so every increment
        that answers is exactly one number.
        """
        day = moment.strftime("%Y%m%d")
        for _ in range(COUNTER_ATTEMPTS):
            counter = await self.counters.find_one_and_update(
                {"_id": day}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
            )
            if counter is not None:
                return f"{day}-{counter['n']}"
            # The first create of the day: make the counter, then increment it.
            with contextlib.suppress(DuplicateKeyError):
                await self.counters.insert_one({"_id": day, "n": 0})
        raise Unavailable(
            "could not allocate an EID: the day's counter did not answer; retry",
            {"day": day, "attempts": COUNTER_ATTEMPTS},
        )

    async def create(self, new: NewExperiment, tags: list[Any] | None = None) -> Document:
        """Store a new experiment, optionally already tagged; return it. 400 for a bad
        tag, 409 past the tag limit (then nothing is stored)."""
        cleaned = check_tags(tags or [])
        if len(cleaned) > TAGS_PER_EXPERIMENT:
            raise Conflict(
                f"an experiment carries at most {TAGS_PER_EXPERIMENT} tags",
                {"max_tags": TAGS_PER_EXPERIMENT},
            )
        moment = now()
        record: Document = {
            "uuid": str(uuid.uuid4()),
            "eid": await self._next_eid(moment),
            "title": new.title,
            "description": new.description,
            "tags": cleaned,
            "files": [],
            "created_at": moment,
            "updated_at": moment,
        }
        await self.collection.insert_one(dict(record))
        await self.names.register(tags or [])
        return await self._shown(record)

    async def _shown(self, record: Document) -> Document:
        """A record as clients see it, tags spelled."""
        (shown,) = await self.names.shown([public(record)])
        return shown

    async def record(self, ref: str) -> Document:
        """The stored record of `ref` (EID or UUID), GridFS ids included; 404 if none."""
        found = await self.collection.find_one(experiment_filter(ref))
        if found is None:
            raise NotFound(f"no experiment {ref}", {"experiment": ref})
        return found

    async def get(self, ref: str) -> Document:
        return await self._shown(await self.record(ref))

    async def find(
        self,
        search: str | None,
        tags: list[str] | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
        max_search: int,
    ) -> tuple[list[Document], int]:
        """One page of matching experiments, newest first, and how many match in all.
        `tags`: those carrying any of them (an empty list matches none); None: any.
        A search longer than `max_search` (SLUICE_MAX_REGEX_LENGTH) once escaped is a 400."""
        if not 1 <= limit <= PAGE_MAX:
            raise BadRequest(f"limit must be 1-{PAGE_MAX}", {"limit": limit})
        if offset < 0:
            raise BadRequest("offset must not be negative", {"offset": offset})
        query: Document = {}
        if search:
            pattern = {"$regex": search_pattern(search, max_search), "$options": "i"}
            query["$or"] = [{"title": pattern}, {"eid": pattern}]
        if tags is not None:
            query["tags"] = {"$in": check_tags(tags)}
        bounds: Document = {}
        if start is not None:
            bounds["$gte"] = start
        if end is not None:
            bounds["$lte"] = end
        if bounds:
            query["created_at"] = bounds
        try:
            total = await self.collection.count_documents(query)
            cursor = self.collection.find(
                query,
                skip=offset,
                limit=limit,
                sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
            )
            return await self.names.shown([public(record) async for record in cursor]), total
        except OperationFailure as exc:
            raise refused(exc) from None

    async def _change(self, ref: str, condition: Document, update: Document) -> Document | None:
        update.setdefault("$set", {})["updated_at"] = now()
        return await self.collection.find_one_and_update(
            {**experiment_filter(ref), **condition}, update, return_document=ReturnDocument.AFTER
        )

    async def update(self, ref: str, change: ExperimentChange) -> Document:
        """Set title and/or description; bumps `updated_at`."""
        values = change.model_dump(exclude_none=True)
        if not values:
            raise BadRequest("nothing to change: send title and/or description")
        changed = await self._change(ref, {}, {"$set": values})
        if changed is None:
            raise NotFound(f"no experiment {ref}", {"experiment": ref})
        return await self._shown(changed)

    async def add_tags(self, ref: str, tags: list[str]) -> Document:
        """Add tags (matched lower-cased; shown as first spelled anywhere); 409 if the
        experiment would carry more than the limit."""
        cleaned = check_tags(tags)
        # Room for the new tags, whichever of them are already there: all or nothing.
        room = {
            "$expr": {
                "$lte": [
                    {"$size": {"$setUnion": [{"$ifNull": ["$tags", []]}, cleaned]}},
                    TAGS_PER_EXPERIMENT,
                ]
            }
        }
        changed = await self._change(ref, room, {"$addToSet": {"tags": {"$each": cleaned}}})
        if changed is None:
            await self.record(ref)
            raise Conflict(
                f"an experiment carries at most {TAGS_PER_EXPERIMENT} tags",
                {"experiment": ref, "max_tags": TAGS_PER_EXPERIMENT},
            )
        await self.names.register(tags)
        return await self._shown(changed)

    async def remove_tag(self, ref: str, tag: str) -> Document:
        """Remove one tag (case-insensitive); 404 if the experiment does not carry it."""
        (cleaned,) = check_tags([tag])
        changed = await self._change(ref, {"tags": cleaned}, {"$pull": {"tags": cleaned}})
        if changed is None:
            await self.record(ref)
            raise NotFound(f"experiment {ref} has no tag {tag!r}", {"tag": tag})
        return await self._shown(changed)

    async def tag_counts(self) -> list[Document]:
        """Every tag with the number of experiments carrying it, most used first."""
        pipeline: list[Document] = [
            {"$unwind": "$tags"},
            {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
            {"$sort": {"count": -1, "_id": 1}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        rows = [{"tag": row["_id"], "count": row["count"]} async for row in cursor]
        names = await self.names.spell([row["tag"] for row in rows])
        return [{"tag": names[row["tag"]], "count": row["count"]} for row in rows]

    async def delete(self, ref: str) -> Document:
        """Delete the record; return it as it was (its files and tasks are the caller's)."""
        removed = await self.collection.find_one_and_delete(experiment_filter(ref))
        if removed is None:
            raise NotFound(f"no experiment {ref}", {"experiment": ref})
        return removed
