"""Every `Buckets` method against the live service."""

from __future__ import annotations

import time

import pytest

from schemas.work import WORK_FIELDS
from sluice import (
    BadRequest,
    Buckets,
    Conflict,
    NotFound,
    ValidationFailed,
    Work,
    new_work,
)
from tests.sluice.buckets.conftest import job


def test_info_names_the_buckets_api(buckets: Buckets, base_url: str) -> None:
    info = buckets.info()
    assert info["client"]["baseurl"] == f"{base_url}/buckets"
    assert info["server"]["version"]


def test_new_work_is_complete_and_ordered() -> None:
    before = time.time()
    work = new_work("p-1", "chime", "me", command=["true"], priority=5)
    assert tuple(work) == WORK_FIELDS
    assert work["status"] == "created" and work["priority"] == 5 and work["retries"] == 2
    assert work["creation"] >= before
    with pytest.raises(ValueError):
        new_work("no spaces", "chime", "me")


def test_deposit_returns_ids_in_order_and_is_idempotent(buckets: Buckets, pipeline: str) -> None:
    works = [job(pipeline, "noop", priority=p) for p in (1, 2, 3)]
    model = Work(pipeline=pipeline, site="local", user="tester", function="m.f")
    ids = buckets.deposit([*works, model], return_ids=True)
    assert len(ids) == 4 and len(set(ids)) == 4
    assert buckets.deposit(works) is True
    assert buckets.deposit(works, return_ids=True) == ids[:3]
    assert buckets.details(pipeline) == {
        "total": 4, "queued": 4, "running": 0, "success": 0, "failure": 0,
    }  # fmt: skip


def test_deposit_refuses_invalid_work(buckets: Buckets, pipeline: str) -> None:
    with pytest.raises(ValidationFailed):
        buckets.deposit([{**job(pipeline, "noop"), "priority": 9}])
    assert buckets.details(pipeline)["total"] == 0


def test_withdraw_takes_highest_priority_then_oldest(buckets: Buckets, pipeline: str) -> None:
    ids = buckets.deposit([job(pipeline, "noop", priority=p) for p in (2, 5, 5, 1)], True)
    taken = []
    while claimed := buckets.withdraw(pipeline, site="local"):
        taken.append(claimed.work["id"])
        assert claimed.work["status"] == "running" and claimed.work["attempt"] == 1
        assert claimed.lease
    assert taken == [ids[1], ids[2], ids[0], ids[3]]
    assert buckets.withdraw(pipeline) is None


def test_withdraw_filters(buckets: Buckets, pipeline: str) -> None:
    other = f"{pipeline}-b"
    plain = job(pipeline, "noop")
    tagged = job(other, "noop", tags=["x"], event=[7], user="ann", priority=4)
    child = job(pipeline, "noop", config={"parent": "run-1"})
    ids = buckets.deposit([plain, tagged, child], True)
    assert buckets.withdraw(pipeline, site="elsewhere") is None
    assert buckets.withdraw([pipeline, other], tags=["y"]) is None
    found = buckets.withdraw([pipeline, other], tags=["x"], event=[7], user="ann", priority=4)
    assert found is not None and found.work["id"] == ids[1]
    parented = buckets.withdraw(pipeline, parent=["run-1"])
    assert parented is not None and parented.work["config"]["parent"] == "run-1"
    with pytest.raises(BadRequest):
        buckets.withdraw(pipeline, site={"$where": "1"})  # type: ignore[arg-type]


