"""Sluice killed with SIGKILL at random moments during a batch deposit, an update and a
transfer, then restarted on the same port: every acknowledged write is present, nothing
is stored twice, each batch is applied whole or not at all, and no work stays `running`
past its lease."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from service.buckets.documents import LEASE
from service.buckets.store import COLLECTION
from service.embedded import EmbeddedDatabase
from service.testing import SluiceProcess
from tests.faults.conftest import StartSluice
from tests.faults.ledger import (
    Depositor,
    Loop,
    check_exactly_once,
    outcome,
    retryable,
    send,
    stored_ids,
    wait_until,
)
from tests.service.buckets.helpers import new_work
from tests.service.factories import work

pytestmark = pytest.mark.slow

KILLS = 3
#: Lease of the works withdrawn here, in seconds: a run lost with Sluice ends soon.
TIMEOUT = 2
#: Reaper period (SLUICE_REAPER_INTERVAL) of every Sluice in these tests.
REAPER = "1"
#: Seconds past its lease after which a running work counts as stranded: the reaper
#: period plus room for a busy machine.
OVERDUE = 5.0


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    """A database server for this module alone: `restart_killed` aborts every open
    transaction on it, which must not reach other tests' sessions."""
    with EmbeddedDatabase(storage_path=":memory:", sync_on_commit=False) as database:
        yield database.uri


@pytest.fixture
def fault_env(fault_env: dict[str, str], own_database: str) -> dict[str, str]:
    return {**fault_env, "MONGODB_URI": own_database, "SLUICE_SERIALIZE_CLAIMS": "1"}


def restart_killed(sluice: SluiceProcess) -> None:
    """SIGKILL Sluice and start it again on the same port.

    A transaction the killed process left open keeps its locks until the database
    reaps it: the embedded database does so after 60 s (mongod's default
    transactionLifetimeLimitSeconds), and writes to the same collections wait until
    then. The test aborts such orphans at once (killAllSessions, on a server of its
    own) rather than waiting a minute per kill."""
    sluice.kill()
    client: MongoClient[dict[str, Any]]
    with MongoClient(sluice.env["MONGODB_URI"]) as client:
        client.admin.command("killAllSessions", [])
    sluice.start()


def kill_at_random(sluice: SluiceProcess, low: float, high: float) -> None:
    """KILLS times: wait a random while, then SIGKILL Sluice and restart it."""
    for _ in range(KILLS):
        pause = random.uniform(low, high)
        print(f"killing Sluice after {pause:.2f}s")  # shown when the test fails
        time.sleep(pause)
        restart_killed(sluice)


def deposit_works(http: httpx.Client, works: list[dict[str, Any]]) -> list[str]:
    """Queue `works` in Buckets; their ids."""
    response = http.post("/buckets/work", params={"return_ids": True}, json=works)
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()
    return ids


def overdue(raw_db: Database[dict[str, Any]], slack: float) -> list[str]:
    """Ids of works still `running` more than `slack` seconds after their lease ended."""
    works = raw_db[COLLECTION]
    query = {"status": "running", f"{LEASE}.expires": {"$lt": time.time() - slack}}
    return [d["id"] for d in works.find(query, {"id": True})]


def test_killed_during_batch_deposits(start_sluice: StartSluice) -> None:
    sluice = start_sluice(SLUICE_REAPER_INTERVAL=REAPER)
    depositors = [Depositor(sluice.url, f"kill-{uuid.uuid4().hex[:8]}", 50) for _ in range(2)]
    loops = [Loop(d.step) for d in depositors]
    kill_at_random(sluice, 0.3, 1.2)
    time.sleep(0.5)
    for loop in loops:
        loop.stop()
    for depositor in depositors:
        depositor.settle()
    answers = sum((d.outcomes for d in depositors), Counter())
    assert answers["no answer"] > 0, f"no deposit was cut by a kill: {answers}"
    with httpx.Client(base_url=sluice.url, timeout=30) as http:
        check_exactly_once(http, depositors)
    for depositor in depositors:
        depositor.close()


class Updater:
    """Replaces its own results in batches, each with a new `results.version`, re-sending
    a batch until it is acknowledged. After an unanswered attempt it reads the batch
    back and checks that it was applied whole or not at all."""

    def __init__(self, url: str, documents: list[dict[str, Any]], batch: int) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.documents = documents
        self.batch = batch
        #: Last acknowledged version of each id.
        self.acked = {d["id"]: 0 for d in documents}
        self.outcomes: Counter[str] = Counter()
        self._next = 0

    def step(self) -> None:
        chosen = [self.documents[(self._next + i) % len(self.documents)] for i in range(self.batch)]
        self._next += self.batch
        old = {self.acked[d["id"]] for d in chosen}
        assert len(old) == 1  # batches rotate evenly over the documents
        version = old.pop() + 1
        body = [{**d, "results": {"version": version}} for d in chosen]
        while True:
            response = send(self.client, "PUT", "/results/results", json=body)
            self.outcomes[outcome(response)] += 1
            if response is not None and response.is_success:
                self.acked.update({d["id"]: version for d in chosen})
                return
            assert retryable(response), f"update refused: {outcome(response)}"
            seen = self.versions([d["id"] for d in chosen])
            assert len(set(seen.values())) == 1, f"a batch was half applied: {seen}"
            assert set(seen.values()) <= {version - 1, version}
            time.sleep(0.1)

    def versions(self, ids: list[str]) -> dict[str, int]:
        """The stored `results.version` of `ids`, asked until Sluice answers."""
        pipeline = self.documents[0]["pipeline"]
        query = {"query": {"pipeline": pipeline, "id": {"$in": ids}}}
        while True:
            response = send(self.client, "POST", "/results/view", json=query)
            if response is not None and response.is_success:
                return {d["id"]: (d["results"] or {}).get("version", 0) for d in response.json()}
            time.sleep(0.1)


