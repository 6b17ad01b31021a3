"""The query validator: what clients may and may not send as filters and projections."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import InvalidQuery
from service.query import QueryValidator

validator = QueryValidator(max_depth=12, max_nodes=5000)

# Every shape the CHIME client really sends (spec §5), and a few more.
ALLOWED_FILTERS: list[dict[str, Any]] = [
    {},
    {"status": "success", "pipeline": "p"},
    {"id": {"$in": ["a", "b"]}},
    {"event": [9385707]},
    {"event": {"$in": [1, 2]}, "tags": {"$in": ["x"]}},
    {"creation": {"$gt": 1.5, "$lt": 2.5}},
    {"results.locked": True},
    {"config.parent": {"$in": ["p1"]}},
    {"status": "failure", "$expr": {"$gte": ["$attempt", "$retries"]}},
    {"$or": [{"status": "queued"}, {"priority": {"$gte": 4}}]},
    {"tags": {"$elemMatch": {"$eq": "x"}}},
    {"results": {"$elemMatch": {"dm": {"$gt": 3}}}},
    {"user": {"$not": {"$regex": "^bot"}}},
    {"user": {"$regex": "^a", "$options": "i"}},
    {"$jsonSchema": {"required": ["id"], "properties": {"id": {"bsonType": "string"}}}},
    {"$expr": {"$and": [{"$gt": [{"$size": "$event"}, 1]}, {"$eq": ["$site", "chime"]}]}},
    {"$expr": {"$eq": [{"$literal": "$notAField"}, "$site"]}},
]


@pytest.mark.parametrize("query", ALLOWED_FILTERS)
def test_real_client_shapes_are_allowed(query: dict[str, Any]) -> None:
    assert validator.filter(query) is query


@pytest.mark.parametrize(
    ("query", "offending"),
    [
        ({"$where": "this.a == 1"}, "$where"),
        ({"a": {"$where": "1"}}, "$where"),
        ({"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}, "$function"),
        ({"$expr": {"$accumulator": {}}}, "$accumulator"),
        ({"$expr": {"$gt": [{"$function": {}}, 1]}}, "$function"),
        ({"$or": [{"a": 1}, {"$where": "1"}]}, "$where"),
        ({"a": {"$in": [{"$where": "1"}]}}, "$where"),
        ({"$lookup": {"from": "other"}}, "$lookup"),
        ({"$expr": {"$lookup": {}}}, "$lookup"),
        ({"$unionWith": "x"}, "$unionWith"),
        ({"a": {"$bogus": 1}}, "$bogus"),
        ({"$text": {"$search": "x"}}, "$text"),
    ],
)
def test_code_and_unknown_operators_are_refused(query: dict[str, Any], offending: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        validator.filter(query)
    assert offending in caught.value.message
    assert caught.value.details["key"] == offending


def test_code_operators_say_why() -> None:
    with pytest.raises(InvalidQuery, match="runs code"):
        validator.filter({"$where": "sleep(100)"})


def test_operators_in_the_wrong_place_are_refused() -> None:
    with pytest.raises(InvalidQuery, match=r"\$gt is not valid at the top"):
        validator.filter({"$gt": 1})
    with pytest.raises(InvalidQuery, match=r"\$or is not valid on a field"):
        validator.filter({"a": {"$or": [{"b": 1}]}})
    with pytest.raises(InvalidQuery, match="non-empty array"):
        validator.filter({"$and": []})


def test_depth_is_bounded() -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(20):
        deep = {"$and": [deep]}
    with pytest.raises(InvalidQuery, match="SLUICE_MAX_QUERY_DEPTH") as caught:
        validator.filter(deep)
    assert caught.value.details["limit"] == "SLUICE_MAX_QUERY_DEPTH"


def test_size_is_bounded() -> None:
    small = QueryValidator(max_depth=12, max_nodes=50)
    with pytest.raises(InvalidQuery, match="SLUICE_MAX_QUERY_NODES"):
        small.filter({"id": {"$in": [str(i) for i in range(100)]}})
    assert small.filter({"id": {"$in": [str(i) for i in range(10)]}})


def test_filter_must_be_an_object() -> None:
    with pytest.raises(InvalidQuery, match="must be a JSON object"):
        validator.filter(["status", "success"])


@pytest.mark.parametrize(
    "projection",
    [
        None,
        {},
        {"_id": False},
        {"event": True, "plots": True, "products": True, "results": True},
        {"results": 0},
        {"tags": {"$slice": 2}},
        {"tags": {"$slice": [1, 2]}},
        {"results": {"$elemMatch": {"dm": {"$gt": 1}}}},
    ],
)
def test_projections_allowed(projection: dict[str, Any] | None) -> None:
    assert validator.projection(projection) == (projection or {})


@pytest.mark.parametrize(
    "projection",
    [
        {"a": {"$function": {"body": "x"}}},
        {"a": {"$concat": ["$a", "$b"]}},
        {"$where": 1},
        {"a": "yes"},
        {"a": 2},
        {"a": {"$slice": "x"}},
        {"a": {"$elemMatch": {"$where": "1"}}},
        ["a"],
    ],
)
def test_projections_refused(projection: Any) -> None:
    with pytest.raises(InvalidQuery):
        validator.projection(projection)
