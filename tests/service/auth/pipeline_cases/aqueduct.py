"""Route-walk cases of the Aqueduct surface: the same experiments (shared), extensions
and tasks (not)."""

from __future__ import annotations

from typing import Any

from tests.service.auth.pipeline_cases.cases import (
    SHARED_EXPERIMENTS,
    Case,
    call,
    hidden,
    no_extension,
    shared,
)
from tests.service.auth.pipeline_world import ACTION, EXTENSION, World


def _no_graphql_extension(world: World, body: Any) -> bool:
    return bool(not body.get("errors") and no_extension(world, body["data"]))


_AQUEDUCT_FILES = lambda w: f"/aqueduct/api/files/{w.experiment_uuid}"  # noqa: E731
_GRAPHQL = "/aqueduct/api/graphql"
_EXECUTE = (
    "mutation($e: String!, $a: String!, $p: [[String!]!]!) "
    "{ executeExtension(extension: $e, action: $a, params: $p) { returnCode } }"
)
_REMOVE = "mutation($u: UUID!) { removeExperiment(experimentRemoveInput: {uuid: $u}) }"
CASES: dict[tuple[str, str], Case] = {
    # Aqueduct: the same experiments (shared), extensions and tasks (not)
    ("POST", _GRAPHQL): hidden(
        _no_graphql_extension,
        call(_GRAPHQL, json={"query": "{ extensions { name } }"}),
        call(
            _GRAPHQL,
            json=lambda w: {
                "query": _EXECUTE,
                "variables": {"e": EXTENSION, "a": ACTION, "p": [["exp", w.eid]]},
            },
        ),
        call(_GRAPHQL, json=lambda w: {"query": _REMOVE, "variables": {"u": w.experiment_uuid}}),
    ),
    ("POST", "/aqueduct/api/files/{uuid}"): shared(
        SHARED_EXPERIMENTS,
        call(
            _AQUEDUCT_FILES,
            headers={"file_name": "walk.txt"},
            files={"file": ("walk.txt", b"walk")},
        ),
    ),
    ("POST", "/aqueduct/api/files/{uuid}/delete_files"): shared(
        SHARED_EXPERIMENTS,
        call(
            lambda w: f"/aqueduct/api/files/{w.experiment_uuid}/delete_files",
            json={"file_list": ["walk.txt"]},
        ),
    ),
    ("GET", "/aqueduct/api/files/{uuid}/{name}"): shared(
        SHARED_EXPERIMENTS, call(lambda w: f"/aqueduct/api/files/{w.experiment_uuid}/walk.txt")
    ),
}
