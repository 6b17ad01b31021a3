"""The MongoDB connection: one `AsyncMongoClient` per process, opened in the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from service.settings import Settings

Document = dict[str, Any]
T = TypeVar("T")

#: Error codes, compared by number, never by message text.
DUPLICATE_KEY = 11000


class Database:
    """The client and database handle every store shares."""

    def __init__(self, settings: Settings) -> None:
        if not settings.mongodb_uri:
            raise ValueError(
                "MONGODB_URI is not set (the launcher sets it for the embedded server)"
            )
        self.settings = settings
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongodb_uri,
            appname="sluice",
            tz_aware=True,
            serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
            w=settings.write_concern_value,
        )
        self.db: AsyncDatabase[Document] = self.client.get_database(
            settings.db_name,
            write_concern=WriteConcern(w=settings.write_concern_value),
        )

    async def ping(self) -> None:
        """Raise a pymongo error unless the server answers."""
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()

    async def transaction(self, body: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `body(session)` in a transaction, retried on transient errors."""
        async with self.client.start_session() as session:
            return await session.with_transaction(
                body,
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern(w=self.settings.write_concern_value),
            )
