"""The GraphQL endpoint against hostile or mistaken input: every failure is a GraphQL
error (or a 4xx before GraphQL), never a 5xx, and nothing is written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.service.aqueduct.helpers import (
    EXPERIMENT_FIELDS,
    GRAPHQL,
    create,
    error_codes,
    graphql,
    stored,
)

UPDATE = (
    "mutation ($uuid: UUID!, $title: String, $description: String) { updateExperiment("
    "uuid: $uuid, experimentUpdateInput: {title: $title, description: $description}) "
    f"{{ {EXPERIMENT_FIELDS} }} }}"
)
FIND = (
    "query ($limit: Int!, $offset: Int!, $title: String = null, $startDate: DateTime = null, "
    "$endDate: DateTime = null, $tags: [String!] = null) { experiments(filters: {title: $title, "
    "startDate: $startDate, endDate: $endDate, tags: $tags}, limit: $limit, offset: $offset) "
    f"{{ experimentsData {{ {EXPERIMENT_FIELDS} }} totalExperimentsCount }} }}"
)
BY_ID = (
    "query ($type: IDType!, $value: String!) { experiment(experimentIdentifier: "
    f"{{value: $value, type: $type}}) {{ {EXPERIMENT_FIELDS} }} }}"
)
CREATE = (
    "mutation ($title: String!, $description: String!, $tags: [String!]!) { createExperiment("
    "createExperimentInput: {title: $title, description: $description, tags: $tags}) "
    "{ uuid } }"
)


def _deep(levels: int) -> str:
    return "{ " + " { ".join(["experiments"] * levels) + " }" * levels


def _exponential(levels: int) -> str:
    """Fragments that each spread the previous one twice: 2**levels fields expanded."""
    fragments = ["fragment F0 on ExtensionInfo { name }"]
    for n in range(1, levels + 1):
        fragments.append(f"fragment F{n} on ExtensionInfo {{ ...F{n - 1} ...F{n - 1} }}")
    return f"{{ extensions {{ ...F{levels} }} }} " + " ".join(fragments)


@pytest.mark.parametrize(
    ("query", "variables", "says"),
    [
        ("{ experiments(offset: 0, limit: 1) { nope } }", None, "Cannot query field 'nope'"),
        ("mutation { dropEverything }", None, "Cannot query field 'dropEverything'"),
        (_deep(7), None, "SLUICE_AQUEDUCT_MAX_DEPTH"),
        ("{ " + " ".join(f"e{i}: extensions {{ name }}" for i in range(250)) + " }", None,
         "SLUICE_AQUEDUCT_MAX_FIELDS"),
        (_exponential(40), None, "SLUICE_AQUEDUCT_MAX_FIELDS"),
        ("fragment A on Query { ...B } fragment B on Query { ...A } { ...A }", None,
         "SLUICE_AQUEDUCT_MAX_FIELDS"),
        ("{ experiments(", None, "Syntax Error"),
        ("", None, "Syntax Error"),
        (CREATE, {"title": "t", "description": "d"}, "$tags"),
        (CREATE, {"title": None, "description": "d", "tags": []}, "$title"),
        (UPDATE, {"uuid": "not-a-uuid", "title": "x"}, "is not a UUID"),
        (UPDATE, {"uuid": "../../etc", "title": "x"}, "is not a UUID"),
        (FIND, {"limit": 1, "offset": 0, "startDate": "yesterday"}, "is not an ISO 8601 time"),
        (FIND, {"limit": 1, "offset": 0, "endDate": "9999-12-31T23:59:59-23:00"},
         "is not an ISO 8601 time"),
        (FIND, {"limit": 2**40, "offset": 0}, "$limit"),
        (BY_ID, {"type": "NAME", "value": "x"}, "$type"),
        ("{ __schema { types { name } } }", None, "introspection"),
        ("query A { extensions { name } } query B { extensions { name } }", None,
         "operation name"),
    ],
)  # fmt: skip
def test_invalid_documents_are_graphql_errors(
    lab_http: httpx.Client, query: str, variables: dict[str, object] | None, says: str
) -> None:
    before = stored(lab_http)
    answer = graphql(lab_http, query, variables)
    assert answer.get("data") is None, answer
    assert says.lower() in " ".join(e["message"] for e in answer["errors"]).lower(), answer
    assert stored(lab_http) == before


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"title": "t" * 257, "description": "d", "tags": []}, "validation_failed"),
        ({"title": "t", "description": "d" * 5001, "tags": []}, "validation_failed"),
        ({"title": "t", "description": "d", "tags": ["no spaces"]}, "bad_request"),
        ({"title": "t", "description": "d", "tags": ["x" * 65]}, "bad_request"),
        ({"title": "t", "description": "d", "tags": ["trailing\n"]}, "bad_request"),
        ({"title": "t", "description": "d", "tags": [f"t{i}" for i in range(65)]}, "conflict"),
    ],
)
def test_a_refused_creation_stores_nothing(
    lab_http: httpx.Client, variables: dict[str, object], code: str
) -> None:
    before = stored(lab_http)
    answer = graphql(lab_http, CREATE, variables)
    assert answer["data"] is None and error_codes(answer) == [code], answer
    assert stored(lab_http) == before


def test_requests_that_are_not_graphql_are_4xx(lab_http: httpx.Client) -> None:
    before = stored(lab_http)
    assert lab_http.post(GRAPHQL, content=b"{not json").status_code == 400
    assert lab_http.post(GRAPHQL, json={"query": 5}).status_code == 422
    assert (
        lab_http.post(GRAPHQL, json={"query": "{ tags { totalTagsCount } }", "x": 1}).status_code
        == 422
    )
    huge = {"query": "{ tags { totalTagsCount } }", "variables": {"v": "x" * 300_000}}
    assert lab_http.post(GRAPHQL, json=huge).status_code == 413
    assert lab_http.get(GRAPHQL).status_code == 405
    assert stored(lab_http) == before


def test_unknown_experiments_are_errors_never_null(lab_http: httpx.Client) -> None:
    for variables in (
        {"type": "UUID", "value": str(uuid.uuid4())},
        {"type": "EID", "value": "19990101-1"},
        {"type": "EID", "value": str(uuid.uuid4())},  # a UUID is not an EID
        {"type": "UUID", "value": "20240101-1"},
    ):
        answer = graphql(lab_http, BY_ID, variables)
        assert answer["data"] == {"experiment": None}
        assert error_codes(answer)[0] in ("not_found", "bad_request"), answer
    answer = graphql(lab_http, UPDATE, {"uuid": str(uuid.uuid4()), "title": "x"})
    assert error_codes(answer) == ["not_found"]


def test_semantics_the_client_relies_on(lab_http: httpx.Client) -> None:
    marker = uuid.uuid4().hex[:8]
    shared, other = f"Shared-{marker}", f"other-{marker}"
    older = create(lab_http, f"{marker} older", [shared])
    newer = create(lab_http, f"{marker} newer", [other])
    # Tags keep their first spelling, everywhere.
    assert older["createdAt"].endswith("+00:00") and older["tags"] == [shared]
    assert older["files"] == [] and older["description"] == "d"

    # null and "" leave a field unchanged
    same = graphql(lab_http, UPDATE, {"uuid": older["uuid"], "title": "", "description": None})
    assert same["data"]["updateExperiment"]["title"] == f"{marker} older"
    changed = graphql(lab_http, UPDATE, {"uuid": older["uuid"], "title": None, "description": "x"})
    assert changed["data"]["updateExperiment"]["title"] == f"{marker} older"
    assert changed["data"]["updateExperiment"]["description"] == "x"

    # search on title or EID, any of the tags, newest first, total before paging
    page = graphql(lab_http, FIND, {"limit": 1, "offset": 0, "title": marker.upper()})
    found = page["data"]["experiments"]
    assert found["totalExperimentsCount"] == 2
    assert [e["uuid"] for e in found["experimentsData"]] == [newer["uuid"]]
    page = graphql(lab_http, FIND, {"limit": 5, "offset": 0, "title": older["eid"]})
    assert older["uuid"] in [e["uuid"] for e in page["data"]["experiments"]["experimentsData"]]
    page = graphql(
        lab_http, FIND, {"limit": 5, "offset": 0, "title": marker, "tags": [shared.upper(), other]}
    )
    assert page["data"]["experiments"]["totalExperimentsCount"] == 2
    page = graphql(lab_http, FIND, {"limit": 5, "offset": 0, "title": marker, "tags": []})
    assert page["data"]["experiments"]["totalExperimentsCount"] == 0
    later = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1).isoformat()
    page = graphql(lab_http, FIND, {"limit": 5, "offset": 0, "title": marker, "startDate": later})
    assert page["data"]["experiments"]["totalExperimentsCount"] == 0
    naive = datetime.now(UTC).replace(tzinfo=None, year=2000).isoformat()
    page = graphql(lab_http, FIND, {"limit": 5, "offset": 0, "title": marker, "startDate": naive})
    assert page["data"]["experiments"]["totalExperimentsCount"] == 2
    answer = graphql(lab_http, FIND, {"limit": 501, "offset": 0})
    assert error_codes(answer) == ["bad_request"]

    # the same records through the native routes
    native = lab_http.get(f"/experiments/{older['eid']}").json()
    assert (native["uuid"], native["description"], native["tags"]) == (
        older["uuid"], "x", [shared],
    )  # fmt: skip

    tags = graphql(lab_http, "{ tags(limit: 500) { tagsData totalTagsCount } }")["data"]["tags"]
    assert {shared, other} <= set(tags["tagsData"])
    assert tags["tagsData"] == sorted(tags["tagsData"])


def test_operation_names_are_not_dispatched_on(lab_http: httpx.Client) -> None:
    """pyaqueduct sends removeExperiment under the name RemoveTagFromExperiment."""
    record = create(lab_http)
    answer = graphql(
        lab_http,
        "mutation RemoveTagFromExperiment($uuid: UUID!) { "
        "removeExperiment(experimentRemoveInput: {uuid: $uuid}) }",
        {"uuid": record["uuid"].upper()},
    )
    assert answer == {"data": {"removeExperiment": None}}
    assert lab_http.get(f"/experiments/{record['uuid']}").status_code == 404
    again = graphql(
        lab_http,
        "mutation ($uuid: UUID!) { removeExperiment(experimentRemoveInput: {uuid: $uuid}) }",
        {"uuid": record["uuid"]},
    )
    assert error_codes(again) == ["not_found"]
