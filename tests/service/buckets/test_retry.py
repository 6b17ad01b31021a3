"""Automatic retries: failed works with retries left are queued again after a backoff."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection

from service.buckets import audit
from service.settings import Settings
from service.testing import SluiceProcess
from tests.service.buckets.helpers import deposit, new_work, view, wait_for, withdraw

StartSluice = Callable[..., SluiceProcess]


def _fail(http: httpx.Client, pipeline: str, **changes: Any) -> dict[str, Any]:
    work, lease = withdraw(http, {"pipeline": pipeline})
    assert work is not None and lease is not None
    report = {**work, "status": "failure", "stop": time.time(), "results": {"error": "boom"}}
    report.update(changes)
    response = http.put("/buckets/work", json=[report], headers={"X-Sluice-Lease": lease})
    assert response.status_code == 200, response.text
    return report


def test_backoff_doubles_per_attempt_up_to_the_longest() -> None:
    assert [audit.backoff(a, 10, 35) for a in (0, 1, 2, 3, 4)] == [10, 10, 20, 35, 35]
    assert Settings().retry_backoff > 0  # on by default
    assert Settings.from_env({"SLUICE_RETRY_BACKOFF": "0"}).retry_backoff == 0


def test_failure_is_retried_after_its_backoff(
    start_sluice: StartSluice, db_name: str, pipeline: str
) -> None:
    server = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0.1", SLUICE_RETRY_BACKOFF="0.5")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        [work_id] = deposit(http, [new_work(pipeline, retries=2)])
        _fail(http, pipeline)
        requeued = wait_for(lambda: view(http, {"id": work_id, "status": "queued"}), timeout=15)
        assert requeued[0]["attempt"] == 1
        # The second (last) attempt fails too: no retry is left, it stays failed.
        _fail(http, pipeline)
        time.sleep(1.5)  # three backoffs of the second attempt
        [final] = view(http, {"id": work_id})
        assert (final["status"], final["attempt"]) == ("failure", 2)


def test_permanent_failure_and_disabled_retrier_leave_failures(
    start_sluice: StartSluice, db_name: str, pipeline: str
) -> None:
    on = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0.1", SLUICE_RETRY_BACKOFF="0.2")
    with httpx.Client(base_url=on.url, timeout=30) as http:
        [permanent] = deposit(http, [new_work(pipeline, retries=3)])
        # A worker marks a failure permanent by reporting it with no retry left.
        _fail(http, pipeline, retries=1, results={"error": "ImportError", "permanent": True})
        time.sleep(1.0)
        [stored] = view(http, {"id": permanent})
        assert stored["status"] == "failure"
    off = start_sluice(f"{db_name}_off", SLUICE_REAPER_INTERVAL="0.1", SLUICE_RETRY_BACKOFF="0")
    with httpx.Client(base_url=off.url, timeout=30) as http:
        [kept] = deposit(http, [new_work(pipeline, retries=3)])
        _fail(http, pipeline)
        time.sleep(1.0)
        assert view(http, {"id": kept})[0]["status"] == "failure"
        # Off is CHIME's way: only an audit requeues it.
        assert http.get("/buckets/audit/failed").json() == 1


async def test_racing_retriers_requeue_each_failure_once(
    rival_collections: list[AsyncCollection[dict[str, Any]]],
) -> None:
    collections = rival_collections
    now = time.time()
    total = audit.RETRY_BATCH + 50
    await collections[0].insert_many(
        {
            "id": f"w{n}",
            "status": "failure",
            "attempt": 1 + n % 2,
            "retries": 3,
            # Even ones failed long ago; odd ones (second attempt: 20 s) just now.
            "stop": now - 100 if n % 2 == 0 else now - 1,
            "start": None,
        }
        for n in range(total)
    )
    tallies = await asyncio.gather(*(audit.retry(c, 10, 3600, now) for c in collections))
    assert sum(t["retried"] for t in tallies) == total // 2
    assert await collections[0].count_documents({"status": "queued"}) == total // 2
    assert await collections[0].distinct("attempt", {"status": "failure"}) == [2]
