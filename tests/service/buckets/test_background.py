"""The reaper and the mover, in Sluice processes of their own with short intervals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

from schemas.auth import AuditEntry
from service.buckets import audit
from service.testing import SluiceProcess
from tests.service.buckets.helpers import Work, deposit, new_work, view, wait_for, withdraw

StartSluice = Callable[..., SluiceProcess]


def _withdraw_all(http: httpx.Client, pipeline: str) -> list[Work]:
    claimed: list[Work] = []
    while True:
        work, _ = withdraw(http, {"pipeline": {"$in": [pipeline]}})
        if work is None:
            return claimed
        claimed.append(work)


def test_reaper_requeues_then_fails(start_sluice: StartSluice, db_name: str, pipeline: str) -> None:
    server = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0.1")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        ids = deposit(http, [new_work(pipeline, timeout=1, retries=2) for _ in range(5)])
        assert len(_withdraw_all(http, pipeline)) == 5

        def all_in(status: str) -> list[Work] | None:
            found = view(http, {"pipeline": pipeline}, limit=0)
            return found if all(w["status"] == status for w in found) else None

        requeued = wait_for(lambda: all_in("queued"), timeout=15)
        assert sorted(w["id"] for w in requeued) == sorted(ids)
        assert all(w["attempt"] == 1 for w in requeued)
        # Second and last attempt: the reaper marks it failed, saying why.
        assert len(_withdraw_all(http, pipeline)) == 5
        failed = wait_for(lambda: all_in("failure"), timeout=15)
        for work in failed:
            assert work["attempt"] == 2
            assert "lease expired" in work["results"]["error"]
        # A late report from the first, reaped and superseded run changes nothing.
        late = {**failed[0], "attempt": 1, "status": "success", "results": None}
        assert http.put("/buckets/work", json=[late]).json() is False
        assert view(http, {"id": late["id"]})[0]["status"] == "failure"


async def test_racing_reapers_act_once_per_work(
    rival_collections: list[AsyncCollection[dict[str, Any]]],
) -> None:
    collections = rival_collections
    now = time.time()
    total = audit.REAP_BATCH + 50
    await collections[0].insert_many(
        {
            "id": f"w{n}",
            "status": "running",
            "attempt": 1,
            "retries": 2 if n % 2 else 1,
            "results": None,
            "_lease": {"token": f"t{n}", "expires": now - 1},
        }
        for n in range(total)
    )
    tallies = await asyncio.gather(*(audit.reap(c, now) for c in collections))
    assert sum(t["requeued"] for t in tallies) == total // 2
    assert sum(t["failed"] for t in tallies) == total // 2
    statuses = await collections[0].distinct("status")
    assert sorted(statuses) == ["failure", "queued"]
    assert await collections[0].count_documents({"_lease": {"$exists": True}}) == 0


def test_two_reaper_processes(start_sluice: StartSluice, db_name: str, pipeline: str) -> None:
    first = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0.05")
    second = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0.05")
    with httpx.Client(base_url=first.url) as a, httpx.Client(base_url=second.url) as b:
        deposit(a, [new_work(pipeline, timeout=1, retries=1) for _ in range(20)])
        assert len(_withdraw_all(b, pipeline)) == 20

        def finished() -> list[Work] | None:
            found = view(a, {"pipeline": pipeline}, limit=0)
            return found if all(w["status"] == "failure" for w in found) else None

        for work in wait_for(finished, timeout=15):
            assert work["attempt"] == 1
            assert "attempt 1 " in work["results"]["error"]


def _set(http: httpx.Client, work_id: str, **fields: Any) -> None:
    (stored,) = view(http, {"id": work_id})
    response = http.put("/buckets/work", json=[{**stored, **fields}])
    assert response.status_code == 200, response.text


def test_mover_archives_finished_work(
    start_sluice: StartSluice, db_name: str, pipeline: str
) -> None:
    setup = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0")
    old = time.time() - 7200
    no_archive = {"archive": {"results": False}}
    names = ["s1", "s2", "s3", "s4", "f1", "f2", "q1", "old_q", "old_f", "old_s", "old_r"]
    with httpx.Client(base_url=setup.url, timeout=30) as http:
        deposit(
            http,
            [
                new_work(pipeline, id=name, **({"creation": old} if name[:3] == "old" else {}))
                for name in names
            ],
        )
        _set(http, "s1", status="success", attempt=1)
        _set(http, "s2", status="success", attempt=1, config=no_archive)
        _set(http, "s3", status="success", attempt=1, results={"from": "buckets"})
        _set(http, "s4", status="success", attempt=1, results={"from": "buckets"})
        _set(http, "f1", status="failure", attempt=2)
        _set(http, "f2", status="failure", attempt=1)
        _set(http, "old_f", status="failure", attempt=2)
        _set(http, "old_s", status="success", attempt=1)
        _set(http, "old_r", status="running", attempt=1)
        # As if a mover had died between writing Results and deleting from Buckets.
        (s3,) = view(http, {"id": "s3"})
        assert http.post("/results/results", json=[s3]).status_code == 200
        # A different result squatting s4's id in Results: s4 must not be dropped.
        (s4,) = view(http, {"id": "s4"})
        squat = {**s4, "results": {"from": "squatter"}}
        assert http.post("/results/results", json=[squat]).status_code == 200
    mover = start_sluice(
        db_name,
        SLUICE_REAPER_INTERVAL="0",
        SLUICE_TRANSFER_INTERVAL="0.1",
        SLUICE_TRANSFER_CUTOFF="3600",
    )
    with httpx.Client(base_url=mover.url, timeout=30) as http:

        def remaining() -> list[str] | None:
            ids = sorted(w["id"] for w in view(http, {"pipeline": pipeline}, limit=0))
            return ids if ids == ["f2", "old_r", "q1", "s4"] else None

        wait_for(remaining, timeout=15)
        response = http.post("/results/view", json={"query": {"pipeline": pipeline}, "limit": 0})
        archived = {w["id"]: w for w in response.json()}
        assert sorted(archived) == ["f1", "old_s", "s1", "s3", "s4"]
        assert archived["s3"]["results"] == {"from": "buckets"}
        assert archived["s4"]["results"] == {"from": "squatter"}
        assert archived["f1"]["status"] == "failure"
        # The conflict is kept in Buckets, said once in the audit trail, and left alone.
        assert view(http, {"id": "s4"})[0] == s4
        audit = http.get("/admin/audit", params={"action": "buckets.transfer_conflict"})
        [entry] = [e for e in audit.json() if e["details"]["pipeline"] == pipeline]
        assert entry["details"]["id"] == "s4" and entry["who"] == "sluice"
        assert AuditEntry.model_validate(entry).method is None  # the answer's declared shape
        time.sleep(0.5)
        audit = http.get("/admin/audit", params={"action": "buckets.transfer_conflict"})
        assert len([e for e in audit.json() if e["details"]["pipeline"] == pipeline]) == 1
        # Once the squatter is gone and the work edited, the next pass archives it.
        assert http.delete("/results/results", params={pipeline: "s4"}).status_code == 200
        _set(http, "s4", stop=time.time())
        wait_for(lambda: not view(http, {"id": "s4"}), timeout=15)


def test_the_transfer_route_moves_in_batches_results_takes_and_audits_conflicts(
    start_sluice: StartSluice, db_name: str, pipeline: str
) -> None:
    # Results takes at most SLUICE_MAX_BATCH documents at once: with 10, a pass of the
    # mover's 100 was refused (413) and nothing ever moved.
    server = start_sluice(db_name, SLUICE_REAPER_INTERVAL="0", SLUICE_MAX_BATCH="10")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        names = [f"w{i}" for i in range(25)]
        for start in range(0, len(names), 10):
            deposit(http, [new_work(pipeline, id=name) for name in names[start : start + 10]])
        for name in names:
            _set(http, name, status="success", attempt=1, results={"from": "buckets"})
        (squatted,) = view(http, {"id": "w0"})
        squat = {**squatted, "results": {"from": "squatter"}}
        assert http.post("/results/results", json=[squat]).status_code == 200
        moved = http.post("/buckets/transfer")
        assert moved.status_code == 200, moved.text
        assert moved.json() == {"archived": 24, "deleted": 24, "conflicts": 1}
        assert [w["id"] for w in view(http, {"pipeline": pipeline}, limit=0)] == ["w0"]
        # The route's conflict is audited as the background mover's is.
        audit = http.get("/admin/audit", params={"action": "buckets.transfer_conflict"})
        [entry] = [e for e in audit.json() if e["details"]["pipeline"] == pipeline]
        assert entry["details"]["id"] == "w0" and entry["who"] == "sluice"


def test_mover_is_off_by_default(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    (work_id,) = deposit(http, [new_work(pipeline)])
    _set(http, work_id, status="success", attempt=1)
    time.sleep(0.3)
    assert works.count_documents({"id": work_id}) == 1
