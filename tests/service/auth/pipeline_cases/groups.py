"""Route-walk cases of the native leaderboard group routes
(`/leaderboards/workflows/{workflowId}/groups`, `/leaderboards/groups/...`): pipeline
B's group and upload are the world's `lb_group` and `lb_upload`, of its workflow
`lb_workflow`."""

from __future__ import annotations

from typing import Any

from tests.service.auth.pipeline_cases.cases import Case, call, forbidden, hidden
from tests.service.auth.pipeline_world import World


def _no_b_group(world: World, body: Any) -> bool:
    return all(group["id"] != world.lb_group for group in body["groups"])


_GROUP = lambda w: f"/leaderboards/groups/{w.lb_group}"  # noqa: E731
_FILES = lambda w: f"/leaderboards/groups/{w.lb_group}/files"  # noqa: E731
_FILE = lambda w: f"/leaderboards/groups/{w.lb_group}/files/{w.lb_upload}"  # noqa: E731

CASES: dict[tuple[str, str], Case] = {
    ("POST", "/leaderboards/workflows/{workflowId}/groups"): forbidden(
        call(lambda w: f"/leaderboards/workflows/{w.lb_workflow}/groups", json={"name": "walk"})
    ),
    ("GET", "/leaderboards/workflows/{workflowId}/groups"): hidden(
        _no_b_group, call(lambda w: f"/leaderboards/workflows/{w.lb_workflow}/groups")
    ),
    ("GET", "/leaderboards/groups"): hidden(_no_b_group, call("/leaderboards/groups")),
    ("GET", "/leaderboards/groups/{userGroupId}"): forbidden(call(_GROUP)),
    ("PATCH", "/leaderboards/groups/{userGroupId}"): forbidden(
        call(_GROUP, json={"name": "taken"})
    ),
    ("DELETE", "/leaderboards/groups/{userGroupId}"): forbidden(call(_GROUP)),
    ("POST", "/leaderboards/groups/{userGroupId}/files"): forbidden(
        call(_FILES, files={"files": ("walk.txt", b"walk")})
    ),
    ("GET", "/leaderboards/groups/{userGroupId}/files"): forbidden(call(_FILES)),
    ("GET", "/leaderboards/groups/{userGroupId}/files/{fileId}"): forbidden(call(_FILE)),
    ("DELETE", "/leaderboards/groups/{userGroupId}/files/{fileId}"): forbidden(call(_FILE)),
}
