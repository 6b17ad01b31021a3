"""Data sources and their versions (collections `aero_data`, `aero_versions`,
`aero_commits`; bytes in `service.data.blobs`).

A version is created only when its content differs from the latest version's: the
comparison key is the sha256 of the bytes Sluice holds (or, for a reference-only
version that holds no bytes, the checksum its committer gives). `commit_version` is
the only writer of versions, and allocates numbers 1, 2, 3... per source with no gap
or duplicate under concurrent commits: in one transaction, one conditional update of
the source (`latest.key` differs from ours) takes the next number, and the insert of
the version is guarded by the unique index (`data_id`, `version`). The comparison is
with the latest version only, as in AERO: content A, then B, then A is three versions.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from service.data.blobs import Blob, BlobStore
from service.data.fields import check_description, check_name, check_tags, check_url, now
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from service.settings import Settings

DATA = "aero_data"
VERSIONS = "aero_versions"
COMMITS = "aero_commits"
KINDS = ("source", "derived")
#: The MIME type of a version whose committer names none.
DEFAULT_TYPE = "application/octet-stream"

#: Per-source commit locks kept before the idle ones are dropped.
MAX_LOCKS = 10_000

log = logging.getLogger("sluice.data")

Listener = Callable[[Document], Awaitable[None]]


@dataclass(frozen=True)
class Commit:
    """What `commit_version` did: `created` a new version, or found the content
    unchanged (`version` is then the latest, which already holds it)."""

    created: bool
    version: Document


def data_not_found(data_id: Any) -> NotFound:
    return NotFound(f"no data with id {data_id!r}", {"data_id": str(data_id)})


def search_fields(data: Document, version: int, entry: Document) -> Document:
    """The lower-cased copy of what search queries match on (service.data.search):
    the embedded database ignores regex flags, so case is folded when stored."""
    return {
        "name": data["name"].lower(),
        "description": data.get("description", "").lower(),
        "tags": [tag.lower() for tag in data.get("tags", [])],
        "source": (data.get("url") or "").lower(),
        "data_id": data["_id"],
        "version": version,
        "checksum": entry["checksum"].lower(),
        "sha256": entry["sha256"],
        "size": entry["size"] or 0,
    }


def _entry(
    key: str,
    sha256: str | None,
    checksum: str,
    size: int | None,
    file: Document,
    source_checksum: str | None,
) -> Document:
    """What a commit records of its content; `key` is what "unchanged" compares."""
    return {"key": key, "sha256": sha256, "checksum": checksum, "size": size, "file": file,
            "source_checksum": source_checksum}  # fmt: skip


class DataStore:
    """Create and read data sources; commit and read their versions."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.data: AsyncCollection[Document] = database.db[DATA]
        self.versions: AsyncCollection[Document] = database.db[VERSIONS]
        self.commits: AsyncCollection[Document] = database.db[COMMITS]
        self.blobs = BlobStore(database)
        #: Called with every created version once its commit is durable (aero flows'
        #: dependent triggers); never for an unchanged commit.
        self.listeners: list[Listener] = []
        self._locks: dict[str, asyncio.Lock] = {}

    async def create_indexes(self) -> None:
        await self.data.create_indexes(
            [
                IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent"),
                IndexModel([("name", ASCENDING)], name="name"),
                IndexModel([("tags", ASCENDING)], name="tags"),
            ]
        )
        await self.versions.create_indexes(
            [
                IndexModel(
                    [("data_id", ASCENDING), ("version", ASCENDING)], unique=True, name="number"
                ),
                IndexModel([("data_id", ASCENDING), ("checksum", ASCENDING)], name="checksum"),
                IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="recent"),
            ]
        )
        await self.blobs.create_indexes()

    def too_large(self) -> PayloadTooLarge:
        limit = self.settings.aero_max_version_bytes
        return PayloadTooLarge(
            f"the content exceeds SLUICE_AERO_MAX_VERSION_BYTES ({limit} bytes)",
            {"limit": "SLUICE_AERO_MAX_VERSION_BYTES", "max_bytes": limit},
        )

    # -- sources ---------------------------------------------------------------------

    async def create(
        self,
        name: Any,
        *,
        owner: str,
        url: Any = None,
        description: Any = "",
        tags: Any = None,
        kind: str = "source",
        producer_flow_id: str | None = None,
        storage_hint: Document | None = None,
    ) -> Document:
        """A new data source (or a flow's derived output); 400 for a bad field."""
        if kind not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)}", {"kind": kind})
        moment = now()
        document: Document = {
            "_id": str(uuid.uuid4()),
            "name": check_name(name),
            "url": check_url(url),
            "description": check_description(description),
            "tags": check_tags(tags),
            "owner": owner,
            "kind": kind,
            "producer_flow_id": producer_flow_id,
            "storage_hint": storage_hint or {"collection_uuid": None, "collection_url": None},
            "latest": None,
            "version_count": 0,
            "ingest": {"etag": None, "last_modified": None},
            "created_at": moment,
            "updated_at": moment,
        }
        await self.data.insert_one(document)
        return document

    async def get(self, data_id: Any) -> Document:
        """The data source `data_id`; 404 if none."""
        found = await self.data.find_one({"_id": data_id}) if isinstance(data_id, str) else None
        if found is None:
            raise data_not_found(data_id)
        return found

    async def many(self, data_ids: list[str]) -> dict[str, Document]:
        """The data sources of these ids that exist, by id."""
        return {doc["_id"]: doc async for doc in self.data.find({"_id": {"$in": data_ids}})}

    async def set_producer(self, data_id: str, flow_id: str) -> Document:
        """Make flow `flow_id` the producer of `data_id`; 409 if another flow is, 404 if
        no such data (one conditional update)."""
        bound = await self.data.find_one_and_update(
            {"_id": data_id, "producer_flow_id": {"$in": [None, flow_id]}},
            {"$set": {"producer_flow_id": flow_id, "updated_at": now()}},
            return_document=ReturnDocument.AFTER,
        )
        if bound is None:
            other = await self.get(data_id)
            raise Conflict(
                f"data {data_id} is already produced by flow {other['producer_flow_id']}",
                {"data_id": data_id, "producer_flow_id": other["producer_flow_id"]},
            )
        return bound

    async def set_ingest_cache(
        self, data_id: str, etag: str | None, last_modified: str | None
    ) -> None:
        """Remember the upstream's validators for the next conditional GET."""
        await self.data.update_one(
            {"_id": data_id}, {"$set": {"ingest": {"etag": etag, "last_modified": last_modified}}}
        )

    # -- versions --------------------------------------------------------------------

    async def latest(self, data_id: str) -> Document | None:
        """The latest version of `data_id` (None if it has none); 404 if no such data."""
        data = await self.get(data_id)
        if data["latest"] is None:
            return None
        return await self.versions.find_one({"_id": data["latest"]["version_id"]})

    async def version(self, data_id: str, number: int) -> Document:
        """Version `number` of `data_id`; 404 if no such data or version."""
        found = await self.versions.find_one({"data_id": data_id, "version": number})
        if found is None:
            data = await self.get(data_id)
            raise NotFound(
                f"data {data_id} has no version {number}",
                {"data_id": data_id, "version": number, "latest": data["version_count"]},
            )
        return found

    async def version_list(self, data_id: str, offset: int = 0, limit: int = 0) -> list[Document]:
        """The versions of `data_id` oldest first (`limit` 0: all); 404 if no such data."""
        await self.get(data_id)
        cursor = self.versions.find(
            {"data_id": data_id}, sort=[("version", ASCENDING)], skip=offset, limit=limit
        )
        return [found async for found in cursor]

    async def commit_version(
        self,
        data_id: str,
        content: bytes | AsyncIterable[bytes] | Blob,
        *,
        file_name: str | None = None,
        file_type: str = DEFAULT_TYPE,
        encoding: str | None = None,
        source_checksum: str | None = None,
        run_id: str | None = None,
        flow_id: str | None = None,
        commit_key: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> Commit:
        """Commit `content` (bytes, a stream or a stored blob) as the next version of
        `data_id` unless it equals the latest version's. With `commit_key`, a commit
        repeated with the same key answers the first one's outcome (a retried run's
        output yields one version). With `session`, the version is written in that
        transaction (the caller then calls `notify` once it commits); the bytes are
        written before, outside any transaction. 404 for an unknown data, 413 past
        SLUICE_AERO_MAX_VERSION_BYTES."""
        await self.get(data_id)
        if not isinstance(content, Blob):
            limit = self.settings.aero_max_version_bytes
            content = await self.blobs.put(content, limit, self.too_large)
        entry = _entry(
            f"sha256:{content.sha256}", content.sha256, content.md5, content.size,
            {"blob_id": content.blob_id, "file_name": file_name or content.sha256,
             "file_type": file_type, "encoding": encoding},
            source_checksum,
        )  # fmt: skip
        return await self._commit(data_id, entry, run_id, flow_id, commit_key, session)

    async def commit_reference(
        self,
        data_id: str,
        *,
        checksum: str,
        file_name: str,
        file_type: str = DEFAULT_TYPE,
        size: int | None = None,
        encoding: str | None = None,
        run_id: str | None = None,
        flow_id: str | None = None,
        commit_key: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> Commit:
        """A reference-only version (Sluice holds no bytes: AERO's `new-version`):
        compared with the latest by the `checksum` its committer gives."""
        file = {"blob_id": None, "file_name": file_name, "file_type": file_type,
                "encoding": encoding}  # fmt: skip
        entry = _entry(f"given:{checksum}", None, checksum, size, file, None)
        return await self._commit(data_id, entry, run_id, flow_id, commit_key, session)

    async def _commit(
        self,
        data_id: str,
        entry: Document,
        run_id: str | None,
        flow_id: str | None,
        commit_key: str | None,
        session: AsyncClientSession | None,
    ) -> Commit:
        async def body(inside: AsyncClientSession) -> Commit:
            return await self._commit_in(data_id, entry, run_id, flow_id, commit_key, inside)

        if session is not None:
            return await body(session)
        lock = self._lock(data_id)
        if lock is None:
            done = await self.database.transaction(body)
        else:
            async with lock:
                done = await self.database.transaction(body)
        if done.created:
            await self.notify(done.version)
        return done

    def _lock(self, data_id: str) -> asyncio.Lock | None:
        """With SLUICE_SERIALIZE_CLAIMS (the embedded server, whose contended updates
        collapse into write conflicts), one commit per source at a time in this process."""
        if not self.settings.serialize_claims:
            return None
        locks = self._locks
        if len(locks) > MAX_LOCKS:
            for key in [k for k, held in locks.items() if not held.locked()]:
                del locks[key]
        return locks.setdefault(data_id, asyncio.Lock())

    async def _commit_in(
        self,
        data_id: str,
        entry: Document,
        run_id: str | None,
        flow_id: str | None,
        commit_key: str | None,
        session: AsyncClientSession,
    ) -> Commit:
        if commit_key is not None:
            prior = await self.commits.find_one({"_id": commit_key}, session=session)
            if prior is not None:
                if prior["data_id"] != data_id:
                    raise Conflict(
                        f"commit key {commit_key!r} was used for data {prior['data_id']}",
                        {"commit_key": commit_key, "data_id": prior["data_id"]},
                    )
                version = await self.versions.find_one(
                    {"_id": prior["version_id"]}, session=session
                )
                assert version is not None  # written in the same transaction as the record
                return Commit(bool(prior["created"]), version)
        moment = now()
        version_id = str(uuid.uuid4())
        latest = {
            "version_id": version_id,
            "key": entry["key"],
            "sha256": entry["sha256"],
            "checksum": entry["checksum"],
            "created_at": moment,
        }
        # The one conditional update: only a different content takes the next number.
        data = await self.data.find_one_and_update(
            {"_id": data_id, "latest.key": {"$ne": entry["key"]}},
            {"$inc": {"version_count": 1}, "$set": {"latest": latest, "updated_at": moment}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if data is None:
            current = await self.data.find_one({"_id": data_id}, session=session)
            if current is None:
                raise data_not_found(data_id)
            version = await self.versions.find_one(
                {"_id": current["latest"]["version_id"]}, session=session
            )
            assert version is not None
            outcome = Commit(False, version)
        else:
            number = int(data["version_count"])
            await self.data.update_one(
                {"_id": data_id}, {"$set": {"latest.version": number}}, session=session
            )
            version = {
                "_id": version_id,
                "data_id": data_id,
                "version": number,
                **{k: v for k, v in entry.items() if k != "key"},
                "key": entry["key"],
                "run_id": run_id,
                "flow_id": flow_id,
                "created_at": moment,
                "search": search_fields(data, number, entry),
            }
            # Search's `latest_only` reads this flag: only the new version holds it.
            await self.versions.update_many(
                {"data_id": data_id, "search.latest": True},
                {"$set": {"search.latest": False}},
                session=session,
            )
            version["search"]["latest"] = True
            await self.versions.insert_one(version, session=session)
            outcome = Commit(True, version)
        if commit_key is not None:
            await self.commits.insert_one(
                {"_id": commit_key, "data_id": data_id, "version_id": outcome.version["_id"],
                 "created": outcome.created, "created_at": moment},
                session=session,
            )  # fmt: skip
        return outcome

    async def committed(self, commit_key: str) -> Commit | None:
        """The outcome of the commit made with `commit_key`, if one was."""
        prior = await self.commits.find_one({"_id": commit_key})
        if prior is None:
            return None
        version = await self.versions.find_one({"_id": prior["version_id"]})
        assert version is not None  # written in the same transaction as the record
        return Commit(bool(prior["created"]), version)

    async def notify(self, version: Document) -> None:
        """Tell every listener about a created version. A listener's failure is logged,
        never undoes or fails the commit, which is durable already."""
        for listener in self.listeners:
            try:
                await listener(version)
            except Exception:
                log.exception("a listener of version %s failed", version["_id"])
