"""Lease operations as an update then a read (SLUICE_UPDATE_THEN_READ, the embedded
database's way, service.db.update_then_read) and as one find_one_and_update (a real
MongoDB's): both refuse a lease not held alike, and the split one answers only what it
wrote when another writer changes the work between the update and the read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from service.buckets import audit
from service.buckets.store import BucketsStore
from service.db import Database, Document
from service.errors import Conflict
from service.query import QueryValidator
from service.settings import Settings
from tests.service.buckets.helpers import new_work

#: Seconds a rival write is given to land between an update and its read-back.
RIVAL_SECONDS = 0.3


class Interleaved:
    """A collection whose every `find_one` (the read-back) first runs `rival` once: a
    write by another client landing between an update and its read."""

    def __init__(self, real: Any, rival: Callable[[], Awaitable[None]]) -> None:
        self.real = real
        self.rival: Callable[[], Awaitable[None]] | None = rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def find_one(self, *args: Any, **kwargs: Any) -> Document | None:
        rival, self.rival = self.rival, None
        if rival is not None:
            await rival()
        found: Document | None = await self.real.find_one(*args, **kwargs)
        return found


@asynccontextmanager
async def _store(
    mongo_uri: str, db_name: str, update_then_read: bool
) -> AsyncIterator[BucketsStore]:
    """A Buckets store in this process claiming from batches, on a database of its own,
    with lease operations in the form `update_then_read` chooses."""
    settings = Settings(
        mongodb_uri=mongo_uri, db_name=db_name, claim_batch=4, update_then_read=update_then_read
    )
    database = Database(settings)
    buckets = BucketsStore(database, QueryValidator(12, 5000), settings)
    await buckets.create_indexes()
    try:
        yield buckets
    finally:
        await database.close()


@pytest.fixture(params=[False, True], ids=["find_one_and_update", "update_then_read"])
async def store(request: Any, mongo_uri: str, db_name: str) -> AsyncIterator[BucketsStore]:
    """`_store` with lease operations in either form."""
    async with _store(mongo_uri, db_name, request.param) as buckets:
        yield buckets


@pytest.fixture
async def split(mongo_uri: str, db_name: str) -> AsyncIterator[BucketsStore]:
    """`_store` only in its update-then-read form: the read-back exists only there."""
    async with _store(mongo_uri, db_name, True) as buckets:
        yield buckets


async def _claimed(store: BucketsStore, pipeline: str) -> tuple[Document, str]:
    await store.deposit([new_work(pipeline, timeout=600)])
    ((work, token),) = await store.claim({"pipeline": pipeline})
    return work, token


def _interleave(store: BucketsStore, rival: Callable[[], Awaitable[None]]) -> None:
    store.collection = Interleaved(store.collection, rival)  # type: ignore[assignment]


async def _refused(call: Awaitable[Any], work_id: str) -> None:
    with pytest.raises(Conflict) as refused:
        await call
    assert refused.value.details == {"id": work_id}
    assert str(refused.value).startswith(f"the lease on work {work_id} is not held")


@pytest.mark.parametrize("operation", ["heartbeat", "release"])
async def test_a_lease_not_held_is_refused_alike(
    store: BucketsStore, pipeline: str, operation: str
) -> None:
    work, token = await _claimed(store, pipeline)
    act = getattr(store, operation)
    await _refused(act(work["id"], "not-the-token"), work["id"])
    await _refused(act("no-such-work", token), "no-such-work")
    stored = await store.collection.find_one({"id": work["id"]})
    assert stored is not None and stored["status"] == "running"
    assert stored["_lease"]["token"] == token
    # Released, the token holds nothing any more.
    released = await store.release(work["id"], token)
    assert (released["status"], released["attempt"], released["start"]) == ("queued", 0, None)
    assert not any(key.startswith("_") for key in released)
    await _refused(act(work["id"], token), work["id"])


async def test_a_heartbeat_answers_the_lease_it_renewed(store: BucketsStore, pipeline: str) -> None:
    work, token = await _claimed(store, pipeline)
    before = await store.collection.find_one({"id": work["id"]})
    assert before is not None
    beat = await store.heartbeat(work["id"], token)
    assert list(beat) == ["id", "expires", "stop"]
    assert beat["id"] == work["id"] and beat["stop"] is False
    after = await store.collection.find_one({"id": work["id"]})
    assert after is not None and after["_lease"] == {"token": token, "expires": beat["expires"]}
    assert beat["expires"] > before["_lease"]["expires"]


async def test_a_heartbeat_whose_lease_ends_before_its_read_back_is_refused(
    split: BucketsStore, pipeline: str
) -> None:
    work, token = await _claimed(split, pipeline)
    rivals = split.collection

    async def report() -> None:
        # The run's own report (or the reaper) ends the lease right after the renewal.
        await rivals.update_one({"id": work["id"]}, {"$set": {"status": "success"}})

    _interleave(split, report)
    await _refused(split.heartbeat(work["id"], token), work["id"])


async def test_a_heartbeat_reads_back_a_stop_asked_meanwhile(
    split: BucketsStore, pipeline: str
) -> None:
    work, token = await _claimed(split, pipeline)
    real = split.collection

    async def cancel() -> None:
        await split.cancel([work["id"]])

    _interleave(split, cancel)
    beat = await split.heartbeat(work["id"], token)
    split.collection = real
    stored = await real.find_one({"id": work["id"]})
    assert stored is not None and beat["stop"] is True
    assert beat["expires"] == stored["_lease"]["expires"]


async def test_a_release_answers_the_work_as_released_though_claimed_at_once(
    split: BucketsStore, pipeline: str
) -> None:
    work, token = await _claimed(split, pipeline)
    real = split.collection
    rival: list[asyncio.Task[Any]] = []

    async def claim_again() -> None:
        # Another claimer tries to take the work between the update and the read: the
        # release's transaction keeps it out (it sees the work still running, or waits),
        # so the release reads the work as it left it.
        taken = {"$set": {"status": "running", "attempt": 1, "_lease": {"token": "rival"}}}
        update = real.update_one({"id": work["id"], "status": "queued"}, taken)
        rival.append(asyncio.ensure_future(update))
        await asyncio.sleep(RIVAL_SECONDS)

    _interleave(split, claim_again)
    released = await split.release(work["id"], token)
    assert (released["status"], released["attempt"], released["start"]) == ("queued", 0, None)
    taken = (await rival[0]).modified_count
    stored = await real.find_one({"id": work["id"]})
    assert stored is not None
    assert stored["status"] == ("running" if taken else "queued")


async def test_a_claim_never_answers_a_token_taken_from_it(
    split: BucketsStore, pipeline: str
) -> None:
    await split.deposit([new_work(pipeline, timeout=600)])
    real = split.collection

    async def requeue() -> None:
        # An administrator's edit queues the work again right after the claim.
        requeued = {"$set": {"status": "queued"}, "$unset": {"_lease": ""}}
        await real.update_one({"pipeline": pipeline}, requeued)

    _interleave(split, requeue)
    ((work, token),) = await split.claim({"pipeline": pipeline})
    stored = await real.find_one({"id": work["id"]})
    assert stored is not None and stored["_lease"]["token"] == token
    assert work["status"] == "running"


async def test_the_reaper_leaves_a_lease_renewed_since_its_read(
    store: BucketsStore, pipeline: str
) -> None:
    work, token = await _claimed(store, pipeline)
    collection = store.collection
    await collection.update_one({"id": work["id"]}, {"$set": {"_lease.expires": 0}})

    class Renewed(Interleaved):
        async def update_one(self, *args: Any, **kwargs: Any) -> Any:
            rival, self.rival = self.rival, None
            if rival is not None:
                await rival()
            return await self.real.update_one(*args, **kwargs)

    async def renew() -> None:
        await store.heartbeat(work["id"], token)

    reaping = Renewed(collection, renew)
    assert await audit.reap(reaping) == {"requeued": 0, "failed": 0}  # type: ignore[arg-type]
    stored = await collection.find_one({"id": work["id"]})
    assert stored is not None and stored["status"] == "running"
    assert stored["_lease"]["token"] == token
    ended = await audit.reap(collection, stored["_lease"]["expires"] + 1)
    assert sum(ended.values()) == 1
