"""What every route must answer a token limited to pipeline A about pipeline B's objects.

`CASES` maps each route of the route table, as `(METHOD, full path template)`, to a
`Case`: the requests to send (built from the `World` of pipeline_world.py, whose objects
all belong to pipeline B) and what may come back. test_pipeline_walk sends them with a
pipeline-A token of each scope and FAILS for any route without a case here.

Adding a route? Add its case (HEAD is covered by the route's GET):

- `forbidden(call, ...)`: every call must answer 403 (for a route that reads or changes
  an object of B named in the request).
- `hidden(check, call, ...)`: 403, or 200 with `check(world, body)` true: B's objects
  are absent from the answer (listings, counts, status pages).
- `public()`: a public route (no token, reads no pipeline's objects).
- `shared(reason, call, ...)`: a route whose objects belong to no pipeline (experiments
  are shared lab records); it must still answer below 500. Say why in `reason`.

A call is `call(path, **httpx request arguments)`; `path` and the arguments may be
functions of the world, e.g. `call(lambda w: f"/tasks/{w.task}")`. If a route needs a
new kind of object, make it in `pipeline_world.build` and check it in `snapshot`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from schemas.buckets import LEASE_HEADER
from tests.service.auth.pipeline_world import ACTION, EXTENSION, World, worker_beat, workflow
from tests.service.buckets.helpers import new_work
from tests.service.factories import work

Expect = Literal["forbidden", "hidden", "public", "shared"]
Value = Any | Callable[[World], Any]
Check = Callable[[World, Any], bool]


@dataclass(frozen=True)
class Call:
    path: Value
    arguments: dict[str, Value]

    def build(self, world: World) -> tuple[str, dict[str, Any]]:
        """The path and httpx arguments for `world`."""
        return _resolve(self.path, world), _resolve(self.arguments, world)


def _resolve(value: Value, world: World) -> Any:
    """`value` with every function in it (at any depth of dicts) called on `world`."""
    if callable(value):
        return value(world)
    if isinstance(value, dict):
        return {key: _resolve(item, world) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Case:
    expect: Expect
    calls: tuple[Call, ...] = ()
    check: Check | None = None
    reason: str = ""


def call(path: Value, **arguments: Value) -> Call:
    return Call(path, arguments)


def forbidden(*calls: Call) -> Case:
    return Case("forbidden", calls)


def hidden(check: Check, *calls: Call) -> Case:
    return Case("hidden", calls, check)


def public() -> Case:
    return Case("public")


def shared(reason: str, *calls: Call) -> Case:
    return Case("shared", calls, reason=reason)


def _no_runs(world: World, body: Any) -> bool:
    return bool(body == [])


def _b_absent(world: World, body: Any) -> bool:
    return bool(world.b not in json.dumps(body))


def _zero(world: World, body: Any) -> bool:
    return bool(body == 0)


def _no_counts(world: World, body: Any) -> bool:
    return isinstance(body, dict) and body.get("total") == 0


def _only_tokens_of_a(world: World, body: Any) -> bool:
    return all(token["pipelines"] == [world.allowed] for token in body)


def _false(world: World, body: Any) -> bool:
    return body is False


def _no_graphql_extension(world: World, body: Any) -> bool:
    return bool(not body.get("errors") and _no_extension(world, body["data"]))


def _only_users_of_a(world: World, body: Any) -> bool:
    return all(user["pipelines"] == [world.allowed] for user in body)


def _no_alpine_workfiles(world: World, body: Any) -> bool:
    return bool(body["response"] == [])


def _no_workfiles(world: World, body: Any) -> bool:
    return bool(body["workfiles"] == [] and body["total"] == 0)


def _no_tasks(world: World, body: Any) -> bool:
    return bool(body["tasks"] == [] and body["total"] == 0)


def _no_extension(world: World, body: Any) -> bool:
    return all(extension["name"] != EXTENSION for extension in body["extensions"])


_B_QUERY = {"query": lambda w: {"pipeline": w.b}}
_LEASE = {"id": lambda w: w.running["id"], "lease": lambda w: w.lease}
_WORKFILE = lambda w: f"/workfiles/{w.workfile}"  # noqa: E731
_PROCESS = lambda w: f"/workfiles/processes/{w.process}"  # noqa: E731
_EXPERIMENT = lambda w: f"/experiments/{w.eid}"  # noqa: E731
_SHARED = "experiments are lab records shared by every pipeline (their tasks are not)"
_SHARED_SPACE = "workspaces name folders shared by every pipeline (their workfiles are not)"
_ENGINE = "/alpinedatalabs/api/v1/json"
_AQUEDUCT_FILES = lambda w: f"/aqueduct/api/files/{w.experiment_uuid}"  # noqa: E731
_GRAPHQL = "/aqueduct/api/graphql"
_EXECUTE = (
    "mutation($e: String!, $a: String!, $p: [[String!]!]!) "
    "{ executeExtension(extension: $e, action: $a, params: $p) { returnCode } }"
)
_REMOVE = "mutation($u: UUID!) { removeExperiment(experimentRemoveInput: {uuid: $u}) }"
_ALPINE_WORKFILE = lambda w: f"/alpine/api/workfiles/{w.workfile}"  # noqa: E731
_ALPINE_SPACE = lambda w: f"/alpine/api/workspaces/{w.workspace_id}"  # noqa: E731


def _user(pipelines: list[str]) -> dict[str, Any]:
    return {"username": f"walk-{len(pipelines)}", "password": "walk-password",
            "scopes": ["admin"], "pipelines": pipelines}  # fmt: skip


def _alpine_upload(world: World) -> bytes:
    return (
        b"--walk\r\n"
        b'Content-Disposition: form-data; name="workfile[versions_attributes][0][contents]"; '
        b'filename="walk.json"\r\nContent-Type: application/json\r\n\r\n'
        + _a_only(world)
        + b"\r\n--walk--\r\n"
    )


def _new_token(pipelines: list[str]) -> dict[str, Any]:
    return {"name": f"walk-{len(pipelines)}", "scopes": ["admin"], "pipelines": pipelines}


def _a_only(world: World) -> bytes:
    return json.dumps(workflow(world.a)).encode()


CASES: dict[tuple[str, str], Case] = {
    ("GET", "/healthz"): public(),
    ("GET", "/readyz"): public(),
    ("GET", "/openapi.json"): public(),
    ("GET", "/"): public(),
    ("GET", "/dashboard/app.css"): public(),
    ("GET", "/dashboard/app.js"): public(),
    ("GET", "/docs"): public(),
    ("GET", "/docs/assets/favicon-32x32.png"): public(),
    ("GET", "/docs/assets/swagger-ui-bundle.js"): public(),
    ("GET", "/docs/assets/swagger-ui.css"): public(),
    ("GET", "/results/version"): public(),
    ("GET", "/buckets/version"): public(),
    # Results
    ("POST", "/results/results"): forbidden(call("/results/results", json=lambda w: [work(w.b)])),
    ("PUT", "/results/results"): forbidden(
        call("/results/results", json=lambda w: [{**w.result, "tags": ["changed"]}])
    ),
    ("DELETE", "/results/results"): forbidden(
        call("/results/results", params=lambda w: {w.b: w.result["id"]})
    ),
    ("POST", "/results/view"): forbidden(call("/results/view", json=_B_QUERY)),
    ("POST", "/results/view/count"): forbidden(call("/results/view/count", json=_B_QUERY)),
    ("GET", "/results/status"): hidden(_b_absent, call("/results/status")),
    # Buckets
    ("POST", "/buckets/work"): forbidden(call("/buckets/work", json=lambda w: [new_work(w.b)])),
    ("PUT", "/buckets/work"): forbidden(
        call(
            "/buckets/work",
            json=lambda w: [{**w.running, "status": "success"}],
            headers=lambda w: {LEASE_HEADER: w.lease},
        ),
        call("/buckets/work", json=lambda w: [{**w.running, "pipeline": w.a}]),
    ),
    ("DELETE", "/buckets/work"): forbidden(
        call("/buckets/work", params=lambda w: {"ids": [w.queued, w.failed]})
    ),
    ("POST", "/buckets/work/retry"): forbidden(
        call("/buckets/work/retry", json=lambda w: {"ids": [w.failed]})
    ),
    ("POST", "/buckets/transfer"): forbidden(call("/buckets/transfer")),
    ("POST", "/buckets/work/withdraw"): forbidden(
        call("/buckets/work/withdraw", json=lambda w: {"pipeline": w.b}),
        call("/buckets/work/withdraw", json={}),
    ),
    ("POST", "/buckets/work/heartbeat"): forbidden(call("/buckets/work/heartbeat", json=_LEASE)),
    ("POST", "/buckets/work/release"): forbidden(call("/buckets/work/release", json=_LEASE)),
    ("POST", "/buckets/view"): forbidden(
        call("/buckets/view", json=_B_QUERY), call("/buckets/view", json={"query": {}})
    ),
    ("GET", "/buckets/running"): hidden(_b_absent, call("/buckets/running")),
    ("GET", "/buckets/status"): hidden(_no_counts, call("/buckets/status")),
    ("GET", "/buckets/status/pipelines"): hidden(_b_absent, call("/buckets/status/pipelines")),
    ("GET", "/buckets/status/details/{pipeline}"): forbidden(
        call(lambda w: f"/buckets/status/details/{w.b}")
    ),
    ("GET", "/buckets/audit/failed"): hidden(_zero, call("/buckets/audit/failed")),
    ("GET", "/buckets/audit/expired"): hidden(_zero, call("/buckets/audit/expired")),
    ("GET", "/buckets/audit/stale/{days}"): hidden(_zero, call("/buckets/audit/stale/1")),
    ("PUT", "/buckets/workers/{worker}"): forbidden(
        call(lambda w: f"/buckets/workers/{w.worker}-b", json=lambda w: worker_beat(w.b))
    ),
    ("DELETE", "/buckets/workers/{worker}"): hidden(
        _false, call(lambda w: f"/buckets/workers/{w.worker}")
    ),
    ("GET", "/buckets/workers"): hidden(_b_absent, call("/buckets/workers")),
    # Tokens and the audit trail
    ("POST", "/admin/tokens"): forbidden(
        call("/admin/tokens", json=_new_token([])),
        call("/admin/tokens", json=lambda w: _new_token([w.b])),
        call("/admin/tokens", json=lambda w: _new_token([w.allowed, "*"])),
        call("/admin/tokens", json=lambda w: _new_token([w.a[:3] + "*"])),
    ),
    ("GET", "/admin/tokens"): hidden(_only_tokens_of_a, call("/admin/tokens")),
    ("POST", "/admin/tokens/{name}/revoke"): forbidden(
        call(lambda w: f"/admin/tokens/{w.b_token}/revoke"),
        call(lambda w: f"/admin/tokens/{w.full_admin}/revoke"),
    ),
    ("GET", "/admin/audit"): forbidden(call("/admin/audit")),
    ("POST", "/admin/users"): forbidden(
        call("/admin/users", json=_user([])),
        call("/admin/users", json=lambda w: _user([w.b])),
        call("/admin/users", json=lambda w: _user([w.a[:3] + "*"])),
    ),
    ("GET", "/admin/users"): hidden(_only_users_of_a, call("/admin/users")),
    ("DELETE", "/admin/users/{username}"): forbidden(
        call(lambda w: f"/admin/users/{w.b_user}"), call(lambda w: f"/admin/users/{w.full_user}")
    ),
    ("GET", "/metrics"): forbidden(call("/metrics")),
    # Alpine: sessions are public; workspaces are shared; workfiles and runs are not
    ("POST", "/alpine/api/sessions"): public(),
    ("GET", "/alpine/api/sessions"): public(),
    ("DELETE", "/alpine/api/sessions"): public(),
    ("GET", "/alpine/api/VERSION"): public(),
    ("GET", "/alpine/api/workspaces"): shared(_SHARED_SPACE, call("/alpine/api/workspaces")),
    ("POST", "/alpine/api/workspaces"): shared(
        _SHARED_SPACE, call("/alpine/api/workspaces", data={"name": "walk-space"})
    ),
    ("GET", "/alpine/api/workspaces/{workspace_id}"): shared(_SHARED_SPACE, call(_ALPINE_SPACE)),
    ("DELETE", "/alpine/api/workspaces/{workspace_id}"): shared(
        _SHARED_SPACE + "; one holding workfiles is never deleted", call(_ALPINE_SPACE)
    ),
    ("POST", "/alpine/api/workspaces/{workspace_id}/workfiles"): forbidden(
        call(
            lambda w: f"/alpine/api/workspaces/{w.workspace_id}/workfiles",
            content=_alpine_upload,
            headers={"Content-Type": "multipart/form-data; boundary=walk"},
        ),
    ),
    ("GET", "/alpine/api/workspaces/{workspace_id}/workfiles"): hidden(
        _no_alpine_workfiles, call(lambda w: f"/alpine/api/workspaces/{w.workspace_id}/workfiles")
    ),
    ("GET", "/alpine/api/workfiles/{workfile_id}"): forbidden(call(_ALPINE_WORKFILE)),
    ("DELETE", "/alpine/api/workfiles/{workfile_id}"): forbidden(call(_ALPINE_WORKFILE)),
    ("GET", "/alpine/api/workfiles/{workfile_id}/download"): forbidden(
        call(lambda w: f"/alpine/api/workfiles/{w.workfile}/download")
    ),
    ("POST", _ENGINE + "/workflows/{workflow_id}/run"): forbidden(
        call(lambda w: f"{_ENGINE}/workflows/{w.workfile}/run", json={})
    ),
    ("GET", _ENGINE + "/processes/{process_id}/query"): forbidden(
        call(lambda w: f"{_ENGINE}/processes/{w.process}/query")
    ),
    ("POST", _ENGINE + "/processes/{process_id}/stop"): forbidden(
        call(lambda w: f"{_ENGINE}/processes/{w.process}/stop")
    ),
    ("GET", _ENGINE + "/workflows/{workflow_id}/results/{process_id}"): forbidden(
        call(lambda w: f"{_ENGINE}/workflows/{w.workfile}/results/{w.process}")
    ),
    # Workfiles and runs
    ("GET", "/workfiles/processes"): hidden(_no_runs, call("/workfiles/processes")),
    ("GET", "/workfiles/processes/{process_id}"): forbidden(call(_PROCESS)),
    ("POST", "/workfiles/processes/{process_id}/stop"): forbidden(
        call(lambda w: f"/workfiles/processes/{w.process}/stop")
    ),
    ("POST", "/workfiles"): forbidden(
        # A new version of B's workfile, though this content names only A...
        call(
            "/workfiles",
            params=lambda w: {"workspace": w.workspace, "file_name": "walk.json"},
            content=_a_only,
        ),
        # ...and a new workfile naming B.
        call(
            "/workfiles",
            params=lambda w: {"workspace": w.workspace, "file_name": "b.json"},
            content=lambda w: json.dumps(workflow(w.b)).encode(),
        ),
    ),
    ("GET", "/workspaces"): shared(_SHARED_SPACE, call("/workspaces")),
    ("GET", "/workfiles"): hidden(
        _no_workfiles, call("/workfiles", params=lambda w: {"workspace": w.workspace})
    ),
    ("GET", "/workfiles/{workfile_id}"): forbidden(call(_WORKFILE)),
    ("DELETE", "/workfiles/{workfile_id}"): forbidden(call(_WORKFILE)),
    ("GET", "/workfiles/{workfile_id}/content"): forbidden(
        call(lambda w: f"/workfiles/{w.workfile}/content")
    ),
    ("POST", "/workfiles/{workfile_id}/processes"): forbidden(
        call(lambda w: f"/workfiles/{w.workfile}/processes", json={"variables": []})
    ),
    ("GET", "/workfiles/{workfile_id}/processes/{process_id}/results"): forbidden(
        call(lambda w: f"/workfiles/{w.workfile}/processes/{w.process}/results")
    ),
    # Experiments: shared, but removing one removes its tasks
    ("POST", "/experiments"): shared(
        _SHARED, call("/experiments", json={"title": "walk", "description": ""})
    ),
    ("GET", "/experiments"): shared(_SHARED, call("/experiments")),
    ("GET", "/experiments/tags"): shared(_SHARED, call("/experiments/tags")),
    ("GET", "/experiments/{ref}"): shared(_SHARED, call(_EXPERIMENT)),
    ("PATCH", "/experiments/{ref}"): shared(_SHARED, call(_EXPERIMENT, json={"title": "walk"})),
    ("DELETE", "/experiments/{ref}"): forbidden(call(_EXPERIMENT)),
    ("POST", "/experiments/{ref}/tags"): shared(
        _SHARED, call(lambda w: f"/experiments/{w.eid}/tags", json={"tags": ["walk"]})
    ),
    ("DELETE", "/experiments/{ref}/tags/{tag}"): shared(
        _SHARED, call(lambda w: f"/experiments/{w.eid}/tags/walk")
    ),
    ("GET", "/experiments/{ref}/files"): shared(
        _SHARED, call(lambda w: f"/experiments/{w.eid}/files")
    ),
    ("DELETE", "/experiments/{ref}/files"): shared(
        _SHARED, call(lambda w: f"/experiments/{w.eid}/files", params={"name": "walk.txt"})
    ),
    ("PUT", "/experiments/{ref}/files/{name:path}"): shared(
        _SHARED, call(lambda w: f"/experiments/{w.eid}/files/walk.txt", content=b"walk")
    ),
    ("GET", "/experiments/{ref}/files/{name:path}"): shared(
        _SHARED, call(lambda w: f"/experiments/{w.eid}/files/walk.txt")
    ),
    # Extensions and their tasks
    ("GET", "/extensions"): hidden(_no_extension, call("/extensions")),
    ("POST", "/extensions/{extension}/{action}"): forbidden(
        call(f"/extensions/{EXTENSION}/{ACTION}", json=lambda w: {"parameters": {"exp": w.eid}})
    ),
    ("GET", "/tasks"): hidden(_no_tasks, call("/tasks")),
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
        _SHARED,
        call(
            _AQUEDUCT_FILES,
            headers={"file_name": "walk.txt"},
            files={"file": ("walk.txt", b"walk")},
        ),
    ),
    ("POST", "/aqueduct/api/files/{uuid}/delete_files"): shared(
        _SHARED,
        call(
            lambda w: f"/aqueduct/api/files/{w.experiment_uuid}/delete_files",
            json={"file_list": ["walk.txt"]},
        ),
    ),
    ("GET", "/aqueduct/api/files/{uuid}/{name}"): shared(
        _SHARED, call(lambda w: f"/aqueduct/api/files/{w.experiment_uuid}/walk.txt")
    ),
    ("GET", "/tasks/{task_id}"): forbidden(call(lambda w: f"/tasks/{w.task}")),
    ("POST", "/tasks/{task_id}/cancel"): forbidden(call(lambda w: f"/tasks/{w.task}/cancel")),
}
