"""The MongoDB connection: one `AsyncMongoClient` per process, opened in the lifespan."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, ReturnDocument, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern

from service.settings import Settings

Document = dict[str, Any]
T = TypeVar("T")

#: Error codes, compared by number, never by message text.
DUPLICATE_KEY = 11000
RETRY_PAUSE = 0.05
#: The driver's default connect timeout, lowered to the operation budget when smaller.
CONNECT_TIMEOUT_MS = 20_000


def open_client(settings: Settings) -> AsyncMongoClient[Document]:
    """A client for `settings.mongodb_uri` configured as Sluice's own (the benchmark's
    driver floor opens its client here too, so both make the same driver calls)."""
    return AsyncMongoClient(
        settings.mongodb_uri,
        appname="sluice",
        tz_aware=True,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        # Every round trip is bounded, so a hung server cannot hold a request forever.
        # Not the driver's timeoutMS: under it a retryable operation retries until the
        # whole budget is spent, so a database that is down would answer 503 only
        # after SLUICE_OPERATION_TIMEOUT_MS instead of the server-selection timeout.
        socketTimeoutMS=settings.operation_timeout_ms,
        connectTimeoutMS=min(settings.operation_timeout_ms, CONNECT_TIMEOUT_MS),
        # The driver stops reading a pooled connection between replies, so it cannot see
        # the server (or a middlebox) close one that sat idle, and a command that is not
        # retryable (createIndexes, any command inside a transaction) would fail on it.
        maxIdleTimeMS=settings.connection_max_idle_ms or None,
        w=settings.write_concern_value,
    )


class Database:
    """The client and database handle every store shares."""

    def __init__(self, settings: Settings) -> None:
        if not settings.mongodb_uri:
            raise ValueError(
                "MONGODB_URI is not set (the launcher sets it for the embedded server)"
            )
        self.settings = settings
        self.client: AsyncMongoClient[Document] = open_client(settings)
        self.db: AsyncDatabase[Document] = self.client.get_database(
            settings.db_name,
            write_concern=WriteConcern(w=settings.write_concern_value),
        )

    async def ping(self) -> None:
        """Raise a pymongo error unless the server answers within the server-selection
        budget (a ping has no reason to take the longer operation budget)."""
        budget = min(self.settings.server_selection_timeout_ms, self.settings.operation_timeout_ms)
        with pymongo.timeout(budget / 1000):
            await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()

    async def transaction(self, body: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `body(session)` in a transaction and commit it.

        Write conflicts are retried for up to SLUICE_OPERATION_TIMEOUT_MS, then the
        request answers 503 with Retry-After (a conflict left by a killed transaction
        lasts until the server reaps it). A lost connection is retried only within the
        server-selection budget, so a brief election is ridden over but a database that
        is down gives a prompt 503 (pymongo's with_transaction would keep retrying for
        two minutes); a timeout is never retried.
        """
        started = time.monotonic()
        async with self.client.start_session() as session:
            while True:
                try:
                    await session.start_transaction(
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern(w=self.settings.write_concern_value),
                    )
                    try:
                        result = await body(session)
                    except BaseException:
                        if session.in_transaction:
                            await session.abort_transaction()
                        raise
                    await self._commit(session, started)
                    return result
                except PyMongoError as exc:
                    if not self._may_retry(exc, started, "TransientTransactionError"):
                        raise
                    await asyncio.sleep(RETRY_PAUSE)

    async def insert_judged(
        self, write: Callable[[bool, AsyncClientSession | None], Awaitable[None]], single: bool
    ) -> bool:
        """Run `write(careful, session)` in a transaction until it commits; False when
        all INSERT_ATTEMPTS met a duplicate key.

        The first attempt is not careful: `write` inserts without reading, which is
        right for the usual batch of new ids. A duplicate key (an id stored already, or
        a rival insert committed meanwhile) aborts it, and every later attempt is
        careful: `write` reads what is stored first and judges it. `single`: the write
        inserts one document, which is all or nothing by itself: no transaction (and
        session None), one round trip fewer.
        """
        careful = False
        for _ in range(INSERT_ATTEMPTS):
            try:
                if single:
                    await write(careful, None)
                else:
                    await self.transaction(partial(write, careful))
                return True
            except (BulkWriteError, DuplicateKeyError) as exc:
                if not is_duplicate(exc):
                    raise
                careful = True
        return False

    async def _commit(self, session: AsyncClientSession, started: float) -> None:
        while True:
            try:
                await session.commit_transaction()
                return
            except PyMongoError as exc:
                if not self._may_retry(exc, started, "UnknownTransactionCommitResult"):
                    raise
                await asyncio.sleep(RETRY_PAUSE)

    def _may_retry(self, exc: PyMongoError, started: float, label: str) -> bool:
        if exc.timeout:  # the operation's or the request's budget is spent
            return False
        elapsed = time.monotonic() - started
        if isinstance(exc, ConnectionFailure):
            return elapsed < self.settings.server_selection_timeout_ms / 1000
        budget = self.settings.operation_timeout_ms / 1000
        return exc.has_error_label(label) and elapsed < budget


