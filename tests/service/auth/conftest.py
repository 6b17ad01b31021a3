"""An auth-on Sluice (tokens required, bootstrap secret set) for the auth tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from service.testing import SluiceProcess, SluiceStarter
from tests.service.auth.helpers import ADMIN_SECRET, secure_env, token_header


@pytest.fixture(scope="session")
def secure_env_vars(sluice_env: dict[str, str]) -> dict[str, str]:
    return secure_env(sluice_env)


@pytest.fixture(scope="session")
def secure(secure_env_vars: dict[str, str], start_session_sluice: SluiceStarter) -> SluiceProcess:
    """A Sluice with SLUICE_AUTH=required on a database of its own."""
    return start_session_sluice("secure", **secure_env_vars)


@pytest.fixture(scope="session")
def secure_db(
    mongo_uri: str, secure_env_vars: dict[str, str]
) -> Iterator[Database[dict[str, Any]]]:
    """The auth-on Sluice's database, read directly to check what is stored."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    yield client[secure_env_vars["SLUICE_DB_NAME"]]
    client.close()


@pytest.fixture
def anon(secure: SluiceProcess) -> Iterator[httpx.Client]:
    """A client of the auth-on Sluice sending no token."""
    with httpx.Client(base_url=secure.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(secure: SluiceProcess) -> Iterator[httpx.Client]:
    """A client of the auth-on Sluice sending the bootstrap admin secret."""
    with httpx.Client(base_url=secure.url, headers=token_header(ADMIN_SECRET), timeout=30) as c:
        yield c