def test_killed_during_result_updates(start_sluice: StartSluice) -> None:
    sluice = start_sluice(SLUICE_REAPER_INTERVAL=REAPER)
    pipeline = f"kill-{uuid.uuid4().hex[:8]}"
    documents = [work(pipeline, results={"version": 0}) for _ in range(160)]
    http = httpx.Client(base_url=sluice.url, timeout=30)
    assert http.post("/results/results", json=documents).status_code == 200
    updaters = [Updater(sluice.url, documents[i::2], 20) for i in range(2)]
    loops = [Loop(u.step) for u in updaters]
    kill_at_random(sluice, 0.3, 1.2)
    time.sleep(0.5)
    for loop in loops:
        loop.stop()
    answers = sum((u.outcomes for u in updaters), Counter())
    assert answers["no answer"] > 0, f"no update was cut by a kill: {answers}"
    stored = updaters[0].versions([d["id"] for d in documents])
    acked = {k: v for u in updaters for k, v in u.acked.items()}
    assert stored == acked
    assert stored_ids(http, pipeline) == Counter({d["id"]: 1 for d in documents})
    for updater in updaters:
        updater.client.close()
    http.close()


class Runner:
    """Withdraws works and reports them done, as a worker does (lease header included),
    re-sending a report until Sluice takes it (2xx) or refuses it (409: lease lost)."""

    def __init__(self, url: str, pipeline: str, name: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.pipeline = pipeline
        self.name = name
        #: Results of each report Sluice acknowledged, by work id.
        self.acked: dict[str, dict[str, Any]] = {}
        self.outcomes: Counter[str] = Counter()

    def step(self) -> None:
        response = send(
            self.client, "POST", "/buckets/work/withdraw", json={"pipeline": self.pipeline}
        )
        self.outcomes[outcome(response)] += 1
        assert response is None or response.is_success or retryable(response), outcome(response)
        if response is None or not response.is_success or response.json() is None:
            time.sleep(0.1)
            return
        claimed, lease = response.json(), response.headers["x-sluice-lease"]
        results = {"by": self.name, "attempt": claimed["attempt"]}
        report = {**claimed, "status": "success", "stop": time.time(), "results": results}
        while True:
            answer = send(
                self.client,
                "PUT",
                "/buckets/work",
                json=[report],
                headers={"x-sluice-lease": lease},
            )
            self.outcomes[outcome(answer)] += 1
            if answer is not None and answer.is_success:
                self.acked[claimed["id"]] = results
                return
            if answer is not None and answer.status_code == 409:
                return
            assert retryable(answer), f"report refused: {outcome(answer)}"
            time.sleep(0.1)


def test_killed_during_work_reports(
    start_sluice: StartSluice, raw_db: Database[dict[str, Any]]
) -> None:
    sluice = start_sluice(SLUICE_REAPER_INTERVAL=REAPER)
    pipeline = f"kill-{uuid.uuid4().hex[:8]}"
    http = httpx.Client(base_url=sluice.url, timeout=30)
    sent = [new_work(pipeline, timeout=TIMEOUT, retries=5) for _ in range(150)]
    ids = deposit_works(http, sent)
    runners = [Runner(sluice.url, pipeline, f"runner-{i}") for i in range(3)]
    loops = [Loop(r.step) for r in runners]
    kill_at_random(sluice, 0.3, 1.2)

    def all_done() -> bool:
        stranded = overdue(raw_db, OVERDUE)
        assert not stranded, f"running past their lease: {stranded}"
        counts = send(http, "GET", f"/buckets/status/details/{pipeline}")
        return counts is not None and counts.json()["success"] == len(ids)

    # Works whose withdraw or report was cut by a kill are running with nobody to
    # report them: only the reaper brings them back once their lease ends.
    wait_until(all_done, 60, "every work to succeed")
    for loop in loops:
        loop.stop()
    assert not overdue(raw_db, 0)  # all succeeded: none is running at all
    stored = http.post("/buckets/view", json={"query": {"pipeline": pipeline}}).json()
    assert sorted(d["id"] for d in stored) == sorted(ids)
    by_id = {d["id"]: d for d in stored}
    acked = {k: v for r in runners for k, v in r.acked.items()}
    assert {k: by_id[k]["results"] for k in acked} == acked
    for runner in runners:
        runner.client.close()
    http.close()


def test_killed_during_transfers(start_sluice: StartSluice) -> None:
    sluice = start_sluice(SLUICE_REAPER_INTERVAL=REAPER, SLUICE_TRANSFER_INTERVAL="0.2")
    pipeline = f"kill-{uuid.uuid4().hex[:8]}"
    http = httpx.Client(base_url=sluice.url, timeout=60)
    moved: list[str] = []
    for _ in range(KILLS):
        sent = [new_work(pipeline) for _ in range(300)]
        ids = deposit_works(http, sent)
        queued = http.post("/buckets/view", json={"query": {"id": {"$in": ids}}}).json()
        # An administrative edit finishes them all at once: the mover picks them up.
        done = [{**d, "status": "success", "results": {"n": i}} for i, d in enumerate(queued)]
        assert http.put("/buckets/work", json=done).status_code == 200
        moved += ids
        pause = random.uniform(0.0, 1.0)
        print(f"killing Sluice after {pause:.2f}s")
        time.sleep(pause)
        restart_killed(sluice)

    def emptied() -> bool:
        counts = send(http, "GET", f"/buckets/status/details/{pipeline}")
        return counts is not None and counts.json()["total"] == 0

    wait_until(emptied, 60, "the mover to empty Buckets")
    assert stored_ids(http, pipeline) == Counter({i: 1 for i in moved})
    http.close()
