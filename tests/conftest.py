"""Fixtures that start real servers: the embedded database (unless MONGODB_URI is set)
and Sluice itself, as child processes on free loopback ports. Nothing is mocked.

The embedded server slows down for good after long write bursts (measured: a probe of
point writes and reads went from 4 to 14 ms per operation after 75,000 writes, and
dropping the written databases did not bring it back), so a test that writes in bulk
runs on a server of its own (`own_mongo_uri`, `own_sluice_env`): it is not slowed by
what the suite wrote before it, and the tests after it are not slowed by its burst.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service.embedded import EmbeddedDatabase
from service.settings import EMBEDDED_CLAIM_BATCH
from service.testing import SluiceProcess, SluiceStarter


@contextmanager
def database_server() -> Iterator[str]:
    """MONGODB_URI when set; else the URI of a fresh in-memory embedded server, stopped
    on exit."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri
        return
    with EmbeddedDatabase(storage_path=":memory:", sync_on_commit=False) as database:
        yield database.uri


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """The session's database server (`database_server`)."""
    with database_server() as uri:
        yield uri


@pytest.fixture
def own_mongo_uri() -> Iterator[str]:
    """A database server of this test alone (`database_server`), for a test that writes
    in bulk (see the module docstring). Name it before the fixtures that start Sluices
    on it: fixtures stop in reverse order, and a Sluice whose database is gone takes
    seconds to stop."""
    with database_server() as uri:
        yield uri


@pytest.fixture(scope="module")
def module_mongo_uri() -> Iterator[str]:
    """`own_mongo_uri` shared by one module's tests."""
    with database_server() as uri:
        yield uri


@pytest.fixture
def own_sluice_env(sluice_env: dict[str, str], own_mongo_uri: str) -> dict[str, str]:
    """`sluice_env` on the test's own database server (`own_mongo_uri`)."""
    return {**sluice_env, "MONGODB_URI": own_mongo_uri}


@pytest.fixture(scope="session")
def sluice_env(mongo_uri: str) -> dict[str, str]:
    """Environment for a Sluice process: its own database name on the test server, auth
    off (loopback only; tests/service/auth turns it on), and neither the mover nor the
    retrier on, so finished works stay as the test left them (their tests turn them on;
    tests/test_first_day.py runs with the defaults)."""
    env = {
        "MONGODB_URI": mongo_uri,
        "SLUICE_DB_NAME": f"sluice_test_{uuid.uuid4().hex[:8]}",
        "SLUICE_AUTH": "off",
        "SLUICE_TRANSFER_INTERVAL": "0",
        "SLUICE_RETRY_BACKOFF": "0",
    }
    if not os.environ.get("MONGODB_URI"):
        env["SLUICE_SERIALIZE_CLAIMS"] = "1"
        env["SLUICE_CLAIM_BATCH"] = str(EMBEDDED_CLAIM_BATCH)
        env["SLUICE_UPDATE_THEN_READ"] = "1"
    return env


@pytest.fixture
def start_sluice(sluice_env: dict[str, str], tmp_path: Path) -> Iterator[SluiceStarter]:
    """`start_sluice(name, **env)`: a started Sluice of this test, on a database of its
    own unless `env` names one (SLUICE_DB_NAME), logging under the test's tmp_path;
    every one is stopped at the end of the test."""
    with SluiceStarter(sluice_env, tmp_path) as starter:
        yield starter


@pytest.fixture(scope="session")
def start_session_sluice(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceStarter]:
    """`start_sluice` for session fixtures: these Sluices stop when the session ends."""
    with SluiceStarter(sluice_env, tmp_path_factory.mktemp("sluices")) as starter:
        yield starter


@pytest.fixture(scope="module")
def start_module_sluice(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceStarter]:
    """`start_sluice` for module fixtures: these Sluices stop when the module ends."""
    with SluiceStarter(sluice_env, tmp_path_factory.mktemp("module-sluices")) as starter:
        yield starter


@pytest.fixture(scope="session")
def sluice(start_session_sluice: SluiceStarter, sluice_env: dict[str, str]) -> SluiceProcess:
    """One Sluice server for the whole session, on the session's database."""
    return start_session_sluice("session", **sluice_env)


@pytest.fixture(scope="session")
def base_url(sluice: SluiceProcess) -> str:
    return sluice.url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client for the running Sluice."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def pipeline() -> str:
    """A pipeline name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"
