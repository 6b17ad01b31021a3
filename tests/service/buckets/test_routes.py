"""Audit, status, view and delete routes, with the CHIME client's semantics."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from tests.service.buckets.helpers import deposit, new_work, view, withdraw


def test_audit_failed_requeues_only_retryable_failures(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    retry, final = deposit(quiet, [new_work(pipeline), new_work(pipeline)])
    quiet_works.update_one({"id": retry}, {"$set": {"status": "failure", "attempt": 1}})
    quiet_works.update_one({"id": final}, {"$set": {"status": "failure", "attempt": 2}})
    response = quiet.get("/buckets/audit/failed")
    assert response.status_code == 200 and response.json() >= 1
    statuses = {w["id"]: w["status"] for w in view(quiet, {"pipeline": pipeline})}
    assert statuses == {retry: "queued", final: "failure"}


def test_audit_expired_fails_runs_past_their_time(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    deposit(quiet, [new_work(pipeline, timeout=3600) for _ in range(3)])
    late, _ = withdraw(quiet, {"pipeline": pipeline})
    legacy, _ = withdraw(quiet, {"pipeline": pipeline})
    fresh, _ = withdraw(quiet, {"pipeline": pipeline})
    assert late and legacy and fresh
    past = time.time() - 3601
    quiet_works.update_one({"id": late["id"]}, {"$set": {"_lease.expires": past + 3600}})
    # A running work without a lease (written by another server) expires by start + timeout.
    quiet_works.update_one({"id": legacy["id"]}, {"$set": {"start": past}, "$unset": {"_lease": 1}})
    assert quiet.get("/buckets/audit/expired").json() >= 2
    found = {w["id"]: w for w in view(quiet, {"pipeline": pipeline})}
    assert found[fresh["id"]]["status"] == "running"
    for work_id in (late["id"], legacy["id"]):
        assert found[work_id]["status"] == "failure"
        assert "expired" in found[work_id]["results"]["error"]


def test_audit_stale_counts_without_deleting(quiet: httpx.Client, pipeline: str) -> None:
    before = quiet.get("/buckets/audit/stale/7.0").json()
    old = time.time() - 8 * 86400
    deposit(quiet, [new_work(pipeline, creation=old), new_work(pipeline, creation=old + 1)])
    deposit(quiet, [new_work(pipeline)])
    assert quiet.get("/buckets/audit/stale/7.0").json() == before + 2
    assert quiet.get("/buckets/audit/stale/7").json() == before + 2
    assert len(view(quiet, {"pipeline": pipeline})) == 3
    for bad in ("seven", "-1", "nan", "inf"):
        assert quiet.get(f"/buckets/audit/stale/{bad}").status_code == 400


def test_status_routes(http: httpx.Client, pipeline: str) -> None:
    overall = http.get("/buckets/status").json()
    deposit(http, [new_work(pipeline) for _ in range(3)])
    withdraw(http, {"pipeline": pipeline})
    details = http.get(f"/buckets/status/details/{pipeline}")
    assert details.status_code == 200
    assert list(details.json().items()) == [
        ("total", 3),
        ("queued", 2),
        ("running", 1),
        ("success", 0),
        ("failure", 0),
    ]
    unknown = http.get("/buckets/status/details/no-such-pipeline").json()
    assert unknown == {"total": 0, "queued": 0, "running": 0, "success": 0, "failure": 0}
    assert pipeline in http.get("/buckets/status/pipelines").json()
    now = http.get("/buckets/status").json()
    assert now["total"] >= overall["total"] + 3 and now["running"] >= 1


@pytest.mark.parametrize(
    "projection",
    [{}, {"_id": False}, {"id": True}, {"results": 0}],
)
def test_view_never_shows_server_fields(
    http: httpx.Client, pipeline: str, projection: dict[str, Any]
) -> None:
    deposit(http, [new_work(pipeline)])
    withdraw(http, {"pipeline": pipeline})
    (found,) = view(http, {"pipeline": pipeline}, projection=projection)
    assert "id" in found
    assert not any(key.startswith("_") for key in found)


@pytest.mark.parametrize("projection", [{"_lease": True}, {"_lease": False}, {"_stop.x": 1}])
def test_projections_naming_server_fields_are_refused(
    http: httpx.Client, pipeline: str, projection: dict[str, Any]
) -> None:
    answer = http.post(
        "/buckets/view", json={"query": {"pipeline": pipeline}, "projection": projection}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_query"


def test_view_pages_and_projects(http: httpx.Client, pipeline: str) -> None:
    ids = deposit(http, [new_work(pipeline, event=[n]) for n in range(5)])
    assert [w["id"] for w in view(http, {"pipeline": pipeline}, limit=0)] == ids
    assert [w["id"] for w in view(http, {"pipeline": pipeline}, skip=1, limit=2)] == ids[1:3]
    assert view(http, {"event": [3], "pipeline": pipeline}, projection={"event": True}) == [
        {"id": ids[3], "event": [3]}
    ]
    response = http.post("/buckets/view", json={"query": {"_bound": True}})
    assert response.status_code == 400
    response = http.post("/buckets/view", json={"query": {"$where": "1"}})
    assert response.status_code == 400


def test_delete_by_ids(http: httpx.Client, pipeline: str) -> None:
    ids = deposit(http, [new_work(pipeline) for _ in range(3)])
    response = http.delete("/buckets/work", params={"ids": [ids[0], ids[2], "no-such-work"]})
    assert response.status_code == 200 and response.json() is True
    assert [w["id"] for w in view(http, {"pipeline": pipeline})] == [ids[1]]
    assert http.delete("/buckets/work").status_code == 400
