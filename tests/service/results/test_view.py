"""Results views and counts: query, projection, paging, streaming and refused queries."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.service.factories import work
from tests.service.results.helpers import assert_error, count, deposit, view


def test_view_query_projection_skip_limit(http: httpx.Client, pipeline: str) -> None:
    documents = [
        work(pipeline, event=[n], tags=["even" if n % 2 == 0 else "odd"]) for n in range(10)
    ]
    deposit(http, documents)
    evens = view(http, {"pipeline": pipeline, "tags": {"$in": ["even"]}}, projection={})
    assert [d["event"] for d in evens] == [[0], [2], [4], [6], [8]]
    page = view(http, {"pipeline": pipeline}, skip=3, limit=4)
    assert [d["id"] for d in page] == [d["id"] for d in documents[3:7]]
    assert len(view(http, {"pipeline": pipeline}, limit=0)) == 10
    assert len(view(http, {"pipeline": pipeline}, limit=None)) == 10
    assert view(http, {"pipeline": pipeline, "event": [4]})[0]["id"] == documents[4]["id"]


def test_inclusion_projection_always_carries_string_id(http: httpx.Client, pipeline: str) -> None:
    sent = work(pipeline, results={"locked": True, "dm": 1.0})
    deposit(http, [sent])
    projection = {"event": True, "plots": True, "products": True, "results": True}
    (locked,) = view(http, {"pipeline": pipeline, "results.locked": True}, projection=projection)
    assert locked == {
        "id": sent["id"],
        "event": sent["event"],
        "plots": sent["plots"],
        "products": sent["products"],
        "results": sent["results"],
    }
    (excluded,) = view(http, {"pipeline": pipeline}, projection={"results": False, "id": False})
    assert "results" not in excluded and excluded["id"] == sent["id"]
    (only_id,) = view(http, {"pipeline": pipeline}, projection={"_id": True, "user": 1})
    assert only_id == {"id": sent["id"], "user": "tester"}


def test_large_answers_stream_as_one_array(http: httpx.Client, pipeline: str) -> None:
    documents = [work(pipeline, event=[n]) for n in range(1200)]
    for start in range(0, len(documents), 400):
        assert deposit(http, documents[start : start + 400]).status_code == 200
    response = http.post("/results/view", json={"query": {"pipeline": pipeline}, "limit": 0})
    assert response.status_code == 200
    events = [d["event"][0] for d in orjson.loads(response.content)]
    assert events == list(range(1200))


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ({"$where": "sleep(1000)"}, "$where"),
        ({"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}, "$function"),
        ({"status": {"$bogus": 1}}, "$bogus"),
    ],
)
def test_unsafe_queries_are_400_naming_the_key(
    http: httpx.Client, pipeline: str, query: dict[str, Any], key: str
) -> None:
    for route in ("/results/view", "/results/view/count"):
        error = assert_error(
            http.post(route, json={"query": {"pipeline": pipeline, **query}}), 400, "invalid_query"
        )
        assert key in error["message"] and error["details"]["key"] == key


def test_deep_queries_are_400(http: httpx.Client, pipeline: str) -> None:
    deep: dict[str, Any] = {"status": "success"}
    for _ in range(30):
        deep = {"$and": [deep]}
    error = assert_error(
        http.post("/results/view", json={"query": {"pipeline": pipeline, **deep}}), 400
    )
    assert "SLUICE_MAX_QUERY_DEPTH" in error["message"]


def test_queries_the_database_refuses_are_400(http: httpx.Client, pipeline: str) -> None:
    deposit(http, [work(pipeline)])
    response = http.post(
        "/results/view", json={"query": {"pipeline": pipeline, "user": {"$regex": "("}}}
    )
    assert_error(response, 400, "invalid_query")


@pytest.mark.parametrize(
    "body",
    [
        {"query": {}},
        {"query": {"pipeline": "bad name"}},
        {"query": {"pipeline": {"$in": ["a"]}}},
        {"query": {"pipeline": "p"}, "skip": -1},
        {"query": {"pipeline": "p"}, "limit": "10"},
        {"query": {"pipeline": "p"}, "projection": {"a": {"$function": {}}}},
        {"query": "status"},
    ],
)
def test_bad_view_requests_are_4xx(http: httpx.Client, body: dict[str, Any]) -> None:
    response = http.post("/results/view", json=body)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"]


def test_count_and_status(http: httpx.Client, pipeline: str) -> None:
    deposit(http, [work(pipeline), work(pipeline, status="failure"), work(pipeline)])
    assert count(http, pipeline) == 3
    assert count(http, pipeline, status="failure") == 1
    assert count(http, pipeline, **{"id": {"$in": []}}) == 0
    assert http.get("/results/status").json()[pipeline] == 3


def test_count_of_unknown_pipeline_is_zero(http: httpx.Client, pipeline: str) -> None:
    assert count(http, pipeline) == 0
    assert view(http, {"pipeline": pipeline}) == []
