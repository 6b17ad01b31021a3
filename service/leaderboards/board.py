"""What the group routes and the flowServ surface read and do of workflows and runs:
calls of the template, leaderboard run and step file stores (their owners' methods,
never their collections), in the terms those routes need."""

from __future__ import annotations

from starlette.requests import Request

from service.auth.principal import Principal, caller_name
from service.db import Document
from service.errors import NotFound
from service.leaderboards import ranking
from service.stores import stores


async def workflow(request: Request, workflow_id: str) -> Document:
    """The installed template `workflow_id`; 404."""
    return await stores(request).templates.get(workflow_id)


async def workflows(request: Request) -> list[Document]:
    """Every installed template (at most SLUICE_MAX_VIEW_RESULTS)."""
    return await stores(request).templates.listing()


async def postproc(request: Request, workflow_id: str) -> Document | None:
    """The workflow's latest post-processing run, if any."""
    return await stores(request).leaderboard_runs.latest_postproc(workflow_id)


async def rank(
    request: Request, workflow_id: str, order_by: str | None, include_all: bool
) -> tuple[list[Document], dict[str, str]]:
    """The leaderboard's runs, best first (`order_by` as flowServ's `orderBy`; empty:
    the default order), and the names of their groups; 400 for a malformed order."""
    held = stores(request)
    order = ranking.parse_order(order_by)
    _template, rows = await held.leaderboard_runs.ranking(
        workflow_id, order, include_all, 0, held.settings.max_view_results
    )
    names = await held.groups.names([row["group_id"] for row in rows if row.get("group_id")])
    return rows, names


async def run(request: Request, run_id: str) -> Document:
    """The run `run_id`; 404."""
    return await stores(request).leaderboard_runs.get(run_id)


async def check_run(request: Request, found: Document, caller: Principal) -> None:
    """403 unless `caller` may act on the run: on its group (pipeline, membership), or
    for a post-processing run on its workflow's pipeline."""
    if found.get("group_id"):
        await stores(request).groups.access(found["group_id"], caller)
        return
    template = await workflow(request, found["workflow_id"])
    caller.check_pipelines([template["pipeline"]])


async def start_run(request: Request, group: Document, given: list[Document]) -> Document:
    """Start a run of the group's workflow with the client's arguments (400 for bad
    ones, 404 for an unknown file id)."""
    return await stores(request).leaderboard_runs.start_run(
        group["workflow"], group, given, caller_name(request)
    )


async def group_runs(request: Request, group_id: str, state: str | None = None) -> list[Document]:
    """The group's runs (in `state` if given), oldest first."""
    return await stores(request).leaderboard_runs.for_group(group_id, state)


async def remove_group_runs(request: Request, group_id: str) -> None:
    """Delete the runs of a group being deleted (active ones are cancelled first)."""
    runs = stores(request).leaderboard_runs
    for found in await runs.for_group(group_id):
        try:
            await runs.delete(found["_id"])
        except NotFound:
            continue  # deleted meanwhile


async def cancel_run(request: Request, found: Document, reason: str | None) -> Document:
    """Cancel an active run; 400 if it is not active."""
    return await stores(request).leaderboard_runs.cancel(found["_id"], reason)


async def delete_run(request: Request, found: Document) -> None:
    await stores(request).leaderboard_runs.delete(found["_id"])


async def latest_postproc_run(request: Request, workflow_id: str) -> Document:
    """The workflow's latest successful post-processing run; 404 without one."""
    found = await stores(request).leaderboard_runs.latest_postproc(workflow_id, "SUCCESS")
    if found is None:
        raise NotFound(
            f"workflow {workflow_id} has no successful post-processing run",
            {"workflow": workflow_id},
        )
    return found
