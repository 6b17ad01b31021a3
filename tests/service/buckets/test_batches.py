"""Lease routes for workers holding several works: `POST /buckets/work/withdraw/batch`
and `POST /buckets/work/heartbeats`."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from tests.service.buckets.helpers import claim, deposit, new_work, put, view


def batch(http: httpx.Client, query: dict[str, Any], limit: int) -> httpx.Response:
    return http.post("/buckets/work/withdraw/batch", json={"query": query, "limit": limit})


def test_a_batch_is_claimed_best_first_each_with_its_own_lease(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    ids = deposit(http, [new_work(pipeline, priority=p) for p in (2, 5, 3, 5)])
    response = batch(http, {"pipeline": pipeline}, 3)
    assert response.status_code == 200, response.text
    claimed = response.json()
    # Highest priority first, then oldest: the second and the fourth (5), the third (3).
    assert [c["work"]["id"] for c in claimed] == [ids[1], ids[3], ids[2]]
    leases = [c["lease"] for c in claimed]
    assert len(set(leases)) == 3
    for entry in claimed:
        assert entry["work"]["status"] == "running" and entry["work"]["attempt"] == 1
        assert "_lease" not in entry["work"]
        stored = works.find_one({"id": entry["work"]["id"]})
        assert stored is not None and stored["_lease"]["token"] == entry["lease"]
        assert stored["_bound"] is True, "only the lease may report the run"
    done = {**claimed[0]["work"], "status": "success"}
    assert put(http, done, lease=claimed[0]["lease"]).is_success
    [rest] = batch(http, {"pipeline": pipeline}, 5).json()
    assert rest["work"]["id"] == ids[0]
    assert batch(http, {"pipeline": pipeline}, 5).json() == []


@pytest.mark.parametrize("shape", ["field", "operator"])
def test_a_large_batch_is_claimed_in_order_in_groups(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]], shape: str
) -> None:
    # More works than one claim update takes (claims.CLAIM_GROUP), by either path: the
    # candidate reads (a field filter) or the sorted read (a top-level operator).
    now = time.time()
    ids = deposit(
        http, [new_work(pipeline, priority=1 + i % 3, creation=now + i) for i in range(130)]
    )
    query = {"pipeline": pipeline} if shape == "field" else {"$or": [{"pipeline": pipeline}]}
    claimed = batch(http, query, 120).json()
    expected = sorted(range(130), key=lambda i: (-(1 + i % 3), i))[:120]
    assert [c["work"]["id"] for c in claimed] == [ids[i] for i in expected]
    assert len({c["lease"] for c in claimed}) == 120
    for entry in claimed:
        stored = works.find_one({"id": entry["work"]["id"]})
        assert stored is not None and stored["_lease"]["token"] == entry["lease"]
    assert len(batch(http, query, 120).json()) == 10


def test_a_bad_batch_withdraw_is_refused(http: httpx.Client, pipeline: str) -> None:
    deposit(http, [new_work(pipeline)])
    for body in (
        {"query": {"pipeline": pipeline}},
        {"query": {"pipeline": pipeline}, "limit": 0},
        {"query": {"pipeline": pipeline}, "limit": "2"},
        {"query": [], "limit": 1},
        {"query": {"pipeline": pipeline}, "limit": 1, "extra": True},
    ):
        response = http.post("/buckets/work/withdraw/batch", json=body)
        assert response.status_code == 422, (body, response.text)
    assert batch(http, {"pipeline": {"$where": "1"}}, 1).status_code == 400
    too_many = batch(http, {"pipeline": pipeline}, 10**6)
    assert too_many.status_code == 413 and "SLUICE_MAX_BATCH" in too_many.text
    assert view(http, {"pipeline": pipeline})[0]["status"] == "queued", "nothing was claimed"


def test_heartbeats_renew_each_held_lease_and_name_the_lost(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    first, first_lease = claim(http, pipeline, timeout=600)
    second, second_lease = claim(http, pipeline, timeout=60)
    gone, gone_lease = claim(http, pipeline)
    assert put(http, {**gone, "status": "success"}, lease=gone_lease).status_code == 200
    works.update_one({"id": second["id"]}, {"$set": {"_stop": True}})
    leases = [
        {"id": first["id"], "lease": first_lease},
        {"id": gone["id"], "lease": gone_lease},
        {"id": second["id"], "lease": second_lease},
        {"id": first["id"], "lease": second_lease},
    ]
    response = http.post("/buckets/work/heartbeats", json={"leases": leases})
    assert response.status_code == 200, response.text
    renewed, finished, stopping, mismatched = response.json()
    assert renewed["id"] == first["id"] and renewed["stop"] is False
    assert renewed["expires"] == pytest.approx(time.time() + 600, abs=5)
    assert stopping["stop"] is True
    assert stopping["expires"] == pytest.approx(time.time() + 60, abs=5)
    assert finished is None and mismatched is None
    stored = works.find_one({"id": first["id"]})
    assert stored is not None and stored["_lease"] == {
        "token": first_lease,
        "expires": renewed["expires"],
    }


def test_bad_heartbeats_are_refused(http: httpx.Client, pipeline: str) -> None:
    work, lease = claim(http, pipeline)
    bodies: list[Any] = [
        {"leases": []},
        {"leases": [{"id": work["id"]}]},
        [{"id": work["id"], "lease": lease}],
    ]
    for body in bodies:
        response = http.post("/buckets/work/heartbeats", json=body)
        assert response.status_code == 422, (body, response.text)
    many = {"leases": [{"id": work["id"], "lease": lease}] * 10**4}
    response = http.post("/buckets/work/heartbeats", json=many)
    assert response.status_code == 413, response.text
