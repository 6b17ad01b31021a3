"""The worker's routes for a step's files (service.workfiles.stepfiles).

Both act only while the caller's `X-Sluice-Lease` holds the step's work, and answer
for files of that step alone: `GET .../inputs/{n}` streams the n-th file staged into
its working directory (`config.files.inputs` of the work names their paths in that
order), `PUT .../outputs/{n}` stores the n-th declared output (raw bytes, streamed).
A file streamed out names its path in `X-Sluice-Path`, percent-encoded as UTF-8 (a
header holds Latin-1 only; `out/a.txt` reads as is).
"""

from __future__ import annotations

from urllib.parse import quote

from gridfs import AsyncGridOut
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from service.auth import principal
from service.db import Document
from service.errors import BadRequest, NotFound
from service.gridstream import read_all
from service.jsonio import JSONResponse
from service.params import whole_number
from service.routing import Endpoint, Param
from service.stores import stores
from service.workfiles.stepfiles import inputs_of


async def _step(request: Request) -> tuple[Document, int, int]:
    """The run, the step's index in it and the attempt the lease holds."""
    lease = request.headers.get("x-sluice-lease")
    if not lease:
        raise BadRequest("send the work's lease in the X-Sluice-Lease header")
    held = stores(request)
    work_id = request.path_params["work_id"]
    run_id, attempt = await held.buckets.held_step(work_id, lease, principal(request))
    process = await held.runs.get(run_id)
    for index, step in enumerate(process["steps"]):
        if step["work_id"] == work_id:
            return process, index, attempt
    raise NotFound(f"work {work_id!r} is no step of run {run_id}", {"id": work_id})


def _nth(items: list[str] | list[Document], request: Request, what: str) -> int:
    index = whole_number(request.path_params["index"], "index", maximum=999_999)
    if not 0 <= index < len(items):
        raise NotFound(f"the step has no {what} {index}", {"index": index, "count": len(items)})
    return index


def _file(stream: AsyncGridOut, path: str) -> Response:
    """A stored file's bytes, streamed, with their length and (encoded) path."""
    headers = {"Content-Length": str(stream.length), "X-Sluice-Path": quote(path, safe="/")}
    return StreamingResponse(
        read_all(stream), media_type="application/octet-stream", headers=headers
    )


async def download_input(request: Request) -> Response:
    process, index, _ = await _step(request)
    inputs = inputs_of(process, index)
    item = inputs[_nth(inputs, request, "input")]
    stream = await stores(request).step_files.open(item["bucket"], item["ref"])
    return _file(stream, item["path"])


async def upload_output(request: Request) -> Response:
    process, index, attempt = await _step(request)
    outputs: list[str] = process["operators"][index].get("outputs") or []
    path = outputs[_nth(outputs, request, "declared output")]
    declared = request.headers.get("content-length")
    stored = await stores(request).step_files.receive(
        process["_id"],
        process["steps"][index]["work_id"],
        attempt,
        path,
        request.stream(),
        int(declared) if declared and declared.isdigit() else None,
    )
    return JSONResponse(stored, status_code=201)


async def run_file(request: Request) -> Response:
    """An output file of a run's step, by its id."""
    held = stores(request)
    process = await held.runs.get(request.path_params["process_id"], principal(request))
    file_id = request.path_params["file_id"]
    for step in process["steps"]:
        for item in step.get("files") or []:
            if str(item["id"]) == file_id:
                return _file(await held.step_files.open_output(file_id), item["path"])
    raise NotFound(f"run {process['_id']} has no file {file_id!r}", {"id": file_id})


_PROCESS = Param("process_id", "path", {"type": "string"}, "process (run) id", required=True)
_FILE = Param("file_id", "path", {"type": "string"}, "file id", required=True)
_WORK = Param("work_id", "path", {"type": "string"}, "the step's work id", required=True)
_INDEX = Param("index", "path", {"type": "integer", "minimum": 0}, "position in the list",
               required=True)  # fmt: skip

endpoints = [
    Endpoint("/workfiles/steps/{work_id}/inputs/{index}", ("GET",), download_input, "work",
             "A file staged into a held step's working directory (X-Sluice-Lease)",
             response=bytes, params=(_WORK, _INDEX), errors=(400, 403, 404, 409),
             media_type="application/octet-stream", deadline=False),
    Endpoint("/workfiles/steps/{work_id}/outputs/{index}", ("PUT",), upload_output, "work",
             "Store a declared output of a held step (raw bytes, X-Sluice-Lease)",
             body=bytes, response=dict, params=(_WORK, _INDEX), errors=(400, 403, 404, 409, 413),
             status=201, deadline=False),
    Endpoint("/workfiles/processes/{process_id}/files/{file_id}", ("GET",), run_file, "read",
             "An output file of one of the run's steps", response=bytes,
             params=(_PROCESS, _FILE), errors=(403, 404),
             media_type="application/octet-stream", deadline=False),
]  # fmt: skip
