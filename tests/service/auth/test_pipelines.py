"""Tokens limited to pipeline patterns touch only those pipelines (403 otherwise,
nothing written), and only an admin clears a Results lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.auth.helpers import create_token, token_header
from tests.service.buckets.helpers import new_work
from tests.service.factories import work


@pytest.fixture
def frb() -> str:
    """A pipeline the restricted token may touch."""
    return f"frb-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def other() -> str:
    """A pipeline it may not touch."""
    return f"other-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def limited(secure: SluiceProcess) -> Iterator[httpx.Client]:
    """A client whose token holds every scope but admin, for pipelines `frb-*` only."""
    secret = create_token(secure.url, ["read", "deposit", "work"], ["frb-*"])
    with httpx.Client(base_url=secure.url, headers=token_header(secret), timeout=30) as client:
        yield client


def forbidden(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_results_within_patterns_only(
    limited: httpx.Client, admin: httpx.Client, frb: str, other: str
) -> None:
    assert limited.post("/results/results", json=[work(frb)]).status_code == 200
    mixed = limited.post("/results/results", json=[work(frb), work(other)])
    assert forbidden(mixed) and mixed.json()["error"]["details"]["pipelines"] == [other]
    # All or nothing: the allowed document of the refused batch was not written either.
    assert limited.post("/results/view/count", json={"query": {"pipeline": frb}}).json() == 1
    assert admin.post("/results/results", json=[work(other)]).status_code == 200
    assert forbidden(limited.post("/results/view", json={"query": {"pipeline": other}}))
    assert forbidden(limited.post("/results/view/count", json={"query": {"pipeline": other}}))
    stored = admin.post("/results/view", json={"query": {"pipeline": other}}).json()
    stored[0]["tags"] = ["changed"]
    assert forbidden(limited.put("/results/results", json=stored))
    status = limited.get("/results/status").json()
    assert frb in status and other not in status


def test_buckets_within_patterns_only(
    limited: httpx.Client, admin: httpx.Client, frb: str, other: str
) -> None:
    assert forbidden(limited.post("/buckets/work", json=[new_work(other)]))
    assert limited.post("/buckets/work", json=[new_work(frb)]).status_code == 200
    assert admin.post("/buckets/work", json=[new_work(other)]).status_code == 200
    # A restricted withdraw or view must name its pipelines, all of them allowed.
    assert forbidden(limited.post("/buckets/work/withdraw", json={}))
    assert forbidden(limited.post("/buckets/work/withdraw", json={"pipeline": {"$regex": "."}}))
    both = {"pipeline": {"$in": [frb, other]}}
    assert forbidden(limited.post("/buckets/work/withdraw", json=both))
    assert forbidden(limited.post("/buckets/view", json={"query": {}}))
    claimed = limited.post("/buckets/work/withdraw", json={"pipeline": {"$in": [frb]}})
    assert claimed.status_code == 200 and claimed.json()["pipeline"] == frb
    views = limited.post("/buckets/view", json={"query": {"pipeline": frb}}).json()
    assert [w["pipeline"] for w in views] == [frb]
    assert forbidden(limited.get(f"/buckets/status/details/{other}"))
    assert limited.get(f"/buckets/status/details/{frb}").status_code == 200
    assert other not in limited.get("/buckets/status/pipelines").json()
    # A report may not move a foreign work into an allowed pipeline.
    foreign = admin.post("/buckets/view", json={"query": {"pipeline": other}}).json()[0]
    assert forbidden(limited.put("/buckets/work", json=[{**foreign, "pipeline": frb}]))


def test_restricted_admin_deletes_only_its_pipelines(
    secure: SluiceProcess, admin: httpx.Client, frb: str, other: str
) -> None:
    secret = create_token(secure.url, ["admin"], ["frb-*"])
    headers = token_header(secret)
    foreign = work(other)
    assert admin.post("/results/results", json=[foreign]).status_code == 200
    refused = httpx.delete(
        f"{secure.url}/results/results", params={other: foreign["id"]}, headers=headers
    )
    assert forbidden(refused)
    ids = admin.post("/buckets/work?return_ids=True", json=[new_work(other)]).json()
    assert forbidden(httpx.delete(f"{secure.url}/buckets/work", params={"ids": ids},
                                  headers=headers))  # fmt: skip
    assert len(admin.post("/buckets/view", json={"query": {"id": ids[0]}}).json()) == 1


def test_clearing_a_lock_needs_admin(limited: httpx.Client, admin: httpx.Client, frb: str) -> None:
    document = work(frb)
    document["results"] = {"snr": 3.0, "locked": True}
    assert limited.post("/results/results", json=[document]).status_code == 200
    stored = limited.post("/results/view", json={"query": {"pipeline": frb}}).json()
    stored[0]["results"]["locked"] = False
    refused = limited.put("/results/results", json=stored)
    assert forbidden(refused) and "lock" in refused.json()["error"]["message"]
    still = limited.post("/results/view", json={"query": {"pipeline": frb}}).json()
    assert still[0]["results"]["locked"] is True
    # Re-sending the locked document unchanged stays allowed.
    assert limited.put("/results/results", json=still).status_code == 200
    assert admin.put("/results/results", json=stored).status_code == 200
    entries = admin.get("/admin/audit", params={"action": "results.unlock"}).json()
    assert entries[0]["details"] == {"ids": [document["id"]]}
    assert entries[0]["target"] == f"results/{frb}"


def test_batched_reports_of_a_foreign_pipeline_change_nothing(
    limited: httpx.Client, admin: httpx.Client, frb: str, other: str
) -> None:
    assert limited.post("/buckets/work", json=[new_work(frb)]).status_code == 200
    assert admin.post("/buckets/work", json=[new_work(other)]).status_code == 200
    mine = limited.post("/buckets/work/withdraw", json={"pipeline": frb})
    theirs = admin.post("/buckets/work/withdraw", json={"pipeline": other})
    reports: list[dict[str, Any]] = [
        {"work": {**mine.json(), "status": "success"}, "lease": mine.headers["x-sluice-lease"]},
        {"work": {**theirs.json(), "status": "success"}, "lease": theirs.headers["x-sluice-lease"]},
    ]
    assert forbidden(limited.post("/buckets/work/reports", json={"reports": reports}))
    # Nor may a report move a foreign work into an allowed pipeline.
    disguised = [{**reports[1], "work": {**reports[1]["work"], "pipeline": frb}}]
    assert forbidden(limited.post("/buckets/work/reports", json={"reports": disguised}))
    for pipeline in (frb, other):
        stored = admin.post("/buckets/view", json={"query": {"pipeline": pipeline}}).json()
        assert [w["status"] for w in stored] == ["running"], "nothing was recorded"
