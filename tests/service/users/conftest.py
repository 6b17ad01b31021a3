"""An auth-on Sluice for the user and session tests, and logging in to it."""

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
def users_env(sluice_env: dict[str, str]) -> dict[str, str]:
    return secure_env(sluice_env)


@pytest.fixture(scope="session")
def users_sluice(users_env: dict[str, str], start_session_sluice: SluiceStarter) -> SluiceProcess:
    return start_session_sluice("users", **users_env)


@pytest.fixture(scope="session")
def users_db(mongo_uri: str, users_env: dict[str, str]) -> Iterator[Database[dict[str, Any]]]:
    """The Sluice's database, read directly to check what is stored."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    yield client[users_env["SLUICE_DB_NAME"]]
    client.close()


@pytest.fixture
def anon(users_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=users_sluice.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(users_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    headers = token_header(ADMIN_SECRET)
    with httpx.Client(base_url=users_sluice.url, headers=headers, timeout=30) as client:
        yield client


def make_user(
    admin: httpx.Client,
    username: str,
    scopes: list[str],
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> None:
    """Create `username` (password "correct horse") through the admin route."""
    answer = admin.post(
        "/admin/users",
        json={"username": username, "password": "correct horse", "scopes": scopes, **fields},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text


def login(client: httpx.Client, username: str, password: str = "correct horse") -> httpx.Response:
    """POST the Alpine login form (the client sends it so)."""
    return client.post("/alpine/api/sessions", data={"username": username, "password": password})


def session_of(client: httpx.Client, username: str) -> str:
    answer = login(client, username)
    assert answer.status_code == 201, answer.text
    secret: str = answer.json()["response"]["session_id"]
    return secret
