"""Workflow routes of the flowServ surface: listing, handle, leaderboard, and the
downloads of the latest post-processing run's outputs.

A workflow (an installed template) belongs to the pipeline its template names; a
caller sees only workflows of its pipelines. The downloads are capability URLs unless
SLUICE_FLOWSERV_DOWNLOAD_TOKEN: the workflow archive is as public as the workflow's id
(which only callers of its pipeline can list), a post-processing file needs its 128-bit
random file id besides.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from service.auth.principal import principal
from service.db import Document
from service.flowserv import present, query
from service.jsonio import JSONResponse
from service.leaderboards import board
from service.leaderboards.group_routes import admitted, descriptor
from service.leaderboards.routes import _download as download
from service.stores import stores


async def _visible(request: Request) -> Document:
    """The path's workflow, if the caller may see its pipeline (403 otherwise)."""
    template = await board.workflow(request, request.path_params["workflowId"])
    principal(request).check_pipelines([template["pipeline"]])
    return template


async def list_workflows(request: Request) -> Response:
    caller = principal(request)
    found = await board.workflows(request)
    shown = [present.workflow_descriptor(t) for t in found if caller.allows(t["pipeline"])]
    return JSONResponse({"workflows": shown})


async def get_workflow(request: Request) -> Response:
    """The WorkflowHandle: parameters, parameter groups, the latest post-processing
    run, and the caller's groups of the workflow."""
    template = await _visible(request)
    handle: Document = {
        **present.workflow_descriptor(template),
        "parameters": [present.parameter(p) for p in template["parameters"]],
        "parameterGroups": template["parameterGroups"],
    }
    postproc = await board.postproc(request, template["_id"])
    if postproc is not None:
        handle["postproc"] = present.run_handle(postproc, group=False)
    groups = await stores(request).groups.listing(principal(request), template["_id"])
    handle["groups"] = [descriptor(group) for group in groups]
    return JSONResponse(handle)


async def leaderboard(request: Request) -> Response:
    """The WorkflowLeaderboard: `orderBy` (empty: the schema's default order) and
    `includeAll` (every successful run rather than the best of each group)."""
    template = await _visible(request)
    columns = present.schema_columns(template)
    every = query.include_all(request.query_params)
    rows, names = await board.rank(
        request, template["_id"], request.query_params.get("orderBy"), every
    )
    body: Document = {
        "schema": columns,
        "ranking": [present.ranking_entry(row, columns, names) for row in rows],
    }
    postproc = await board.postproc(request, template["_id"])
    if postproc is not None:
        body["postproc"] = present.run_handle(postproc, group=False)
    return JSONResponse(body)


async def _downloadable(request: Request) -> Document:
    template = await board.workflow(request, request.path_params["workflowId"])
    caller = admitted(request)
    if caller is not None:
        caller.check_pipelines([template["pipeline"]])
    return template


async def download_archive(request: Request) -> Response:
    """The latest successful post-processing run's outputs as a tar.gz, streamed; 404
    without one."""
    template = await _downloadable(request)
    return download(await board.latest_postproc_run(request, template["_id"]), None, request)


async def download_file(request: Request) -> Response:
    """One output file of the latest successful post-processing run, streamed."""
    template = await _downloadable(request)
    latest = await board.latest_postproc_run(request, template["_id"])
    return download(latest, request.path_params["fileId"], request)
