"""`POST /buckets/work/reports`: finished works reported together, each with its lease,
each judged as `PUT /buckets/work` with that lease judges it, answered one by one."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo.collection import Collection

from schemas.buckets import BIND_HEADER
from tests.service.buckets.helpers import Work, claim, deposit, new_work, put, view


def reports(http: httpx.Client, *pairs: tuple[Work, str]) -> httpx.Response:
    body = {"reports": [{"work": work, "lease": lease} for work, lease in pairs]}
    return http.post("/buckets/work/reports", json=body)


def test_every_held_report_is_recorded(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    claimed = [claim(http, pipeline, headers={BIND_HEADER: "1"}) for _ in range(3)]
    done = [({**w, "status": "success", "results": {"n": i}}, lease)
            for i, (w, lease) in enumerate(claimed)]  # fmt: skip
    failed = ({**done[2][0], "status": "failure"}, done[2][1])
    response = reports(http, done[0], done[1], failed)
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": w["id"], "recorded": True, "error": None} for w, _ in claimed]
    for work, _ in (done[0], done[1], failed):
        stored = works.find_one({"id": work["id"]})
        assert stored is not None and stored["status"] == work["status"]
        assert stored["results"] == work["results"] and "_lease" not in stored
        assert stored["_bound"] is True, "server fields are carried as PUT carries them"
    # A blind retry of the same reports is accepted, as PUT accepts it.
    again = reports(http, done[0], done[1], failed).json()
    assert [a["recorded"] for a in again] == [True, True, True]


def test_a_lost_lease_fails_only_its_own_report(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    good, good_lease = claim(http, pipeline)
    stale, stale_lease = claim(http, pipeline)
    other, other_lease = claim(http, pipeline)
    # The stale run gave its work back; another run holds it now.
    assert http.post("/buckets/work/release", json={"id": stale["id"], "lease": stale_lease})
    rerun = http.post("/buckets/work/withdraw", json={"pipeline": pipeline}).json()
    assert rerun["id"] == stale["id"]
    response = reports(
        http,
        ({**good, "status": "success"}, good_lease),
        ({**stale, "status": "success"}, stale_lease),
        ({**other, "status": "failure"}, other_lease),
        ({**new_work(pipeline), "id": "never-deposited", "status": "success"}, "x"),
    )
    assert response.status_code == 200, response.text
    first, lost, third, unknown = response.json()
    assert first == {"id": good["id"], "recorded": True, "error": None}
    assert third == {"id": other["id"], "recorded": True, "error": None}
    assert lost["recorded"] is False and lost["error"]["code"] == "conflict"
    assert lost["error"]["details"] == {"id": stale["id"]}
    assert unknown["recorded"] is False and unknown["error"]["code"] == "not_found"
    stored = works.find_one({"id": stale["id"]})
    assert stored is not None and stored["status"] == "running"
    assert stored["_lease"]["token"] != stale_lease, "the current run keeps its lease"
    assert [w["status"] for w in view(http, {"id": good["id"]})] == ["success"]
    # The same refusal the single PUT answers for that report alone.
    assert put(http, {**stale, "status": "success"}, lease=stale_lease).status_code == 409


def test_bad_reports_change_nothing(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    work, lease = claim(http, pipeline)
    done = {**work, "status": "success"}
    bodies: list[Any] = [
        {"reports": []},
        {"reports": [{"work": done}]},
        {"reports": [{"work": done, "lease": lease, "extra": 1}]},
        [{"work": done, "lease": lease}],
        # One invalid work among good ones: none is recorded.
        {"reports": [{"work": done, "lease": lease},
                     {"work": {**done, "id": "x", "priority": 9}, "lease": lease}]},
        {"reports": [{"work": {**done, "id": None}, "lease": lease}]},
        {"reports": [{"work": done, "lease": lease}, {"work": done, "lease": lease}]},
    ]  # fmt: skip
    for body in bodies:
        response = http.post("/buckets/work/reports", json=body)
        assert response.status_code == 422, (body, response.text)
        assert "error" in response.json()
    many = {"reports": [{"work": done, "lease": lease}] * 10**4}
    response = http.post("/buckets/work/reports", json=many)
    assert response.status_code == 413 and "SLUICE_MAX_BATCH" in response.text
    stored = works.find_one({"id": work["id"]})
    assert stored is not None and stored["status"] == "running"
    assert stored["_lease"]["token"] == lease


def test_a_report_back_to_queued_is_claimable_again(http: httpx.Client, pipeline: str) -> None:
    work, lease = claim(http, pipeline)
    deposit(http, [new_work(pipeline, priority=1)])
    requeued = {**work, "status": "queued", "priority": 5}
    assert reports(http, (requeued, lease)).json()[0]["recorded"] is True
    again = http.post("/buckets/work/withdraw", json={"pipeline": pipeline}).json()
    assert again["id"] == work["id"]
