"""8 `sluice worker --concurrency 2` processes, killed at random with SIGKILL and
replaced, run 5,000 works: in the end every work is recorded in Results exactly once and
Buckets is empty. A kill takes down the worker's running works, its pool children and
the works it claimed ahead; the reaper (1 s) gives those back once their short lease
ends; the built-in mover (1 s) takes finished works to Results."""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from sluice import new_work
from tests.faults.conftest import StartSluice
from tests.faults.jobs import HERE
from tests.faults.ledger import send, stored_ids
from tests.workers import ROOT, SLUICE

#: Works in the run (SLUICE_FAULT_WORKS to change it).
WORKS = int(os.environ.get("SLUICE_FAULT_WORKS", "5000"))
#: Queued works kept in Buckets while the run goes on: they are deposited in waves, as
#: pipelines feed a queue. The embedded database's claim cost grows with the number of
#: queued works (it sorts them in memory), and claims are serialised.
BACKLOG = 200
WORKERS = 8
#: Works each worker runs at once (16 slots in all); each also claims one ahead.
CONCURRENCY = 2
#: Seconds between two kills. A worker's start costs about half a CPU-second (its
#: imports), and its pool's children as much again: kills every 0.5 s spent half of a
#: 2-core machine on replacements alone. Every 2 s, about 80 workers die in a run.
KILL_EVERY = 2.0
#: Seconds a worker must have lived to be a victim: one still starting (its imports, its
#: pool) holds no work yet, and on a loaded machine the start takes seconds.
MIN_AGE = 5.0
#: Lease of every work, in seconds: the work of a killed worker is queued again soon.
TIMEOUT = 3
#: Kills between two calls of the audit route that requeues failed runs.
AUDIT_EVERY = 10
#: Seconds the whole run may take: generous, as other jobs may share the machine. With
#: the mover, the automatic retrier and the worker registry on, a 2-core machine ran
#: 1,000 works of this drill at 3.7 works/s while seven times oversubscribed (load 14),
#: spending 0.12 CPU-second per work, all processes counted (functions run in pooled
#: children: no interpreter start per work; the 0.5 s kills of 16 workers cost 0.29).
PATIENCE = 120 + WORKS * 0.3


class Crew:
    """`WORKERS` worker processes for `pipelines`, each logging to its own file."""

    def __init__(self, url: str, pipelines: list[str], logs: Path) -> None:
        self.argv = [SLUICE, "--url", url, "worker", *pipelines, "--site", "local"]
        self.argv += ["--concurrency", str(CONCURRENCY), "--prefetch", "1", "--sleep", "0.2"]
        self.argv += ["--log-level", "warning"]
        self.logs = logs
        self.started = 0
        #: When each of `workers` was started.
        self.born = [time.monotonic()] * WORKERS
        self.workers = [self._start() for _ in range(WORKERS)]

    def _start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with (self.logs / f"worker-{self.started}.log").open("wb") as log:
            return subprocess.Popen(self.argv, cwd=ROOT, stdout=log, stderr=log)

    def replace_one(self) -> None:
        """SIGKILL a random worker of those alive for MIN_AGE (else the oldest; its
        running works die with it) and start another."""
        now = time.monotonic()
        grown = [i for i, born in enumerate(self.born) if now - born >= MIN_AGE]
        index = random.choice(grown) if grown else self.born.index(min(self.born))
        self.workers[index].kill()
        self.workers[index].wait()
        self.workers[index] = self._start()
        self.born[index] = time.monotonic()

    def stop(self) -> None:
        for worker in self.workers:
            worker.kill()
            worker.wait()


@pytest.fixture
def fault_env(fault_env: dict[str, str], own_mongo_uri: str) -> dict[str, str]:
    """The drill writes tens of thousands of times: on a database server of its own."""
    return {**fault_env, "MONGODB_URI": own_mongo_uri}


@pytest.mark.slow
def test_killed_workers_lose_no_work(start_sluice: StartSluice, tmp_path: Path) -> None:
    sluice = start_sluice(SLUICE_REAPER_INTERVAL="1", SLUICE_TRANSFER_INTERVAL="1")
    pipelines = [f"crew-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    http = httpx.Client(base_url=sluice.url, timeout=60)
    works = [
        new_work(
            pipelines[i % 2], "local", "tester",
            function=f"{HERE}.noop", parameters={"i": i}, timeout=TIMEOUT, retries=5,
        )
        for i in range(WORKS)
    ]  # fmt: skip
    ids: list[str] = []

    def feed() -> None:
        """Top the queue up to BACKLOG queued works, until every work is deposited."""
        if len(ids) == WORKS:
            return
        answer = send(http, "GET", "/buckets/status")
        waiting = int(answer.json().get("queued", BACKLOG)) if answer else BACKLOG
        wave = works[len(ids) : len(ids) + max(0, BACKLOG - waiting)]
        if wave:
            response = http.post("/buckets/work", params={"return_ids": True}, json=wave)
            assert response.status_code == 200, response.text
            ids.extend(response.json())

    def recorded() -> int:
        answer = send(http, "GET", "/results/status")
        return sum(answer.json().get(p, 0) for p in pipelines) if answer else 0

    def queued() -> int:
        answer = send(http, "GET", "/buckets/status")
        return int(answer.json()["total"]) if answer else -1

    began = time.monotonic()
    crew = Crew(sluice.url, pipelines, tmp_path)
    try:
        feed()
        while len(ids) < WORKS or recorded() < WORKS or queued() != 0:
            feed()
            elapsed = time.monotonic() - began
            assert elapsed < PATIENCE, f"{recorded()} of {WORKS} recorded in {elapsed:.0f}s"
            time.sleep(KILL_EVERY)
            crew.replace_one()
            if crew.started % AUDIT_EVERY == 0:
                # As CHIME's audit daemon does: a run that failed (here: timed out on a
                # starved machine) with retries left is queued again.
                send(http, "GET", "/buckets/audit/failed")
    finally:
        crew.stop()
    print(f"{WORKS} works in {time.monotonic() - began:.0f}s, {crew.started} workers started")
    assert len(set(ids)) == WORKS
    held = sum((stored_ids(http, p) for p in pipelines), Counter())
    assert held == Counter({i: 1 for i in ids})
    assert queued() == 0
    reruns = sum(
        http.post(
            "/results/view/count", json={"query": {"pipeline": p, "attempt": {"$gt": 1}}}
        ).json()
        for p in pipelines
    )
    assert reruns > 0, "no kill hit a running work"
    http.close()
