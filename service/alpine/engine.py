"""Alpine engine routes (`/alpinedatalabs/api/v1/json/...`): run, query, stop, results.

The client sends these to the host root whatever its Chorus prefix, with the session in
`x-token` (after a run) or the cookie. Runs are Sluice's own (service/workfiles): a run
only queues its first steps, `sluice worker`s execute them. The answers are the exact
ones the client decodes:

- run: 200 (not 201) with `meta.processId`;
- query: `{"meta": {"state": "IN_PROGRESS"}}` while running; once ended, the text
  `Workflow not started or already stopped.\\n` (SUCCESS, STOPPED: the client's
  "FINISHED") or `Workflow failed.\\n` (FAILURE: its "FAILED");
- stop: `{"status": "Flow stopped.\\n"}` when this call stopped it, else
  `{"status": "Flow not running.\\n"}`;
- results: the report as a JSON *string* holding the report's JSON (the client decodes
  twice); 404 while the run is still going. Sluice's own results route stays a plain
  JSON object.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from schemas.workfiles import RunRequest
from service.alpine.forms import read_object
from service.auth import principal, record
from service.jsonio import JSONResponse, dumps
from service.observe.requests import mark_quiet
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model
from service.workfiles import report
from service.workfiles.routes import start_run
from service.workfiles.runs import ProcessNotFound, process_not_found

#: Where the client sends engine requests, at the host root.
ENGINE_PATH = "/alpinedatalabs/api/v1/json"

FINISHED_TEXT = "Workflow not started or already stopped.\n"
FAILED_TEXT = "Workflow failed.\n"
STOPPED_STATUS = "Flow stopped.\n"
NOT_RUNNING_STATUS = "Flow not running.\n"


async def run(request: Request) -> Response:
    """Run the workflow's latest version with `variables` (`[{"name", "value"}]`) from
    the optional JSON body; its process id. Nothing is executed in the request."""
    body = await read_object(request)
    asked = parse_model(RunRequest, {"variables": body.get("variables")})
    process = await start_run(request, request.path_params["workflow_id"], asked)
    return JSONResponse(
        {"meta": {"version": 1, "processId": process["_id"], "state": "IN_PROGRESS"}}
    )


async def query(request: Request) -> Response:
    """The run's state: JSON while it runs, the client's sentinel text once ended."""
    process = await stores(request).runs.get(request.path_params["process_id"], principal(request))
    if process["status"] == "RUNNING":
        mark_quiet(request)  # the client polls every second while a run goes on
        return JSONResponse({"meta": {"state": "IN_PROGRESS", "processId": process["_id"]}})
    return PlainTextResponse(FAILED_TEXT if process["status"] == "FAILURE" else FINISHED_TEXT)


async def stop(request: Request) -> Response:
    """Stop the run; "Flow stopped." only when this call stopped it."""
    process_id = request.path_params["process_id"]
    store = stores(request).runs
    process = await store.get(process_id, principal(request))
    # Sluice's own stop says STOPPED again for a run stopped before; Alpine's says the
    # flow is not running.
    outcome = await store.stop(process_id) if process["status"] == "RUNNING" else "NOT RUNNING"
    if outcome == "STOPPED":
        await record(request, "workfiles.stop", process_id, {"status": outcome})
    return JSONResponse({"status": STOPPED_STATUS if outcome == "STOPPED" else NOT_RUNNING_STATUS})


async def results(request: Request) -> Response:
    """The report of an ended run of this workflow, JSON-encoded twice."""
    process = await stores(request).runs.get(request.path_params["process_id"], principal(request))
    if process["workflow_id"] != request.path_params["workflow_id"]:
        raise process_not_found(process["_id"])
    if process["status"] == "RUNNING":
        raise ProcessNotFound(
            f"run {process['_id']!r} has not finished; its results are not ready",
            {"process_id": process["_id"], "status": process["status"]},
        )
    return JSONResponse(dumps(report.run_report(process)).decode())


_WORKFLOW = Param("workflow_id", "path", {"type": "string"}, "workfile id", required=True)
_PROCESS = Param("process_id", "path", {"type": "string"}, "process (run) id", required=True)
_SAVE = Param("saveResult", "query", {"type": "string"}, "ignored: results are always kept")

#: Mounted at ENGINE_PATH. Every route also takes the login session.
endpoints = [
    Endpoint("/workflows/{workflow_id}/run", ("POST",), run, "deposit",
             "Run a workfile (Alpine): 200 with meta.processId",
             params=(_WORKFLOW, _SAVE), errors=(400, 403, 404, 413, 422), sessions=True),
    Endpoint("/processes/{process_id}/query", ("GET",), query, "read",
             "A run's state (Alpine): JSON while running, a sentinel text once ended",
             params=(_PROCESS,), errors=(404,), sessions=True),
    Endpoint("/processes/{process_id}/stop", ("POST",), stop, "work",
             "Stop a run (Alpine)", params=(_PROCESS,), errors=(404,), sessions=True),
    Endpoint("/workflows/{workflow_id}/results/{process_id}", ("GET",), results, "read",
             "An ended run's report as a JSON string (Alpine)", response=str,
             params=(_WORKFLOW, _PROCESS), errors=(404,), sessions=True),
]  # fmt: skip
