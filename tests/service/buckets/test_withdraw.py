"""Withdraw: the client's filters, claim order, what a claim sets, and the claim index."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection

from schemas.work import WORK_FIELDS
from tests.service.buckets.helpers import deposit, new_work, view, withdraw


def test_withdraw_claims_and_returns_the_whole_work(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    (work_id,) = deposit(http, [new_work(pipeline, attempt=0)])
    before = time.time()
    work, lease = withdraw(http, {"pipeline": {"$in": [pipeline]}})
    assert work is not None and lease
    assert tuple(work) == WORK_FIELDS
    assert work["id"] == work_id
    assert work["status"] == "running"
    assert work["attempt"] == 1
    assert before <= work["start"] <= time.time()
    stored = works.find_one({"id": work_id})
    assert stored is not None
    assert stored["_lease"]["token"] == lease
    assert stored["_lease"]["expires"] == pytest.approx(work["start"] + 3600)
    # Nothing left: the client accepts any falsy JSON.
    assert withdraw(http, {"pipeline": {"$in": [pipeline]}}) == (None, None)


def test_priority_then_oldest_first(http: httpx.Client, pipeline: str) -> None:
    priorities = [1, 3, 5, 3, 2, 5, 4, 1]
    ids = deposit(http, [new_work(pipeline, priority=p) for p in priorities])
    expected = [i for _, _, i in sorted(zip((-p for p in priorities), range(8), ids, strict=True))]
    claimed = [withdraw(http, {"pipeline": {"$in": [pipeline]}})[0] for _ in ids]
    assert [w["id"] for w in claimed if w] == expected


def test_only_queued_work_is_withdrawn(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    ids = deposit(http, [new_work(pipeline) for _ in range(4)])
    for work_id, status in zip(ids, ("created", "running", "success", "failure"), strict=True):
        works.update_one({"id": work_id}, {"$set": {"status": status}})
    assert withdraw(http, {"pipeline": pipeline}) == (None, None)
    # A status in the filter cannot widen the claim beyond queued work.
    assert withdraw(http, {"pipeline": pipeline, "status": "success"}) == (None, None)


FILTERS: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # (matching work's fields, other work's fields, filter beyond the pipeline)
    ({"site": "chime"}, {"site": "local"}, {"site": "chime"}),
    ({"priority": 2}, {"priority": 4}, {"priority": 2}),
    ({"user": "alice"}, {"user": "bob"}, {"user": "alice"}),
    ({"event": [7, 8]}, {"event": [9]}, {"event": {"$in": [8, 10]}}),
    ({"tags": ["a", "b"]}, {"tags": ["c"]}, {"tags": {"$in": ["b"]}}),
    (
        {"config": {"parent": "run-1"}},
        {"config": {"parent": "run-2"}},
        {"config.parent": {"$in": ["run-1"]}},
    ),
]


@pytest.mark.parametrize(("wanted", "other", "query"), FILTERS)
def test_every_client_filter(
    http: httpx.Client,
    pipeline: str,
    wanted: dict[str, Any],
    other: dict[str, Any],
    query: dict[str, Any],
) -> None:
    # The other work has the higher priority unless priority is what is filtered on.
    other_priority = {"priority": 5} if "priority" not in other else {}
    deposit(http, [new_work(pipeline, **other, **other_priority)])
    (wanted_id,) = deposit(http, [new_work(pipeline, **wanted)])
    work, _ = withdraw(http, {"pipeline": {"$in": [pipeline]}, **query})
    assert work is not None and work["id"] == wanted_id
    assert withdraw(http, {"pipeline": {"$in": [pipeline]}, **query}) == (None, None)


def test_pipeline_in_spans_pipelines(http: httpx.Client, pipeline: str) -> None:
    second = f"{pipeline}-b"
    low, high = deposit(http, [new_work(pipeline, priority=2), new_work(second, priority=4)])
    query = {"pipeline": {"$in": [pipeline, second]}}
    assert [withdraw(http, query)[0]["id"] for _ in range(2)] == [high, low]  # type: ignore[index]


@pytest.mark.parametrize(
    "query",
    [
        {"$where": "sleep(1000)"},
        {"pipeline": {"$function": {"body": "x", "args": [], "lang": "js"}}},
        {"_lease.token": "x"},
        {"$expr": {"$eq": ["$_lease.token", "x"]}},
        {"$expr": {"$eq": [{"$getField": "_stop"}, True]}},
        [1, 2],
    ],
)
def test_unsafe_filters_are_refused(http: httpx.Client, query: Any) -> None:
    response = http.post("/buckets/work/withdraw", json=query)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_query"


def _claim_plan(works: Collection[dict[str, Any]], query: dict[str, Any]) -> dict[str, Any]:
    """The server's explain of withdraw's claim for `query` (the update is not run)."""
    explained: dict[str, Any] = works.database.command(
        "explain",
        {
            "findAndModify": works.name,
            "query": {"status": "queued", **query},
            "sort": {"priority": -1, "creation": 1},
            "update": {"$set": {"status": "running"}},
        },
        verbosity="queryPlanner",
    )
    return explained


def test_claim_uses_the_claim_index(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    deposit(http, [new_work(pipeline, priority=p) for p in (1, 2, 3)])
    explained = _claim_plan(works, {"pipeline": {"$in": [pipeline]}})
    stages = _stages(explained["queryPlanner"]["winningPlan"])
    scans = [stage for stage in stages if stage.get("stage") == "IXSCAN"]
    assert scans and all(scan["indexName"] == "claim" for scan in scans), stages
    assert not any(stage.get("stage") == "COLLSCAN" for stage in stages), stages
    assert view(http, {"pipeline": pipeline, "status": "running"}) == []


def test_claim_plan_of_the_worker_filter(
    http: httpx.Client, pipeline: str, works: Collection[dict[str, Any]]
) -> None:
    """`workflow run` and `sluice worker` always add `site`, a field the claim index
    does not hold. SecantusDB only plans an index whose keys cover every filtered field
    (without one it read every queued work), so the claim_site index holds it too;
    MongoDB may scan either."""
    deposit(http, [new_work(pipeline, priority=p) for p in (1, 2, 3)])
    explained = _claim_plan(works, {"pipeline": {"$in": [pipeline]}, "site": "local"})
    stages = _stages(explained["queryPlanner"]["winningPlan"])
    scans = [stage for stage in stages if stage.get("stage") == "IXSCAN"]
    assert scans, stages
    assert all(scan["indexName"] in ("claim", "claim_site") for scan in scans), stages
    if explained.get("serverInfo", {}).get("host") == "secantus":
        assert {scan["indexName"] for scan in scans} == {"claim_site"}, stages
    assert not any(stage.get("stage") == "COLLSCAN" for stage in stages), stages


def _stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stage of a winning plan, from the top down."""
    found = [plan]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            found += _stages(plan[key])
    for child in plan.get("inputStages", []):
        found += _stages(child)
    return found
