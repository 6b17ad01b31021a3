"""Raw GraphQL requests to the Aqueduct surface, and what a request left stored."""

from __future__ import annotations

from typing import Any

import httpx

GRAPHQL = "/aqueduct/api/graphql"

EXPERIMENT_FIELDS = (
    "uuid title description eid createdAt updatedAt tags files { name path modifiedAt }"
)


def graphql(http: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The JSON answer of one GraphQL request; a GraphQL answer is always status 200."""
    response = http.post(GRAPHQL, json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def error_codes(answer: dict[str, Any]) -> list[str | None]:
    """The Sluice error code of each GraphQL error (None for the validator's own)."""
    assert answer.get("errors"), answer
    return [e.get("extensions", {}).get("code") for e in answer["errors"]]


def stored(http: httpx.Client) -> tuple[int, int]:
    """How many experiments and tasks there are, from the native routes."""
    experiments = http.get("/experiments", params={"limit": 1}).json()["total"]
    tasks = http.get("/tasks", params={"limit": 1}).json()["total"]
    return experiments, tasks


def create(http: httpx.Client, title: str = "run", tags: list[str] | None = None) -> Any:
    answer = graphql(
        http,
        "mutation ($title: String!, $tags: [String!]!) { createExperiment("
        'createExperimentInput: {title: $title, description: "d", tags: $tags}) '
        f"{{ {EXPERIMENT_FIELDS} }} }}",
        {"title": title, "tags": tags or []},
    )
    assert "errors" not in answer, answer
    return answer["data"]["createExperiment"]
