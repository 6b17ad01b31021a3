"""Run routes of the flowServ surface: start (in a group), list, get, cancel, delete,
and the downloads of a successful run's outputs.

A run is reached through its group: the caller must be allowed the group (its
pipeline, and membership for a user). Run downloads are capability URLs (the run id is
128 random bits) unless SLUICE_FLOWSERV_DOWNLOAD_TOKEN.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from schemas.flowserv import RunStart
from schemas.leaderboards import CancelRun
from service.auth.audit import record
from service.auth.principal import Principal, principal
from service.body import request_json
from service.db import Document
from service.flowserv import present, query
from service.jsonio import JSONResponse
from service.leaderboards import board
from service.leaderboards.group_routes import admitted
from service.leaderboards.routes import _download as download
from service.stores import stores
from service.validation import parse_model


async def _run(request: Request, caller: Principal | None) -> Document:
    """The path's run, if `caller` (when given) may act on its group."""
    run = await board.run(request, request.path_params["runId"])
    if caller is not None:
        await board.check_run(request, run, caller)
    return run


async def start_run(request: Request) -> Response:
    """Start a run of the group's workflow with the given arguments; 400 for an unknown
    parameter, a repeated argument or a missing required one, 404 for an unknown file."""
    caller = principal(request)
    group = await stores(request).groups.access(request.path_params["userGroupId"], caller)
    body = parse_model(RunStart, await request_json(request))
    run = await board.start_run(request, group, [a.model_dump() for a in body.arguments])
    await record(request, "leaderboards.run_start", run["_id"], {"group": group["_id"]})
    return JSONResponse(present.run_handle(run), status_code=201)


async def list_runs(request: Request) -> Response:
    """The group's runs (`state`: only those in it; `None` or absent: all)."""
    group = await stores(request).groups.access(
        request.path_params["userGroupId"], principal(request)
    )
    state = query.state(request.query_params.get("state"))
    runs = await board.group_runs(request, group["_id"], state)
    return JSONResponse({"runs": [present.run_descriptor(run) for run in runs]})


async def get_run(request: Request) -> Response:
    return JSONResponse(present.run_handle(await _run(request, principal(request))))


async def cancel_run(request: Request) -> Response:
    """Cancel an active run (`reason` becomes its message); 400 if it is not active."""
    body = parse_model(CancelRun, await request_json(request))
    run = await _run(request, principal(request))
    canceled = await board.cancel_run(request, run, body.reason)
    await record(request, "leaderboards.run_cancel", run["_id"], {"reason": body.reason})
    return JSONResponse(present.run_handle(canceled))


async def delete_run(request: Request) -> Response:
    run = await _run(request, principal(request))
    await board.delete_run(request, run)
    await record(request, "leaderboards.run_delete", run["_id"])
    return Response(status_code=204)


async def download_archive(request: Request) -> Response:
    """A successful run's output files as a tar.gz, streamed; 404 unless SUCCESS."""
    return download(await _run(request, admitted(request)), None, request)


async def download_file(request: Request) -> Response:
    """One output file of a run, streamed."""
    run = await _run(request, admitted(request))
    return download(run, request.path_params["fileId"], request)
