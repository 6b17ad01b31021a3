"""Data sources and their versions (collections `aero_data`, `aero_versions`,
`aero_commits`; bytes in `service.data.blobs`).

A version is created only when its content differs from the latest version's: the
comparison key is the sha256 of the bytes Sluice holds (or, for a reference-only
version that holds no bytes, the checksum its committer gives). `commit_version` and
`commit_reference` are the only writers of versions, through the transaction of
`service.data.commits` (numbers 1, 2, 3... per source, no gap, no duplicate). The
comparison is with the latest version only, as in AERO: content A, then B, then A is
three versions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from service.data.blobs import Blob, BlobStore
from service.data.commits import (
    Commit,
    Listener,
    Origin,
    VersionCommits,
    data_not_found,
    entry_of,
    search_copies,
    upstream_key,
)
from service.data.fields import (
    DEFAULT_TYPE,
    check_description,
    check_name,
    check_tags,
    check_url,
    now,
)
from service.db import Database, Document
from service.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, bytes_too_large
from service.settings import Settings

DATA = "aero_data"
VERSIONS = "aero_versions"
COMMITS = "aero_commits"
KINDS = ("source", "derived")


class DataStore(VersionCommits):
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
                # The file sweep asks which blobs versions hold.
                IndexModel([("file.blob_id", ASCENDING)], name="blob"),
            ]
        )
        await self.blobs.create_indexes()

    async def versions_holding(self, blob_ids: list[str]) -> set[str]:
        """Of these blob ids, those a version holds (its bytes)."""
        cursor = self.versions.find({"file.blob_id": {"$in": blob_ids}}, {"file.blob_id": True})
        return {version["file"]["blob_id"] async for version in cursor}

    def too_large(self) -> PayloadTooLarge:
        return bytes_too_large(
            "the content", "SLUICE_AERO_MAX_VERSION_BYTES", self.settings.aero_max_version_bytes
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
        session: AsyncClientSession | None = None,
    ) -> Document:
        """A new data source (or a flow's derived output), in `session`'s transaction if
        given; 400 for a bad field."""
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
        await self.data.insert_one(document, session=session)
        return document

    async def update(self, data_id: str, changes: Document) -> Document:
        """Change a source's name, url, description and/or tags (each checked as at
        creation; 400 for another key); the source after. The search copies on its
        versions follow, so queries match what the source says now. 404 if none."""
        checks = {"name": check_name, "url": check_url, "description": check_description,
                  "tags": check_tags}  # fmt: skip
        unknown = sorted(set(changes) - set(checks))
        if unknown or not changes:
            raise BadRequest(
                f"change one or more of {', '.join(checks)}"
                + (f"; not {', '.join(unknown)}" if unknown else ""),
                {"unknown": unknown},
            )
        values = {name: checks[name](value) for name, value in changes.items()}

        async def change(session: AsyncClientSession) -> Document:
            # One transaction: it conflicts with any commit updating the same source,
            # so a version committed meanwhile gets the new copies too.
            updated = await self.data.find_one_and_update(
                {"_id": data_id},
                {"$set": {**values, "updated_at": now()}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if updated is None:
                raise data_not_found(data_id)
            copies = {f"search.{k}": v for k, v in search_copies(updated).items()}
            await self.versions.update_many({"data_id": data_id}, {"$set": copies}, session=session)
            return updated

        return await self.database.transaction(change)

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
        file_type: str | None = None,
        encoding: str | None = None,
        source: tuple[str, str] | None = None,
        transformed: bool = False,
        forced: bool = False,
        run_id: str | None = None,
        flow_id: str | None = None,
        commit_key: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> Commit:
        """Commit `content` (bytes, a stream or a stored blob) as the next version of
        `data_id` unless it equals the latest version's, of media type `file_type`
        (None: DEFAULT_TYPE; the caller has checked it). With `commit_key`, a commit
        repeated with the same key answers the first one's outcome (a retried run's
        output yields one version). With `session`, the version is written in that
        transaction (the caller then calls `notify` once it commits); the bytes are
        written before, outside any transaction. `source`: the raw upstream's (md5,
        sha256) an ingestion fetched, recorded as `source_checksum`, `source_sha256`;
        `transformed`: the content is a transform of it, and the comparison with the
        latest is by the raw upstream (`upstream_key`), not the bytes stored, unless
        `forced` (a re-ingestion asked for: by the bytes stored, the version still keyed
        by its upstream). 404 for an unknown data, 413 past SLUICE_AERO_MAX_VERSION_BYTES."""
        await self.get(data_id)
        if not isinstance(content, Blob):
            limit = self.settings.aero_max_version_bytes
            content = await self.blobs.put(content, limit, self.too_large)
        key = f"sha256:{content.sha256}"
        if transformed and source is not None:
            key = upstream_key(source[1])
        entry = entry_of(
            key, content.sha256, content.md5, content.size,
            {"blob_id": content.blob_id, "file_name": file_name or content.sha256,
             "file_type": file_type or DEFAULT_TYPE, "encoding": encoding},
            source,
        )  # fmt: skip
        origin = Origin(run_id, flow_id, commit_key)
        return await self._commit(data_id, entry, origin, session, "sha256" if forced else "key")

    async def commit_reference(
        self,
        data_id: str,
        *,
        checksum: str,
        file_name: str,
        file_type: str = DEFAULT_TYPE,
        size: int | None = None,
        encoding: str | None = None,
        source_key: str | None = None,
        run_id: str | None = None,
        flow_id: str | None = None,
        commit_key: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> Commit:
        """A reference-only version (Sluice holds no bytes: AERO's `new-version`):
        compared with the latest by the `checksum` its committer gives. `source_key`:
        which object of its upstream it is (the AERO fork's), recorded as given."""
        file = {"blob_id": None, "file_name": file_name, "file_type": file_type,
                "encoding": encoding}  # fmt: skip
        entry = entry_of(f"given:{checksum}", None, checksum, size, file, None)
        entry["source_key"] = source_key
        return await self._commit(data_id, entry, Origin(run_id, flow_id, commit_key), session)
