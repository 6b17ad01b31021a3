"""HTTP routes of workfiles and their runs (`/workfiles...`).

Uploads are the raw file bytes (YAML, or JSON for a `.json` name), refused past
SLUICE_MAX_WORKFILE_BYTES while streaming. Runs are started on a workfile's latest
version and read, stopped and reported by process id.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from schemas.workfiles import (
    ProcessInfo,
    RunReport,
    RunRequest,
    StopAnswer,
    WorkfileInfo,
    WorkfilePage,
    WorkspacePage,
)
from service.auth import caller_name, principal, record
from service.body import read_body, request_json
from service.db import Document
from service.errors import BadRequest
from service.jsonio import JSONResponse
from service.params import int_param
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model
from service.workfiles import report, runs
from service.workfiles.store import check_access, info, pipelines_of
from service.workfiles.workspaces import info as workspace_info

MEDIA_TYPES = {"yaml": "application/yaml", "json": "application/json"}


async def upload(request: Request) -> Response:
    limit = stores(request).settings.max_workfile_bytes
    workspace = request.query_params.get("workspace", "")
    file_name = request.query_params.get("file_name", "")
    content = await read_body(request, limit, "SLUICE_MAX_WORKFILE_BYTES")
    stored = await stores(request).workfiles.upload(
        workspace, file_name, caller_name(request), content, principal(request)
    )
    return JSONResponse(stored)


async def listing(request: Request) -> Response:
    page = int_param(request, "page", 1)
    per_page = int_param(request, "per_page", 100)
    assert page is not None and per_page is not None
    found = await stores(request).workfiles.page(
        request.query_params.get("workspace", ""),
        page,
        per_page,
        request.query_params.get("file_name"),
        principal(request),
    )
    return JSONResponse(found)


async def workspaces(request: Request) -> Response:
    held = stores(request)
    page, per_page = int_param(request, "page", 1), int_param(request, "per_page", 100)
    found, total = await held.workfiles.workspaces.page(
        page, per_page, held.settings.max_view_results
    )
    return JSONResponse(
        {"workspaces": [workspace_info(item) for item in found], "page": page,
         "per_page": per_page, "total": total}
    )  # fmt: skip


async def get(request: Request) -> Response:
    workfile_id = request.path_params["workfile_id"]
    return JSONResponse(info(await stores(request).workfiles.get(workfile_id, principal(request))))


async def download(request: Request) -> Response:
    store = stores(request).workfiles
    stored, entry = await store.version(
        request.path_params["workfile_id"], int_param(request, "version", None), principal(request)
    )
    return StreamingResponse(
        store.chunks(entry["file_id"]),
        media_type=MEDIA_TYPES[stored["file_type"]],
        headers={
            "Content-Length": str(entry["size"]),
            "X-Sluice-Workfile-Version": str(entry["version"]),
        },
    )


async def delete(request: Request) -> Response:
    workfile_id = request.path_params["workfile_id"]
    await stores(request).workfiles.delete(workfile_id, principal(request))
    await record(request, "workfiles.delete", workfile_id)
    return JSONResponse(True)


async def start_run(request: Request, workfile_id: str, asked: RunRequest) -> Document:
    """Start a run of the workfile's latest version for the caller, who must be allowed
    every pipeline any of its versions names (as to read it) and those of the latest's
    steps; the new run (its first steps queued, none executed)."""
    stored, entry, workflow = await stores(request).workfiles.load(workfile_id)
    caller = principal(request)
    check_access(stored, caller)
    caller.check_pipelines(pipelines_of(workflow))
    given = [(variable.name, variable.value) for variable in asked.variables or []]
    return await stores(request).runs.start(
        stored, entry["version"], workflow, given, caller_name(request)
    )


async def run(request: Request) -> Response:
    asked = parse_model(RunRequest, await request_json(request))
    process = await start_run(request, request.path_params["workfile_id"], asked)
    return JSONResponse(report.process_info(process))


async def status(request: Request) -> Response:
    process = await stores(request).runs.get(request.path_params["process_id"], principal(request))
    return JSONResponse(report.process_info(process))


async def recent(request: Request) -> Response:
    status = request.query_params.get("status")
    if status is not None and status not in runs.RUN_STATUSES:
        raise BadRequest(
            f"status must be one of {', '.join(runs.RUN_STATUSES)}", {"status": status}
        )
    limit = int_param(request, "limit", RECENT_DEFAULT)
    cap = stores(request).settings.max_view_results
    if not 1 <= limit <= cap:
        raise BadRequest(f"limit must be 1 to SLUICE_MAX_VIEW_RESULTS ({cap})", {"limit": limit})
    found = await stores(request).runs.recent(status, limit, principal(request))
    return JSONResponse([report.process_info(process) for process in found])


async def stop(request: Request) -> Response:
    process_id = request.path_params["process_id"]
    outcome = await stores(request).runs.stop(process_id, principal(request))
    await record(request, "workfiles.stop", process_id, {"status": outcome})
    return JSONResponse({"status": outcome, "process_id": process_id})


async def results(request: Request) -> Response:
    workfile_id = request.path_params["workfile_id"]
    process = await stores(request).runs.get(request.path_params["process_id"], principal(request))
    if process["workflow_id"] != workfile_id:
        # The run exists, but not as a run of this workfile.
        raise runs.process_not_found(process["_id"])
    return JSONResponse(report.run_report(process))


_WORKFILE = Param("workfile_id", "path", {"type": "string"}, "workfile id", required=True)
#: Runs `GET /workfiles/processes` answers unless asked for another number.
RECENT_DEFAULT = 100
_RECENT = (
    Param("status", "query", {"type": "string", "enum": list(runs.RUN_STATUSES)},
          "only runs with this status"),
    Param("limit", "query", {"type": "integer", "minimum": 1},
          f"most runs answered (default {RECENT_DEFAULT})"),
)  # fmt: skip
_PROCESS = Param("process_id", "path", {"type": "string"}, "process (run) id", required=True)
_WORKSPACE = Param("workspace", "query", {"type": "string"}, "workspace name", required=True)
_FILE_NAME = Param("file_name", "query", {"type": "string"}, "file name (.json: JSON, else YAML)")
_PAGE = Param("page", "query", {"type": "integer", "minimum": 1}, "page number, from 1")
_PER_PAGE = Param("per_page", "query", {"type": "integer", "minimum": 1},
                  "workfiles per page (at most SLUICE_MAX_VIEW_RESULTS)")  # fmt: skip
_VERSION = Param("version", "query", {"type": "integer", "minimum": 1}, "version (default latest)")
_UPLOAD_PARAMS = (
    _WORKSPACE,
    Param("file_name", "query", {"type": "string"}, "file name (.json: JSON, else YAML)", True),
)

#: Every route, mounted at the root. Process routes come first: "/workfiles/processes/..."
#: names no workfile.
endpoints = [
    Endpoint("/workfiles/processes", ("GET",), recent, "read",
             "The latest runs, newest first", response=list[ProcessInfo], params=_RECENT,
             errors=(400,)),
    Endpoint("/workfiles/processes/{process_id}", ("GET",), status, "read",
             "A run's state, status and steps", response=ProcessInfo, params=(_PROCESS,),
             errors=(404,)),
    Endpoint("/workfiles/processes/{process_id}/stop", ("POST",), stop, "work",
             "Stop a run: queued steps cancelled, running steps asked to stop",
             response=StopAnswer, params=(_PROCESS,), errors=(404, 409)),
    Endpoint("/workfiles", ("POST",), upload, "deposit",
             "Upload a workfile (raw YAML or JSON bytes); a known name gets a new version",
             body=bytes, response=WorkfileInfo, params=_UPLOAD_PARAMS,
             errors=(400, 409, 413, 422)),
    Endpoint("/workspaces", ("GET",), workspaces, "read",
             "One page of the workspaces, by name (the Alpine surface's too)",
             response=WorkspacePage, params=(_PAGE, _PER_PAGE), errors=(400,)),
    Endpoint("/workfiles", ("GET",), listing, "read",
             "One page of a workspace's workfiles, by name",
             response=WorkfilePage, params=(_WORKSPACE, _FILE_NAME, _PAGE, _PER_PAGE),
             errors=(400,)),
    Endpoint("/workfiles/{workfile_id}", ("GET",), get, "read", "A workfile's metadata",
             response=WorkfileInfo, params=(_WORKFILE,), errors=(404,)),
    Endpoint("/workfiles/{workfile_id}", ("DELETE",), delete, "admin",
             "Delete a workfile and all its versions (its runs keep their copy)",
             response=bool, params=(_WORKFILE,), errors=(404,)),
    Endpoint("/workfiles/{workfile_id}/content", ("GET",), download, "read",
             "The bytes of a workfile version as uploaded", response=bytes,
             params=(_WORKFILE, _VERSION), errors=(400, 404), media_type="application/yaml"),
    Endpoint("/workfiles/{workfile_id}/processes", ("POST",), run, "deposit",
             "Run the workfile's latest version with variables; the new run",
             body=RunRequest, response=ProcessInfo, params=(_WORKFILE,),
             errors=(400, 404, 422)),
    Endpoint("/workfiles/{workfile_id}/processes/{process_id}/results", ("GET",), results, "read",
             "The report of a run", response=RunReport, params=(_WORKFILE, _PROCESS),
             errors=(404,)),
]  # fmt: skip