def test_falsy_filters_filter_and_are_never_dropped(buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop", tags=["t"], event=[0]) for _ in range(2)])
    # Each of these matches no work; dropping it would have withdrawn or deleted one.
    assert buckets.withdraw(pipeline, tags=[]) is None
    assert buckets.withdraw(pipeline, event=[]) is None
    assert buckets.withdraw(pipeline, site="") is None
    assert buckets.withdraw(pipeline, user="") is None
    assert buckets.withdraw(pipeline, parent=[]) is None
    assert buckets.delete_many(pipeline, events=[]) == 0
    assert buckets.delete_many(pipeline, tags=[], status="queued") == 0
    assert buckets.delete_many(pipeline, status="") == 0
    for priority in (0, 6, -1):
        with pytest.raises(ValueError, match="priority"):
            buckets.withdraw(pipeline, priority=priority)
    assert buckets.details(pipeline)["queued"] == 2
    found = buckets.withdraw(pipeline, event=[0])
    assert found is not None and found.work["event"] == [0]


def test_heartbeat_release_and_update_with_the_lease(buckets: Buckets, pipeline: str) -> None:
    [work_id] = buckets.deposit([job(pipeline, "noop", timeout=60)], True)
    claimed = buckets.withdraw(pipeline)
    assert claimed is not None
    beat = buckets.heartbeat(work_id, claimed.lease)
    assert beat.id == work_id and not beat.stop and beat.expires > time.time() + 50
    released = buckets.release(work_id, claimed.lease)
    assert released["status"] == "queued" and released["attempt"] == 0
    with pytest.raises(Conflict):
        buckets.heartbeat(work_id, claimed.lease)

    again = buckets.withdraw(pipeline)
    assert again is not None and again.lease != claimed.lease
    report = {**again.work, "status": "success", "results": {"ok": True}, "stop": time.time()}
    with pytest.raises(Conflict):
        buckets.update([report], lease=claimed.lease)
    assert buckets.update([report], lease=again.lease) is True
    [stored] = buckets.view({"id": work_id})
    assert stored["status"] == "success" and stored["results"] == {"ok": True}
    with pytest.raises(NotFound):
        buckets.update([{**report, "id": "no-such-work"}])


def test_delete_ids_in_batches_with_progress(buckets: Buckets, pipeline: str) -> None:
    ids = buckets.deposit([job(pipeline, "noop") for _ in range(230)], True)
    seen: list[tuple[int, int]] = []
    assert buckets.delete_ids([*ids, "unknown"], lambda done, total: seen.append((done, total)))
    assert seen == [(100, 231), (200, 231), (231, 231)]
    assert buckets.details(pipeline)["total"] == 0
    assert buckets.delete_ids([]) is True


def test_delete_many_by_status_and_limit(buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop", tags=["t"]) for _ in range(5)])
    claimed = buckets.withdraw(pipeline)
    assert claimed is not None
    assert buckets.delete_many(pipeline, status="running") == 1
    assert buckets.delete_many(pipeline, tags=["other"]) == 0
    assert buckets.delete_many(pipeline, status="queued", limit=3) == 3
    assert buckets.details(pipeline)["total"] == 1


def test_view_pages_and_projects(buckets: Buckets, pipeline: str) -> None:
    ids = buckets.deposit([job(pipeline, "noop", event=[i]) for i in range(4)], True)
    query = {"pipeline": pipeline}
    assert [w["id"] for w in buckets.view(query, skip=1, limit=2)] == ids[1:3]
    assert len(buckets.view(query, limit=-1)) == 4
    projected = buckets.view({**query, "event": {"$in": [2]}}, {"event": True})
    assert projected == [{"event": [2], "id": ids[2]}]


def test_status_pipelines_details_and_audit(buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop")])
    assert pipeline in buckets.pipelines()
    assert buckets.status()["queued"] >= 1
    assert list(buckets.details(pipeline)) == ["total", "queued", "running", "success", "failure"]
    assert buckets.details("no-such-pipeline")["total"] == 0
    audit = buckets.audit()
    assert set(audit) == {"failed", "expired", "stale"}
    assert all(isinstance(n, int) for n in audit.values())
    assert buckets.audit(stale_days=0)["stale"] >= 1


def test_report_many_answers_each_report(buckets: Buckets, pipeline: str) -> None:
    buckets.deposit([job(pipeline, "noop") for _ in range(2)])
    first, second = buckets.withdraw_many(pipeline, 2, site="local")
    reports = [
        ({**first.work, "status": "failure", "stop": time.time()}, first.lease),
        ({**second.work, "status": "success", "stop": time.time()}, "not-the-lease"),
    ]
    recorded, refused = buckets.report_many(reports)
    assert recorded.recorded and recorded.error is None
    assert not refused.recorded and refused.error is not None
    assert refused.error.code == "conflict" and refused.id == second.work["id"]
    assert buckets.details(pipeline) == {
        "total": 2, "queued": 0, "running": 1, "success": 0, "failure": 1,
    }  # fmt: skip
    with pytest.raises(ValidationFailed):
        buckets.report_many([({**second.work, "priority": 9}, second.lease)])
