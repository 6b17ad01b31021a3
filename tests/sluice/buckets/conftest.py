"""Buckets clients bound to the session's Sluice, a second Sluice whose reaper runs every
second, and a way to start `sluice worker` as a real child process."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.testing import SluiceProcess, SluiceStarter
from sluice import AsyncBuckets, Buckets, new_work
from tests.sluice.buckets.jobs import HERE
from tests.workers import Workers

StartWorker = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def buckets(base_url: str) -> Iterator[Buckets]:
    with Buckets(base_url) as client:
        yield client


@pytest.fixture
async def abuckets(base_url: str) -> AsyncIterator[AsyncBuckets]:
    async with AsyncBuckets(base_url) as client:
        yield client


@pytest.fixture(scope="session")
def reaping_sluice(start_session_sluice: SluiceStarter) -> SluiceProcess:
    """A Sluice on its own database whose reaper ends expired leases every second."""
    return start_session_sluice("reaping", SLUICE_REAPER_INTERVAL="1")


@pytest.fixture(scope="session")
def retrying_sluice(start_session_sluice: SluiceStarter) -> SluiceProcess:
    """A Sluice on its own database that queues a failed work with retries left again
    within a fraction of a second."""
    return start_session_sluice(
        "retrying", SLUICE_REAPER_INTERVAL="0.2", SLUICE_RETRY_BACKOFF="0.2"
    )


@pytest.fixture
def reaping(reaping_sluice: SluiceProcess) -> Iterator[Buckets]:
    with Buckets(reaping_sluice.url) as client:
        yield client


def job(pipeline: str, name: str, **fields: Any) -> dict[str, Any]:
    """A work running `jobs.<name>` at site "local" (user "tester" unless given)."""
    fields.setdefault("user", "tester")
    return new_work(pipeline, "local", function=f"{HERE}.{name}", **fields)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start `sluice --url URL worker PIPELINE --site local ARGS...` from the project
    root (so the jobs module is importable); every worker is killed at teardown."""
    workers = Workers()
    yield workers.start
    workers.close()


def finish(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """Wait for a worker to exit 0; its stderr (the log)."""
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return err


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