async def count_by(
    collection: AsyncCollection[Document],
    *fields: str,
    match: Document | None = None,
    unwind: str | None = None,
) -> dict[tuple[Any, ...], int]:
    """How many documents of `collection` (those matching `match`) hold each
    combination of values of `fields` (a missing field counts as None), one per element
    of the array field `unwind` if given; one aggregation pass."""
    key = {f"k{index}": f"${name}" for index, name in enumerate(fields)}
    pipeline: list[Document] = [{"$match": match}] if match else []
    if unwind:
        pipeline.append({"$unwind": f"${unwind}"})
    pipeline.append({"$group": {"_id": key, "n": {"$sum": 1}}})
    counts: dict[tuple[Any, ...], int] = {}
    async for row in await collection.aggregate(pipeline):
        group = row["_id"] or {}
        counts[tuple(group.get(f"k{index}") for index in range(len(fields)))] = int(row["n"])
    return counts


#: Attempts of `Database.insert_judged` while rival inserts of the same ids commit.
INSERT_ATTEMPTS = 5


def is_duplicate(exc: BulkWriteError | DuplicateKeyError) -> bool:
    """Whether a failed insert failed on a unique key (code 11000)."""
    if isinstance(exc, DuplicateKeyError):
        return True
    return any(error.get("code") == DUPLICATE_KEY for error in exc.details.get("writeErrors", []))


async def count_statuses(collection: AsyncCollection[Document]) -> dict[str, int]:
    """How many documents of `collection` are in each `status`; one `$group` pass."""
    return {str(status): n for (status,), n in (await count_by(collection, "status")).items()}


async def update_then_read(
    collection: AsyncCollection[Document],
    key: Document,
    condition: Document,
    update: Document | list[Document],
    written: Document,
    split: bool,
    projection: Document | None = None,
    session: AsyncClientSession | None = None,
) -> Document | None:
    """Apply the conditional `update` to the document `key` names while it matches
    `condition`, and return that document as updated (`projection` applied); None when
    it did not match.

    `key` names one document whatever its state (`_id`, or a uniquely indexed field:
    `_id` first when both, which the embedded database plans as a point lookup);
    `condition` is the state the update expects, so it is never a read-then-write.

    Unless `split`, one `find_one_and_update`: atomic, and what a real MongoDB serves
    from the key's index. With `split` (SLUICE_UPDATE_THEN_READ, on with the embedded
    database, whose `find_one_and_update` scans the whole collection whatever the
    filter: 123 ms at 10,000 documents against 5 for these two), an `update_one` then a
    `find_one` of `key` and `written`, two point operations. `written` is what this
    update wrote that must still hold for the answer to be the caller's (a lease token
    it handed out or renewed, a status it set): another writer may change the document
    between the two, and then the read finds nothing and the answer is None, as if the
    update had not matched. Inside a transaction (`session`) the read sees exactly what
    this update wrote.
    """
    selected = {**key, **condition}
    if not split:
        return await collection.find_one_and_update(
            selected,
            update,
            projection=projection,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
    outcome = await collection.update_one(selected, update, session=session)
    if not outcome.matched_count:
        return None
    return await collection.find_one({**key, **written}, projection, session=session)
