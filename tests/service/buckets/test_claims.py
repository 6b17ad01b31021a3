"""Claims from candidate batches (SLUICE_CLAIM_BATCH): the order they keep, how fast a
new work is seen, exactly-once claims across replicas, and claims of several works."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from service.buckets.candidates import Candidates, rank
from service.buckets.claims import batchable
from service.buckets.store import COLLECTION, BucketsStore
from service.db import Database
from service.errors import BadRequest
from service.settings import Settings
from service.testing import SluiceProcess
from tests.service.buckets.helpers import deposit, new_work, put, view, withdraw

#: How long a batch is used in these tests: short, so waiting it out is cheap.
BATCH_SECONDS = 0.5


def _batched(start_sluice: Callable[..., SluiceProcess], db_name: str) -> SluiceProcess:
    return start_sluice(
        db_name,
        SLUICE_CLAIM_BATCH="50",
        SLUICE_CLAIM_BATCH_SECONDS=str(BATCH_SECONDS),
        SLUICE_REAPER_INTERVAL="0",
    )


def _ids(http: httpx.Client, query: dict[str, Any], count: int) -> list[str]:
    claimed = [withdraw(http, query)[0] for _ in range(count)]
    return [work["id"] for work in claimed if work]


def test_batched_claims_keep_the_order_and_see_new_deposits_at_once(
    start_sluice: Callable[..., SluiceProcess], db_name: str, pipeline: str
) -> None:
    server = _batched(start_sluice, db_name)
    query = {"pipeline": {"$in": [pipeline]}, "site": "local"}
    priorities = [1, 3, 4, 3, 2, 4, 2, 1, 2, 3]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        ids = deposit(http, [new_work(pipeline, priority=p) for p in priorities])
        order = sorted(range(len(ids)), key=lambda n: (-priorities[n], n))
        # The first claim reads every candidate; three more come from that batch.
        assert _ids(http, query, 4) == [ids[n] for n in order[:4]]
        # A deposit through this process that ranks first is claimed next...
        (urgent,) = deposit(http, [new_work(pipeline, priority=5)])
        # ...and one that ranks last waits its turn.
        (late,) = deposit(http, [new_work(pipeline, priority=1)])
        assert _ids(http, query, 1) == [urgent]
        assert _ids(http, query, 7) == [ids[n] for n in order[4:]] + [late]
        assert withdraw(http, query) == (None, None)


def test_another_replica_s_deposit_waits_at_most_the_batch_time(
    start_sluice: Callable[..., SluiceProcess], db_name: str, pipeline: str
) -> None:
    first, second = _batched(start_sluice, db_name), _batched(start_sluice, db_name)
    query = {"pipeline": pipeline}
    with (
        httpx.Client(base_url=first.url, timeout=30) as one,
        httpx.Client(base_url=second.url, timeout=30) as two,
    ):
        ids = deposit(one, [new_work(pipeline, priority=1) for _ in range(6)])
        assert _ids(one, query, 1) == ids[:1]
        (urgent,) = deposit(two, [new_work(pipeline, priority=5)])
        time.sleep(BATCH_SECONDS + 0.1)
        assert _ids(one, query, 1) == [urgent]
        assert _ids(one, query, 5) == ids[1:]


def test_a_candidate_changed_since_the_read_is_not_claimed(
    start_sluice: Callable[..., SluiceProcess], db_name: str, pipeline: str
) -> None:
    first, second = _batched(start_sluice, db_name), _batched(start_sluice, db_name)
    query = {"pipeline": pipeline, "site": "local"}
    with (
        httpx.Client(base_url=first.url, timeout=30) as one,
        httpx.Client(base_url=second.url, timeout=30) as two,
    ):
        ids = deposit(one, [new_work(pipeline, priority=p) for p in (5, 4, 3)])
        assert _ids(one, query, 1) == ids[:1]
        # Through the other replica (which keeps no batch of this filter): the second
        # candidate moves to another site, the third is taken.
        (moved,) = view(two, {"id": ids[1]})
        assert put(two, {**moved, "site": "elsewhere"}).status_code == 200
        assert _ids(two, query, 1) == ids[2:]
        assert withdraw(one, query) == (None, None)
        assert view(one, {"id": ids[1]})[0]["status"] == "queued"


@pytest.mark.slow
def test_batched_claims_from_two_replicas_take_each_work_once(
    start_sluice: Callable[..., SluiceProcess],
    db_name: str,
    pipeline: str,
    mongo: Any,
) -> None:
    servers = [_batched(start_sluice, db_name) for _ in range(2)]
    with httpx.Client(base_url=servers[0].url, timeout=60) as http:
        ids = deposit(http, [new_work(pipeline, priority=1 + n % 4) for n in range(300)])
    claimed: list[str] = []
    errors: list[BaseException] = []

    def drain(url: str) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                while True:
                    work, _ = withdraw(client, {"pipeline": pipeline})
                    if work is None:
                        return
                    claimed.append(work["id"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(s.url,)) for s in servers for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(claimed) == sorted(ids)
    works: Collection[dict[str, Any]] = mongo[db_name][COLLECTION]
    assert works.count_documents({"pipeline": pipeline, "attempt": 1, "status": "running"}) == 300


@pytest.mark.parametrize("batch", [0, 4])
async def test_claim_takes_up_to_limit_works_each_with_its_lease(
    store: BucketsStore, pipeline: str, batch: int
) -> None:
    store.settings = Settings(
        mongodb_uri=store.settings.mongodb_uri, db_name=store.settings.db_name, claim_batch=batch
    )
    priorities = [2, 5, 1, 5, 4, 3, 2, 4, 3, 1]
    ids = await store.deposit([new_work(pipeline, priority=p) for p in priorities])
    order = [ids[n] for n in sorted(range(len(ids)), key=lambda n: (-priorities[n], n))]
    first = await store.claim({"pipeline": pipeline}, limit=6)
    rest = await store.claim({"pipeline": pipeline}, limit=6)
    assert [work["id"] for work, _ in first + rest] == order
    tokens = [token for _, token in first + rest]
    assert len(set(tokens)) == len(ids)
    for work, token in first:
        assert work["status"] == "running" and work["attempt"] == 1
        assert (await store.heartbeat(work["id"], token))["id"] == work["id"]
    assert await store.claim({"pipeline": pipeline}, limit=3) == []
    with pytest.raises(BadRequest):
        await store.claim({"pipeline": pipeline}, limit=0)


def test_candidates_expire_and_are_cut_by_better_works() -> None:
    candidates = Candidates(size=10, seconds=60)
    found = [{"_id": n, "priority": 5 - n // 2, "creation": float(n)} for n in range(6)]
    candidates.keep(b"k", found, {"pipeline": "p"}, read=0.01)
    assert candidates.take(b"k", 1) == [{"_id": 0, "id": None}]
    # Another pipeline's work leaves the batch alone; this pipeline's one cuts it
    # before the first candidate it ranks ahead of (priority 4 at creation 2.5).
    candidates.queued([{"pipeline": "q", "priority": 9, "creation": 0.0}])
    candidates.queued([{"pipeline": "p", "priority": 4, "creation": 2.5}])
    assert candidates.take(b"k", 4) == [{"_id": 1, "id": None}, {"_id": 2, "id": None}]
    assert candidates.take(b"k", 1) == []
    candidates.keep(b"k", found, {"site": "x"}, read=0.01)
    candidates.clear()
    assert candidates.take(b"k", 1) == []
    expired = Candidates(size=10, seconds=0)
    expired.keep(b"k", found, {}, read=0)
    assert expired.take(b"k", 1) == []


async def test_a_claim_of_several_skips_a_candidate_another_claimer_took(
    store: BucketsStore, pipeline: str
) -> None:
    # A second store stands for another replica: it keeps candidates of its own.
    rival = BucketsStore(Database(store.settings), store.validator, store.settings)
    try:
        ids = await store.deposit([new_work(pipeline, priority=5 - n) for n in range(4)])
        ((first, _),) = await store.claim({"pipeline": pipeline})
        assert first["id"] == ids[0]  # this store now holds the other three as candidates
        ((taken, theirs),) = await rival.claim({"pipeline": pipeline, "id": ids[1]})
        claimed = await store.claim({"pipeline": pipeline}, limit=3)
        assert [work["id"] for work, _ in claimed] == ids[2:]
        assert len({token for _, token in claimed} | {theirs}) == 3
        # The rival's claim stands: its lease is still the one it was handed.
        assert (await rival.heartbeat(taken["id"], theirs))["id"] == ids[1]
        for work, token in claimed:
            assert (await store.heartbeat(work["id"], token))["id"] == work["id"]
            assert work["attempt"] == 1
    finally:
        await rival.database.close()


def test_which_filters_are_claimed_from_batches() -> None:
    assert batchable({"pipeline": {"$in": ["p"]}, "site": "s", "priority": 4})
    assert not batchable({"$or": [{"pipeline": "p"}, {"pipeline": "q"}]})
    assert not batchable({"pipeline": "p", "status": "queued"})
    assert rank({"priority": 3, "creation": 1.0}) < rank({"priority": 2, "creation": 0.0})
    assert rank({"priority": "x"}) < rank({"priority": 9, "creation": 0.0})
