"""Route-walk cases of Sluice's own leaderboard routes (`/leaderboards/...`): a
template belongs to its pipeline, and so do its runs."""

from __future__ import annotations

from typing import Any

from tests.service.auth.pipeline_cases.cases import Case, call, forbidden, hidden
from tests.service.auth.pipeline_world import World

L = "/leaderboards"


def _no_b_workflow(world: World, body: Any) -> bool:
    return all(workflow["id"] != world.lb_workflow for workflow in body["workflows"])


_WORKFLOW = lambda w: f"{L}/workflows/{w.lb_workflow}"  # noqa: E731
_RUN = lambda w: f"{L}/runs/{w.lb_run}"  # noqa: E731

CASES: dict[tuple[str, str], Case] = {
    ("POST", f"{L}/workflows"): forbidden(
        call(f"{L}/workflows", content=lambda w: (
            f"name: walk-b-{w.b}\npipeline: {w.b}\nsite: local\n"
            "steps: [{name: s, command: ['true']}]\n").encode())
    ),
    ("GET", f"{L}/workflows"): hidden(_no_b_workflow, call(f"{L}/workflows")),
    ("GET", f"{L}/workflows/{{workflow_id}}"): forbidden(call(_WORKFLOW)),
    ("GET", f"{L}/workflows/{{workflow_id}}/ranking"): forbidden(
        call(lambda w: f"{L}/workflows/{w.lb_workflow}/ranking")
    ),
    ("POST", f"{L}/workflows/{{workflow_id}}/runs"): forbidden(
        call(lambda w: f"{L}/workflows/{w.lb_workflow}/runs", json={"group": "x"})
    ),
    ("GET", f"{L}/runs/{{run_id}}"): forbidden(call(_RUN)),
    ("POST", f"{L}/runs/{{run_id}}/cancel"): forbidden(
        call(lambda w: f"{L}/runs/{w.lb_run}/cancel", json={"reason": "walk"})
    ),
    ("GET", f"{L}/runs/{{run_id}}/archive"): forbidden(
        call(lambda w: f"{L}/runs/{w.lb_run}/archive")
    ),
    ("GET", f"{L}/runs/{{run_id}}/files/{{file_id}}"): forbidden(
        call(lambda w: f"{L}/runs/{w.lb_run}/files/{'0' * 24}")
    ),
    ("GET", f"{L}/workflows/{{workflow_id}}/archive"): forbidden(
        call(lambda w: f"{L}/workflows/{w.lb_workflow}/archive")
    ),
    ("GET", f"{L}/workflows/{{workflow_id}}/files/{{file_id}}"): forbidden(
        call(lambda w: f"{L}/workflows/{w.lb_workflow}/files/{'0' * 24}")
    ),
}  # fmt: skip
