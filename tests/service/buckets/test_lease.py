"""Leases: heartbeat, release, and PUT /work with the lease token (Sluice's worker).

The rule for reports without a token is tested in test_reports.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from tests.service.buckets.helpers import claim, deposit, new_work, put, view, withdraw


def test_heartbeat_extends_the_lease_and_reports_stop(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = claim(http, pipeline, timeout=600)
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
    work, lease = claim(http, pipeline)
    for body in (
        {"id": work["id"], "lease": "not-the-token"},
        {"id": "no-such-work", "lease": lease},
    ):
        response = http.post(f"/buckets/work/{route}", json=body)
        assert response.status_code == 409, response.text
    assert http.post(f"/buckets/work/{route}", json={"id": work["id"]}).status_code == 422
    # Once finished, the lease is gone.
    assert put(http, {**work, "status": "success"}, lease=lease).status_code == 200
    response = http.post(f"/buckets/work/{route}", json={"id": work["id"], "lease": lease})
    assert response.status_code == 409


def test_a_report_with_a_token_outside_ascii_is_a_lease_not_held(
    http: httpx.Client, pipeline: str
) -> None:
    work, lease = claim(http, pipeline)
    done = {**work, "status": "success"}
    # The header as Latin-1 bytes, the batched report's token as JSON text: a 409 each,
    # where comparing them with the stored token raised (500).
    sent = http.put("/buckets/work", json=[done], headers={b"X-Sluice-Lease": b"\xe9"})
    assert sent.status_code == 409, sent.text
    batched = http.post("/buckets/work/reports", json={"reports": [{"work": done, "lease": "é"}]})
    assert batched.status_code == 200, batched.text
    (outcome,) = batched.json()
    assert outcome["recorded"] is False and outcome["error"]["code"] == "conflict", outcome
    assert put(http, done, lease=lease).status_code == 200


def test_release_requeues_without_counting_the_attempt(http: httpx.Client, pipeline: str) -> None:
    work, lease = claim(http, pipeline)
    assert work["attempt"] == 1
    response = http.post("/buckets/work/release", json={"id": work["id"], "lease": lease})
    assert response.status_code == 200, response.text
    released = response.json()
    assert (released["status"], released["attempt"], released["start"]) == ("queued", 0, None)
    assert not any(key.startswith("_") for key in released)
    again, new_lease = withdraw(http, {"pipeline": pipeline})
    assert again is not None and again["attempt"] == 1 and new_lease != lease
    # The old token holds nothing any more.
    assert put(http, {**work, "status": "success"}, lease=lease).status_code == 409


def test_leased_update_and_its_retry(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = claim(http, pipeline)
    done = {**work, "status": "success", "stop": time.time(), "results": {"snr": 9.5}}
    assert put(http, done, lease=lease).json() is True
    stored = works.find_one({"id": work["id"]})
    assert stored is not None and "_lease" not in stored
    assert (stored["status"], stored["results"]) == ("success", {"snr": 9.5})
    # The client retries blindly: the same update again is accepted, a different one not.
    assert put(http, done, lease=lease).status_code == 200
    assert put(http, {**done, "results": {"snr": 1.0}}, lease=lease).status_code == 409


def test_progress_update_keeps_the_lease(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = claim(http, pipeline)
    assert put(http, {**work, "results": {"progress": 0.5}}, lease=lease).status_code == 200
    assert put(http, {**work, "results": {"progress": 0.7}}).status_code == 200
    stored = works.find_one({"id": work["id"]})
    assert stored is not None and stored["_lease"]["token"] == lease
    beat = http.post("/buckets/work/heartbeat", json={"id": work["id"], "lease": lease})
    assert beat.status_code == 200


def test_admin_updates_and_errors(http: httpx.Client, pipeline: str) -> None:
    (work_id,) = deposit(http, [new_work(pipeline)])
    (stored,) = view(http, {"id": work_id})
    failed = {**stored, "status": "failure", "attempt": 2, "results": {"error": "x"}}
    assert put(http, failed).status_code == 200
    assert put(http, {**failed, "status": "queued", "attempt": 0}).status_code == 200
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
