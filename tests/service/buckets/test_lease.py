"""Leases and updates: heartbeat, release, and PUT /work refusing runs that lost their work.

Runs lose their work here through the audit routes on a Sluice without reaper
(`quiet`), so nothing races the test; the reaper itself is tested in test_background.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from schemas.buckets import LEASE_HEADER
from tests.service.buckets.helpers import Work, deposit, new_work, view, withdraw


def _claim(http: httpx.Client, pipeline: str, **fields: Any) -> tuple[Work, str]:
    deposit(http, [new_work(pipeline, **fields)])
    work, lease = withdraw(http, {"pipeline": pipeline})
    assert work is not None and lease is not None
    return work, lease


def _put(http: httpx.Client, work: Work, lease: str | None = None) -> httpx.Response:
    headers = {LEASE_HEADER: lease} if lease else {}
    return http.put("/buckets/work", json=[work], headers=headers)


def _expire(http: httpx.Client, works: Collection[dict[str, Any]], work_id: str) -> None:
    """End a run as a lapsed lease would: expiry moved to the past, then audited."""
    works.update_one({"id": work_id}, {"$set": {"_lease.expires": time.time() - 1}})
    assert http.get("/buckets/audit/expired").json() >= 1


def test_heartbeat_extends_the_lease_and_reports_stop(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = _claim(http, pipeline, timeout=600)
    first = works.find_one({"id": work["id"]})["_lease"]["expires"]  # type: ignore[index]
    time.sleep(0.01)
    beat = http.post("/buckets/work/heartbeat", json={"id": work["id"], "lease": lease})
    assert beat.status_code == 200, beat.text
    answer = beat.json()
    assert list(answer) == ["id", "expires", "stop"]
    assert answer["id"] == work["id"] and answer["stop"] is False
    assert first < answer["expires"] == pytest.approx(time.time() + 600, abs=5)
    # No route asks a run to stop yet: the flag is set where the server keeps it.
    works.update_one({"id": work["id"]}, {"$set": {"_stop": True}})
    beat = http.post("/buckets/work/heartbeat", json={"id": work["id"], "lease": lease})
    assert beat.json()["stop"] is True


@pytest.mark.parametrize("route", ["heartbeat", "release"])
def test_lease_routes_refuse_a_lease_not_held(
    http: httpx.Client, pipeline: str, route: str
) -> None:
    work, lease = _claim(http, pipeline)
    for body in (
        {"id": work["id"], "lease": "not-the-token"},
        {"id": "no-such-work", "lease": lease},
    ):
        response = http.post(f"/buckets/work/{route}", json=body)
        assert response.status_code == 409, response.text
    assert http.post(f"/buckets/work/{route}", json={"id": work["id"]}).status_code == 422
    # Once finished, the lease is gone.
    assert _put(http, {**work, "status": "success"}, lease).status_code == 200
    response = http.post(f"/buckets/work/{route}", json={"id": work["id"], "lease": lease})
    assert response.status_code == 409


def test_release_requeues_without_counting_the_attempt(http: httpx.Client, pipeline: str) -> None:
    work, lease = _claim(http, pipeline)
    assert work["attempt"] == 1
    response = http.post("/buckets/work/release", json={"id": work["id"], "lease": lease})
    assert response.status_code == 200, response.text
    released = response.json()
    assert (released["status"], released["attempt"], released["start"]) == ("queued", 0, None)
    assert not any(key.startswith("_") for key in released)
    again, new_lease = withdraw(http, {"pipeline": pipeline})
    assert again is not None and again["attempt"] == 1 and new_lease != lease
    # The old token holds nothing any more.
    assert _put(http, {**work, "status": "success"}, lease).status_code == 409


def test_leased_update_and_its_retry(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = _claim(http, pipeline)
    done = {**work, "status": "success", "stop": time.time(), "results": {"snr": 9.5}}
    assert _put(http, done, lease).json() is True
    stored = works.find_one({"id": work["id"]})
    assert stored is not None and "_lease" not in stored
    assert (stored["status"], stored["results"]) == ("success", {"snr": 9.5})
    # The client retries blindly: the same update again is accepted, a different one not.
    assert _put(http, done, lease).status_code == 200
    assert _put(http, {**done, "results": {"snr": 1.0}}, lease).status_code == 409


def test_progress_update_keeps_the_lease(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = _claim(http, pipeline)
    assert _put(http, {**work, "results": {"progress": 0.5}}, lease).status_code == 200
    assert _put(http, {**work, "results": {"progress": 0.7}}).status_code == 200
    stored = works.find_one({"id": work["id"]})
    assert stored is not None and stored["_lease"]["token"] == lease
    beat = http.post("/buckets/work/heartbeat", json={"id": work["id"], "lease": lease})
    assert beat.status_code == 200


def test_client_update_after_the_run_expired_is_refused(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    work, lease = _claim(quiet, pipeline, retries=1)
    _expire(quiet, quiet_works, work["id"])
    late = {**work, "status": "success", "stop": time.time()}
    response = _put(quiet, late)
    assert response.status_code == 409, response.text
    assert _put(quiet, late, lease).status_code == 409
    (stored,) = view(quiet, {"id": work["id"]})
    assert stored["status"] == "failure" and "expired" in stored["results"]["error"]
    # An administrator may still put it back in the queue, and the late run stays out.
    assert _put(quiet, {**stored, "status": "queued"}).status_code == 200
    assert _put(quiet, late).status_code == 409
    assert view(quiet, {"id": work["id"]})[0]["status"] == "queued"


def test_update_from_a_run_superseded_by_another_is_refused(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    first, _ = _claim(quiet, pipeline, retries=3)
    _expire(quiet, quiet_works, first["id"])
    assert quiet.get("/buckets/audit/failed").json() >= 1
    second, _ = withdraw(quiet, {"pipeline": pipeline})
    assert second is not None and second["id"] == first["id"] and second["attempt"] == 2
    assert _put(quiet, {**first, "status": "success"}).status_code == 409
    assert _put(quiet, {**second, "status": "success"}).status_code == 200
    assert view(quiet, {"id": first["id"]})[0]["attempt"] == 2


def test_admin_updates_and_errors(http: httpx.Client, pipeline: str) -> None:
    (work_id,) = deposit(http, [new_work(pipeline)])
    (stored,) = view(http, {"id": work_id})
    failed = {**stored, "status": "failure", "attempt": 2, "results": {"error": "x"}}
    assert _put(http, failed).status_code == 200
    assert _put(http, {**failed, "status": "queued", "attempt": 0}).status_code == 200
    assert view(http, {"id": work_id})[0]["status"] == "queued"
    missing = http.put("/buckets/work", json=[{**stored, "id": "no-such-work"}])
    assert missing.status_code == 404
    assert http.put("/buckets/work", json=[{**stored, "id": None}]).status_code == 422
    assert http.put("/buckets/work", json=[{**stored, "priority": 9}]).status_code == 422


def test_batch_update_is_all_or_nothing(http: httpx.Client, pipeline: str) -> None:
    ids = deposit(http, [new_work(pipeline), new_work(pipeline)])
    one, two = view(http, {"id": {"$in": ids}})
    response = http.put(
        "/buckets/work",
        json=[{**one, "priority": 5}, {**two, "id": "no-such-work", "priority": 5}],
    )
    assert response.status_code == 404
    assert view(http, {"id": one["id"]})[0]["priority"] == 3
    response = http.put("/buckets/work", json=[{**one, "priority": 5}, {**two, "priority": 4}])
    assert response.status_code == 200
    assert [w["priority"] for w in view(http, {"id": {"$in": ids}})] == [5, 4]
