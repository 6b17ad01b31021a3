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


HIDDEN = frozenset({"_lease", "_stop", "_closed"})


@pytest.mark.parametrize(
    "query",
    [
        {"_lease": {"$exists": True}},
        {"_stop.x": 1},
        {"$or": [{"status": "running"}, {"_closed": True}]},
        {"$expr": {"$gt": ["$_lease.expires", 0]}},
        {"$expr": {"$eq": [{"$getField": {"field": "_closed", "input": "$$CURRENT"}}, True]}},
        {"$expr": {"$eq": [{"$getField": "_stop"}, True]}},
        {"$expr": {"$eq": [{"$getField": {"field": {"$literal": "_stop"}}}, True]}},
        {"$expr": {"$eq": [{"$getField": {"field": {"$toLower": "_STOP"}}}, True]}},
        {"$expr": {"$in": ["x", {"$objectToArray": "$$ROOT"}]}},
        {"$expr": {"$gt": [{"$size": {"$ifNull": ["$$ROOT", []]}}, 1]}},
        {"$jsonSchema": {"properties": {"_lease": {"bsonType": "object"}}}},
        {"$jsonSchema": {"required": ["_lease"]}},
        {"$jsonSchema": {"anyOf": [{"required": ["_stop"]}]}},
        {"$jsonSchema": {"patternProperties": {"^_": {"properties": {"token": {}}}}}},
        {"$jsonSchema": {"additionalProperties": {"properties": {"token": {"pattern": "^a"}}}}},
        {"$jsonSchema": {"dependencies": {"_lease": ["id"]}}},
        {"$jsonSchema": {"maxProperties": 20}},
        {"results": {"$elemMatch": {"_lease": 1}}},
    ],
)
def test_server_fields_cannot_be_reached(query: dict[str, Any]) -> None:
    with pytest.raises(InvalidQuery):
        validator.filter(query, hidden=HIDDEN)


def test_public_fields_can_be_queried_next_to_hidden_ones() -> None:
    query = {
        "status": "failure",
        "$expr": {"$gte": ["$attempt", "$retries"]},
        "tags": ["_x"],
        "$jsonSchema": {"properties": {"results": {"maxProperties": 3}}, "required": ["id"]},
    }
    assert validator.filter(query, hidden=HIDDEN) is query
    with pytest.raises(InvalidQuery):
        validator.projection({"_lease.token": 1}, hidden=HIDDEN)
    with pytest.raises(InvalidQuery):
        validator.projection({"a": {"$elemMatch": {"_stop": True}}}, hidden=HIDDEN)


@pytest.mark.parametrize(
    "query",
    [
        {"a": {"$regex": "(a+)+$"}},
        {"a": {"$regex": "(x|x)*y"}},
        {"a": {"$regex": ".*.*.*x"}},
        {"a": {"$regex": "a?" * 30 + "a" * 30}},
        {"a": {"$regex": "(a)\\1"}},
        {"a": {"$regex": "(?=a)b"}},
        {"a": {"$regex": "x" * 300}},
        {"a": {"$regex": "^a", "$options": "x"}},
        {"a": {"$not": {"$regex": "(a*)*"}}},
        {"a": {"$all": [{"$elemMatch": {"b": {"$regex": "(a+)+"}}}]}},
        {"a": {"$in": [{"$regex": "(a+)+"}]}},
        {"$jsonSchema": {"properties": {"a": {"pattern": "(a+)+$"}}}},
        {"$jsonSchema": {"items": {"pattern": "(a|aa)*$"}}},
        {"$expr": {"$regexMatch": {"input": "$a", "regex": "(a+)+$"}}},
        {"$expr": {"$regexMatch": {"input": "$a", "regex": "$pattern"}}},
    ],
)
def test_costly_patterns_are_refused_wherever_accepted(query: dict[str, Any]) -> None:
    with pytest.raises(InvalidQuery):
        validator.filter(query)


@pytest.mark.parametrize(
    "operator",
    [
        {"$reduce": {"input": "$a", "initialValue": "x", "in": {"$concat": ["$$value", "x"]}}},
        {"$pow": [10, 100000]},
        {"$concat": ["$a", "$a"]},
        {"$map": {"input": "$a", "in": {"$map": {"input": "$a", "in": 1}}}},
        {"$setUnion": ["$a", "$b"]},
        {"$replaceAll": {"input": "$a", "find": "", "replacement": "$a"}},
    ],
)
def test_growth_operators_are_refused(operator: dict[str, Any]) -> None:
    with pytest.raises(InvalidQuery, match="grow faster"):
        validator.filter({"$expr": {"$eq": [operator, 1]}})


@pytest.mark.parametrize(
    "pattern",
    ["^bot", "frb-2024", "^[a-z]+@example\\.org$", "\\d{4}-\\d{2}-\\d{2}", "^.*x", "(foo|bar)$"],
)
def test_ordinary_patterns_are_allowed(pattern: str) -> None:
    query = {"a": {"$regex": pattern, "$options": "i"}}
    assert validator.filter(query) is query
    schema = {"$jsonSchema": {"properties": {"a": {"pattern": pattern}}}}
    assert validator.filter(schema) is schema
