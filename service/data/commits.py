"""The one writer of data versions: the commit transaction of `DataStore` (a base
class of it, so the store keeps its one interface).

In one transaction, one conditional update of the source (its `latest.key` differs
from the content's) takes the next version number, and the version's insert is
guarded by the unique index (`data_id`, `version`): numbers 1, 2, 3... with no gap or
duplicate under concurrent commits, in any number of processes. A keyed commit records
its outcome in `aero_commits` in the same transaction, so a repeat answers it again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from service.data.fields import now
from service.db import Database, Document
from service.errors import Conflict, NotFound
from service.settings import Settings

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


def search_copies(data: Document) -> Document:
    """The lower-cased copies of a source's fields that search matches on
    (service.data.search): the embedded database ignores regex flags, so case is
    folded when stored."""
    return {
        "name": data["name"].lower(),
        "description": data.get("description", "").lower(),
        "tags": [tag.lower() for tag in data.get("tags", [])],
        "source": (data.get("url") or "").lower(),
    }


def search_fields(data: Document, version: int, entry: Document) -> Document:
    """What search matches on, stored on each version."""
    return {
        **search_copies(data),
        "data_id": data["_id"],
        "version": version,
        "checksum": entry["checksum"].lower(),
        "sha256": entry["sha256"],
        "size": entry["size"] or 0,
    }


def entry_of(
    key: str,
    sha256: str | None,
    checksum: str,
    size: int | None,
    file: Document,
    source: tuple[str, str] | None,
) -> Document:
    """What a commit records of its content; `key` is what "unchanged" compares,
    `source` the raw upstream's (md5, sha256) of an ingested version."""
    md5, raw = (None, None) if source is None else source
    return {"key": key, "sha256": sha256, "checksum": checksum, "size": size, "file": file,
            "source_checksum": md5, "source_sha256": raw}  # fmt: skip


def upstream_key(source_sha256: str) -> str:
    """The comparison key of a transformed ingestion's version: the raw upstream's
    sha256, so an unchanged upstream makes no version whatever the transform makes."""
    return f"source:{source_sha256}"


@dataclass(frozen=True)
class Origin:
    """Who commits: the run and flow recorded on the version, and the commit's key."""

    run_id: str | None = None
    flow_id: str | None = None
    commit_key: str | None = None


class VersionCommits:
    """The commit transaction and its keyed outcomes; `DataStore` provides the fields."""

    database: Database
    settings: Settings
    data: AsyncCollection[Document]
    versions: AsyncCollection[Document]
    commits: AsyncCollection[Document]
    listeners: list[Listener]
    _locks: dict[str, asyncio.Lock]

    async def _commit(
        self,
        data_id: str,
        entry: Document,
        origin: Origin,
        session: AsyncClientSession | None,
        compared: str = "key",
    ) -> Commit:
        """Commit `entry` unless the latest version's `compared` field (`key`, or
        `sha256`: the bytes stored) is the entry's."""
        commit_key = origin.commit_key

        async def body(inside: AsyncClientSession) -> Commit:
            return await self._commit_in(data_id, entry, origin, inside, compared)

        if session is not None:
            return await body(session)
        lock = self._lock(data_id)
        try:
            if lock is None:
                done = await self.database.transaction(body)
            else:
                async with lock:
                    done = await self.database.transaction(body)
        except DuplicateKeyError:
            # The same keyed commit made concurrently (a retried run racing itself):
            # the one that landed is the outcome of both.
            prior = None if commit_key is None else await self.committed(commit_key)
            if prior is None:
                raise
            return prior
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
        origin: Origin,
        session: AsyncClientSession,
        compared: str,
    ) -> Commit:
        run_id, flow_id, commit_key = origin.run_id, origin.flow_id, origin.commit_key
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
            {"_id": data_id, f"latest.{compared}": {"$ne": entry[compared]}},
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
