"""The rule for reports without a lease token (the CHIME client), `service.buckets.lease`.

Runs lose their work here through the audit routes on a Sluice without reaper
(`quiet`), so nothing races the test; the reaper itself is tested in test_background.
Auth is off here (everyone is an admin): scopes are tested in test_attacks.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from pymongo.collection import Collection

from tests.service.buckets.helpers import claim, deposit, expire, new_work, put, view, withdraw


def _late_entries(http: httpx.Client, work_id: str) -> list[dict[str, Any]]:
    response = http.get("/admin/audit", params={"action": "buckets.late_report"})
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["details"]["id"] == work_id]


def _rewithdrawn(
    quiet: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run whose lease lapsed, its work requeued and withdrawn by a second run."""
    first, _ = claim(quiet, pipeline, retries=3)
    expire(quiet, works, first["id"])
    assert quiet.get("/buckets/audit/failed").json() >= 1
    second, _ = withdraw(quiet, {"pipeline": pipeline})
    assert second is not None and second["id"] == first["id"] and second["attempt"] == 2
    return first, second


def test_a_late_report_answers_false_changes_nothing_and_is_audited(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    first, second = _rewithdrawn(quiet, pipeline, quiet_works)
    late = {**first, "status": "success", "results": {"from": "first"}}

    response = put(quiet, late)

    assert response.status_code == 200 and response.json() is False
    assert view(quiet, {"id": first["id"]}) == [second]
    [entry] = _late_entries(quiet, first["id"])
    assert entry["details"] == {"id": first["id"], "attempt": 1, "current": 2}
    # The current run reports as usual; the late one stays refused, as a retry would.
    assert put(quiet, {**second, "status": "success", "results": {"from": "second"}}).json()
    assert put(quiet, late).json() is False
    assert view(quiet, {"id": first["id"]})[0]["results"] == {"from": "second"}
    # With the lease token of a run that lost its work: 409, as Sluice's worker expects.
    deposit(quiet, [new_work(pipeline, id=first["id"] + "-b")])
    work, lease = withdraw(quiet, {"id": first["id"] + "-b"})
    assert work is not None and lease is not None
    assert put(quiet, {**work, "status": "success"}, lease=lease).json() is True
    assert put(quiet, {**work, "results": {"x": 1}}, lease=lease).status_code == 409


def test_a_report_lowering_the_attempt_is_late(http: httpx.Client, pipeline: str) -> None:
    work, _ = claim(http, pipeline)
    response = put(http, {**work, "attempt": 0, "status": "success"})
    assert response.json() is False
    assert view(http, {"id": work["id"]})[0]["status"] == "running"


def test_the_run_that_lost_its_lease_may_still_report_until_withdrawn_again(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    work, _ = claim(quiet, pipeline, retries=1)
    expire(quiet, quiet_works, work["id"])
    (failed,) = view(quiet, {"id": work["id"]})
    assert failed["status"] == "failure" and "expired" in failed["results"]["error"]

    done = {**work, "status": "success", "stop": time.time(), "results": {"ok": 1}}
    assert put(quiet, done).json() is True

    (stored,) = view(quiet, {"id": work["id"]})
    assert (stored["status"], stored["results"]) == ("success", {"ok": 1})


def test_the_holder_of_the_run_edits_any_field(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    work, _ = claim(quiet, pipeline, retries=3)
    now = time.time()
    edits = {
        "attempt": 3,
        "status": "failure",
        "start": now - 7200,
        "stop": now,
        "creation": now - 60 * 86400,
        "retries": 4,
        "priority": 5,
        "config": {**work["config"], "archive": {**work["config"]["archive"], "results": False}},
    }
    assert put(quiet, {**work, **edits}).json() is True
    (stored,) = view(quiet, {"id": work["id"]})
    assert {key: stored[key] for key in edits} == edits
    raw = quiet_works.find_one({"id": work["id"]})
    assert raw is not None and "_lease" not in raw  # no longer running: the lease ended
    # And the next edit is judged by the attempt now stored.
    assert put(quiet, {**work, **edits, "attempt": 2}).json() is False


def test_moving_start_back_makes_audit_expire_the_run(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    work, _ = claim(quiet, pipeline, retries=1)
    assert put(quiet, {**work, "start": time.time() - 7200}).json() is True
    stored = quiet_works.find_one({"id": work["id"]})
    assert stored is not None and stored["_lease"]["expires"] < time.time()
    assert quiet.get("/buckets/audit/expired").json() >= 1
    assert view(quiet, {"id": work["id"]})[0]["status"] == "failure"


def test_a_batch_with_a_late_report_applies_the_others_and_answers_false(
    quiet: httpx.Client, pipeline: str, quiet_works: Collection[dict[str, Any]]
) -> None:
    first, _ = _rewithdrawn(quiet, pipeline, quiet_works)
    other, _ = claim(quiet, pipeline + "-o")

    response = put(
        quiet,
        {**first, "status": "success"},
        {**other, "status": "success", "results": {"ok": True}},
    )

    assert response.status_code == 200 and response.json() is False
    assert view(quiet, {"id": first["id"]})[0]["status"] == "running"
    assert view(quiet, {"id": other["id"]})[0]["results"] == {"ok": True}
    assert len(_late_entries(quiet, first["id"])) == 1
    # Any other refusal still changes nothing of the batch.
    response = put(quiet, {**other, "priority": 1}, {**first, "id": "no-such-work"})
    assert response.status_code == 404
    assert view(quiet, {"id": other["id"]})[0]["priority"] == 3
