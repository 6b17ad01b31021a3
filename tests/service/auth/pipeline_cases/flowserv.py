"""Route-walk cases of the flowServ surface (SLUICE_FLOWSERV_PREFIX, default
/flowserv/api/v1): its token travels in `api_key`, but the native headers the walk
sends are accepted too. Pipeline B's leaderboard workflow, group, upload and run are
the world's `lb_workflow`, `lb_group`, `lb_upload` and `lb_run`."""

from __future__ import annotations

from typing import Any

from tests.service.auth.pipeline_cases.cases import Case, call, forbidden, hidden, public, shared
from tests.service.auth.pipeline_world import World

F = "/flowserv/api/v1"


def _no_b_user(world: World, body: Any) -> bool:
    return all(user["username"] != world.b_user for user in body["users"])


def _no_b_workflow(world: World, body: Any) -> bool:
    return all(workflow["id"] != world.lb_workflow for workflow in body["workflows"])


def _no_b_group(world: World, body: Any) -> bool:
    return all(group["id"] != world.lb_group for group in body["groups"])


_WORKFLOW = lambda w: f"{F}/workflows/{w.lb_workflow}"  # noqa: E731
_GROUP = lambda w: f"{F}/groups/{w.lb_group}"  # noqa: E731
_FILES = lambda w: f"{F}/uploads/{w.lb_group}/files"  # noqa: E731
_RUN = lambda w: f"{F}/runs/{w.lb_run}"  # noqa: E731
_WALK_FILE = {"files": ("walk.txt", b"walk")}

CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{F}/"): public(),
    # Workflows of pipeline B: hidden from listings, 403 by id.
    ("GET", f"{F}/workflows"): hidden(_no_b_workflow, call(f"{F}/workflows")),
    ("GET", f"{F}/workflows/{{workflowId}}"): forbidden(call(_WORKFLOW)),
    ("GET", f"{F}/workflows/{{workflowId}}/leaderboard"): forbidden(
        call(lambda w: f"{F}/workflows/{w.lb_workflow}/leaderboard?orderBy=&includeAll=True")
    ),
    # Capability URLs (SLUICE_FLOWSERV_DOWNLOAD_TOKEN off): public.
    ("GET", f"{F}/workflows/{{workflowId}}/downloads/archive"): public(),
    ("GET", f"{F}/workflows/{{workflowId}}/downloads/files/{{fileId}}"): public(),
    ("GET", f"{F}/uploads/{{userGroupId}}/files/{{fileId}}"): public(),
    ("GET", f"{F}/runs/{{runId}}/downloads/archive"): public(),
    ("GET", f"{F}/runs/{{runId}}/downloads/files/{{fileId}}"): public(),
    # Groups of B's workflow.
    ("POST", f"{F}/workflows/{{workflowId}}/groups"): forbidden(
        call(lambda w: f"{F}/workflows/{w.lb_workflow}/groups", json={"name": "walk"})
    ),
    ("GET", f"{F}/workflows/{{workflowId}}/groups"): hidden(
        _no_b_group, call(lambda w: f"{F}/workflows/{w.lb_workflow}/groups")
    ),
    ("GET", f"{F}/groups"): hidden(_no_b_group, call(f"{F}/groups")),
    ("GET", f"{F}/groups/{{userGroupId}}"): forbidden(call(_GROUP)),
    ("POST", f"{F}/groups/{{userGroupId}}"): forbidden(call(_GROUP, json={"name": "taken"})),
    ("PUT", f"{F}/groups/{{userGroupId}}"): forbidden(call(_GROUP, json={"name": "taken"})),
    ("DELETE", f"{F}/groups/{{userGroupId}}"): forbidden(call(_GROUP)),
    # Uploads of B's group.
    ("POST", f"{F}/uploads/{{userGroupId}}/files"): forbidden(call(_FILES, files=_WALK_FILE)),
    ("GET", f"{F}/uploads/{{userGroupId}}/files"): forbidden(call(_FILES)),
    ("DELETE", f"{F}/uploads/{{userGroupId}}/files/{{fileId}}"): forbidden(
        call(lambda w: f"{F}/uploads/{w.lb_group}/files/{w.lb_upload}")
    ),
    # Runs of B's group.
    ("POST", f"{F}/groups/{{userGroupId}}/runs"): forbidden(
        call(lambda w: f"{F}/groups/{w.lb_group}/runs", json={"arguments": []})
    ),
    ("GET", f"{F}/groups/{{userGroupId}}/runs"): forbidden(
        call(lambda w: f"{F}/groups/{w.lb_group}/runs?state=None")
    ),
    ("GET", f"{F}/runs/{{runId}}"): forbidden(call(_RUN)),
    ("PUT", f"{F}/runs/{{runId}}"): forbidden(call(_RUN, json={"reason": "walk"})),
    ("DELETE", f"{F}/runs/{{runId}}"): forbidden(call(_RUN)),
    # Users.
    ("POST", f"{F}/users/register"): public(),
    ("POST", f"{F}/users/login"): public(),
    ("POST", f"{F}/users/logout"): public(),
    ("POST", f"{F}/users/password/reset"): public(),
    ("GET", f"{F}/users/whoami"): shared(
        "the caller's own token and user belong to no pipeline", call(f"{F}/users/whoami")
    ),
    ("GET", f"{F}/users"): hidden(_no_b_user, call(f"{F}/users")),
    ("POST", f"{F}/users/activate"): forbidden(
        call(f"{F}/users/activate", json=lambda w: {"id": w.b_user_id})
    ),
    ("POST", f"{F}/users/password/request"): forbidden(
        call(f"{F}/users/password/request", json=lambda w: {"username": w.b_user})
    ),
}
