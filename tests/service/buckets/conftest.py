"""Fixtures of the Buckets tests: the raw collection (read, and poked only where no
route exists) and extra Sluice processes on a database of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from service.buckets.store import COLLECTION, INDEXES, BucketsStore
from service.db import Database
from service.query import QueryValidator
from service.settings import Settings
from service.testing import SluiceProcess, SluiceStarter


@pytest.fixture(scope="session")
def mongo(mongo_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    yield client
    client.close()


@pytest.fixture(scope="session")
def works(
    mongo: MongoClient[dict[str, Any]], sluice_env: dict[str, str]
) -> Collection[dict[str, Any]]:
    """The Buckets collection of the session's Sluice, server-only fields included."""
    return mongo[sluice_env["SLUICE_DB_NAME"]][COLLECTION]


@pytest.fixture
def start_sluice(start_sluice: SluiceStarter) -> Callable[..., SluiceProcess]:
    """Start extra Sluice processes: `start_sluice(db_name, **env)` with env overrides
    such as SLUICE_REAPER_INTERVAL="0.2". All are stopped at the end of the test."""

    def start(db_name: str, **overrides: str) -> SluiceProcess:
        return start_sluice("buckets", SLUICE_DB_NAME=db_name, **overrides)

    return start


@pytest.fixture
def db_name() -> str:
    """A database of its own, for tests whose background loops must not meet others."""
    return f"sluice_buckets_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def quiet_sluice(start_session_sluice: SluiceStarter) -> SluiceProcess:
    """A Sluice without reaper on a database of its own: lease-loss tests decide when
    runs end (through the audit routes) without a background reaper racing them."""
    return start_session_sluice("quiet", SLUICE_REAPER_INTERVAL="0")


@pytest.fixture
def quiet(quiet_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quiet_sluice.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def quiet_works(
    mongo: MongoClient[dict[str, Any]], quiet_sluice: SluiceProcess
) -> Collection[dict[str, Any]]:
    return mongo[quiet_sluice.env["SLUICE_DB_NAME"]][COLLECTION]


@pytest.fixture
async def rival_collections(
    mongo_uri: str, db_name: str
) -> AsyncIterator[list[AsyncCollection[dict[str, Any]]]]:
    """The Buckets collection of `db_name` (indexed) through two clients of their own, as
    two Sluice processes see it, for racing background passes against each other."""
    clients: list[AsyncMongoClient[dict[str, Any]]] = [AsyncMongoClient(mongo_uri) for _ in "ab"]
    collections = [client[db_name][COLLECTION] for client in clients]
    await collections[0].create_indexes(INDEXES)
    yield collections
    for client in clients:
        await client.close()


@pytest.fixture
async def store(mongo_uri: str, db_name: str) -> AsyncIterator[BucketsStore]:
    """A Buckets store in this process, claiming from batches, on a database of its own."""
    settings = Settings(mongodb_uri=mongo_uri, db_name=db_name, claim_batch=4, max_batch=20)
    database = Database(settings)
    buckets = BucketsStore(database, QueryValidator(12, 5000), settings)
    await buckets.create_indexes()
    yield buckets
    await database.close()
