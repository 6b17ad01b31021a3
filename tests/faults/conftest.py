"""Fixtures of the fault tests: Sluice processes that may be killed and restarted on the
same port, each on a database of its own, and a raw view of that database (read only,
to see server-side state such as leases that no route shows)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from service.testing import SluiceProcess, SluiceStarter

StartSluice = Callable[..., SluiceProcess]


@pytest.fixture
def fault_env(sluice_env: dict[str, str]) -> dict[str, str]:
    """The session's Sluice environment on a fresh database, auth explicitly off (the
    tests run on loopback only)."""
    return {
        **sluice_env,
        "SLUICE_DB_NAME": f"sluice_faults_{uuid.uuid4().hex[:8]}",
        "SLUICE_AUTH": "off",
    }


@pytest.fixture
def start_sluice(fault_env: dict[str, str], start_sluice: SluiceStarter) -> StartSluice:
    """`start_sluice(**overrides)`: a started Sluice on the test's database (env overrides
    such as SLUICE_REAPER_INTERVAL="1"). Restart one after `kill()` with `start()`: it
    keeps its port. All are stopped at the end of the test."""

    def start(**overrides: str) -> SluiceProcess:
        return start_sluice("faults", **{**fault_env, **overrides})

    return start


@pytest.fixture
def raw_db(fault_env: dict[str, str]) -> Iterator[Database[dict[str, Any]]]:
    """The test's database, read directly."""
    client: MongoClient[dict[str, Any]] = MongoClient(fault_env["MONGODB_URI"])
    yield client[fault_env["SLUICE_DB_NAME"]]
    client.close()
