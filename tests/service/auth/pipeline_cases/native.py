"""Route-walk cases of Sluice's native routes: service, Results, Buckets, tokens and
users, workfiles, experiments, extensions and tasks."""

from __future__ import annotations

import json
from typing import Any

from schemas.buckets import LEASE_HEADER
from tests.service.auth.pipeline_cases.cases import (
    SHARED_EXPERIMENTS,
    SHARED_WORKSPACES,
    Case,
    a_only,
    call,
    forbidden,
    hidden,
    no_extension,
    public,
    shared,
)
from tests.service.auth.pipeline_world import ACTION, EXTENSION, World, worker_beat, workflow
from tests.service.buckets.helpers import new_work
from tests.service.factories import work


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


def _only_users_of_a(world: World, body: Any) -> bool:
    return all(user["pipelines"] == [world.allowed] for user in body)


def _no_workfiles(world: World, body: Any) -> bool:
    return bool(body["workfiles"] == [] and body["total"] == 0)


def _no_tasks(world: World, body: Any) -> bool:
    return bool(body["tasks"] == [] and body["total"] == 0)


_B_FILTER = lambda w: {"pipeline": w.b}  # noqa: E731
_B_QUERY = {"query": _B_FILTER}
_LEASE = {"id": lambda w: w.running["id"], "lease": lambda w: w.lease}
_WORKFILE = lambda w: f"/workfiles/{w.workfile}"  # noqa: E731
_PROCESS = lambda w: f"/workfiles/processes/{w.process}"  # noqa: E731
_EXPERIMENT = lambda w: f"/experiments/{w.eid}"  # noqa: E731


def _user(pipelines: list[str]) -> dict[str, Any]:
    return {"username": f"walk-{len(pipelines)}", "password": "walk-password",
            "scopes": ["admin"], "pipelines": pipelines}  # fmt: skip


def _new_token(pipelines: list[str]) -> dict[str, Any]:
    return {"name": f"walk-{len(pipelines)}", "scopes": ["admin"], "pipelines": pipelines}


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
    ("POST", "/buckets/work/withdraw/batch"): forbidden(
        call("/buckets/work/withdraw/batch", json={"query": _B_FILTER, "limit": 2}),
        call("/buckets/work/withdraw/batch", json={"query": {}, "limit": 2}),
    ),
    ("POST", "/buckets/work/heartbeat"): forbidden(call("/buckets/work/heartbeat", json=_LEASE)),
    ("POST", "/buckets/work/heartbeats"): forbidden(
        call(
            "/buckets/work/heartbeats",
            json=lambda w: {"leases": [{"id": w.running["id"], "lease": w.lease}]},
        )
    ),
    ("POST", "/buckets/work/reports"): forbidden(
        call(
            "/buckets/work/reports",
            json=lambda w: {
                "reports": [{"work": {**w.running, "status": "success"}, "lease": w.lease}]
            },
        ),
        call(
            "/buckets/work/reports",
            json=lambda w: {
                "reports": [{"work": {**w.running, "pipeline": w.a}, "lease": w.lease}]
            },
        ),
    ),
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
    # Workfiles and runs
    ("GET", "/workfiles/processes"): hidden(_no_runs, call("/workfiles/processes")),
    ("GET", "/workfiles/processes/{process_id}"): forbidden(call(_PROCESS)),
    ("GET", "/workfiles/processes/{process_id}/files/{file_id}"): forbidden(
        call(lambda w: f"/workfiles/processes/{w.process}/files/{'0' * 24}")
    ),
    ("GET", "/workfiles/steps/{work_id}/inputs/{index}"): forbidden(
        call(
            lambda w: f"/workfiles/steps/{w.running['id']}/inputs/0",
            headers=lambda w: {LEASE_HEADER: w.lease},
        )
    ),
    ("PUT", "/workfiles/steps/{work_id}/outputs/{index}"): forbidden(
        call(
            lambda w: f"/workfiles/steps/{w.running['id']}/outputs/0",
            content=b"x",
            headers=lambda w: {LEASE_HEADER: w.lease},
        )
    ),
    ("POST", "/workfiles/processes/{process_id}/stop"): forbidden(
        call(lambda w: f"/workfiles/processes/{w.process}/stop")
    ),
    ("POST", "/workfiles"): forbidden(
        # A new version of B's workfile, though this content names only A...
        call(
            "/workfiles",
            params=lambda w: {"workspace": w.workspace, "file_name": "walk.json"},
            content=a_only,
        ),
        # ...and a new workfile naming B.
        call(
            "/workfiles",
            params=lambda w: {"workspace": w.workspace, "file_name": "b.json"},
            content=lambda w: json.dumps(workflow(w.b)).encode(),
        ),
    ),
    ("GET", "/workspaces"): shared(SHARED_WORKSPACES, call("/workspaces")),
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
        SHARED_EXPERIMENTS, call("/experiments", json={"title": "walk", "description": ""})
    ),
    ("GET", "/experiments"): shared(SHARED_EXPERIMENTS, call("/experiments")),
    ("GET", "/experiments/tags"): shared(SHARED_EXPERIMENTS, call("/experiments/tags")),
    ("GET", "/experiments/{ref}"): shared(SHARED_EXPERIMENTS, call(_EXPERIMENT)),
    ("PATCH", "/experiments/{ref}"): shared(
        SHARED_EXPERIMENTS, call(_EXPERIMENT, json={"title": "walk"})
    ),
    ("DELETE", "/experiments/{ref}"): forbidden(call(_EXPERIMENT)),
    ("POST", "/experiments/{ref}/tags"): shared(
        SHARED_EXPERIMENTS, call(lambda w: f"/experiments/{w.eid}/tags", json={"tags": ["walk"]})
    ),
    ("DELETE", "/experiments/{ref}/tags/{tag:path}"): shared(
        SHARED_EXPERIMENTS, call(lambda w: f"/experiments/{w.eid}/tags/walk")
    ),
    ("GET", "/experiments/{ref}/files"): shared(
        SHARED_EXPERIMENTS, call(lambda w: f"/experiments/{w.eid}/files")
    ),
    ("DELETE", "/experiments/{ref}/files"): shared(
        SHARED_EXPERIMENTS,
        call(lambda w: f"/experiments/{w.eid}/files", params={"name": "walk.txt"}),
    ),
    ("PUT", "/experiments/{ref}/files/{name:path}"): shared(
        SHARED_EXPERIMENTS, call(lambda w: f"/experiments/{w.eid}/files/walk.txt", content=b"walk")
    ),
    ("GET", "/experiments/{ref}/files/{name:path}"): shared(
        SHARED_EXPERIMENTS, call(lambda w: f"/experiments/{w.eid}/files/walk.txt")
    ),
    # Extensions and their tasks
    ("GET", "/extensions"): hidden(no_extension, call("/extensions")),
    ("POST", "/extensions/{extension}/{action}"): forbidden(
        call(f"/extensions/{EXTENSION}/{ACTION}", json=lambda w: {"parameters": {"exp": w.eid}})
    ),
    ("GET", "/tasks"): hidden(_no_tasks, call("/tasks")),
    ("GET", "/tasks/{task_id}"): forbidden(call(lambda w: f"/tasks/{w.task}")),
    ("POST", "/tasks/{task_id}/cancel"): forbidden(call(lambda w: f"/tasks/{w.task}/cancel")),
}
