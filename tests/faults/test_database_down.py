"""The database stops for 10 s under load: Sluice's process stays up (`/healthz`),
`/readyz` and reads answer 503 `database_unavailable`, it recovers by itself when the
database is back, no acknowledged write is lost, and re-sent writes end up stored
exactly once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from service.embedded import EmbeddedDatabase
from tests.faults.conftest import StartSluice
from tests.faults.ledger import (
    Depositor,
    Loop,
    check_exactly_once,
    outcome,
    send,
    wait_until,
)

#: How long the database stays down.
OUTAGE = 10.0
DEPOSITORS = 3
BATCH = 5


def read(client: httpx.Client, pipeline: str, seen: Counter[str]) -> None:
    """One read as a dashboard would make it: a count, then a page."""
    query = {"query": {"pipeline": pipeline}}
    seen[outcome(send(client, "POST", "/results/view/count", json=query))] += 1
    seen[outcome(send(client, "POST", "/results/view", json={**query, "limit": 20}))] += 1
    time.sleep(0.05)


@pytest.mark.slow
def test_database_stopped_under_load(start_sluice: StartSluice, tmp_path: Path) -> None:
    database = EmbeddedDatabase(
        storage_path=str(tmp_path / "db"), sync_on_commit=True, log_path=tmp_path / "db.log"
    )
    database.start()
    sluice = start_sluice(
        MONGODB_URI=database.uri,
        SLUICE_SERIALIZE_CLAIMS="1",
        SLUICE_SERVER_SELECTION_TIMEOUT_MS="1000",
    )
    try:
        http = httpx.Client(base_url=sluice.url, timeout=30)
        depositors = [
            Depositor(sluice.url, f"down-{uuid.uuid4().hex[:8]}", BATCH) for _ in range(DEPOSITORS)
        ]
        reads: Counter[str] = Counter()
        loops = [Loop(d.step) for d in depositors]
        loops.append(Loop(lambda: read(http, depositors[0].pipeline, reads)))
        time.sleep(2)
        assert all(d.acked for d in depositors), "no write got through before the outage"

        port = database.port
        database.kill()
        down_since = time.monotonic()
        wait_until(
            lambda: outcome(http.get("/readyz")) == "503 database_unavailable", 5, "/readyz 503"
        )
        assert http.get("/healthz").status_code == 200
        wait_until(lambda: reads["503 database_unavailable"] > 0, OUTAGE, "a 503 on a read")
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
        assert http.get("/healthz").status_code == 200

        # Same port and data directory; Sluice is not restarted.
        database.requested_port = port or 0
        database.start()
        wait_until(lambda: http.get("/readyz").status_code == 200, 30, "recovery")
        acked_before = sum(len(d.acked) for d in depositors)
        time.sleep(2)
        for loop in loops:
            loop.stop()
        assert sum(len(d.acked) for d in depositors) > acked_before, "no write after recovery"
        assert sluice.process is not None and sluice.process.poll() is None

        for depositor in depositors:
            depositor.settle()
        check_exactly_once(http, depositors)
        answers = reads + sum((d.outcomes for d in depositors), Counter())
        allowed = {"200", "409 conflict", "503 database_unavailable"}
        assert set(answers) <= allowed, f"unexpected answers: {answers}"
        for depositor in depositors:
            depositor.close()
        http.close()
    finally:
        sluice.stop()  # before the database, or its shutdown waits for it
        database.stop()


def test_a_deposit_during_the_outage_answers_503_promptly(
    start_sluice: StartSluice, tmp_path: Path
) -> None:
    database = EmbeddedDatabase(storage_path=str(tmp_path / "db"), sync_on_commit=True)
    database.start()
    sluice = start_sluice(MONGODB_URI=database.uri, SLUICE_SERVER_SELECTION_TIMEOUT_MS="1000")
    try:
        depositor = Depositor(sluice.url, "prompt", BATCH, timeout=5)
        depositor.step()
        database.kill()
        depositor.step()
        depositor.close()
        assert depositor.outcomes == Counter({"200": 1, "503 database_unavailable": 1})
    finally:
        sluice.kill()  # its deposit may still be retrying
        database.stop()
