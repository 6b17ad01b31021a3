"""HTTP routes of experiments (`/experiments`), extensions (`/extensions`) and tasks
(`/tasks`). `{ref}` is an experiment's EID (`YYYYMMDD-N`) or UUID."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gridfs import AsyncGridOut
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from schemas.experiments import (
    PAGE_MAX,
    ExecuteRequest,
    Experiment,
    ExperimentChange,
    ExperimentPage,
    ExtensionList,
    FileInfo,
    NewExperiment,
    RemovedFiles,
    TagCount,
    TagsRequest,
    Task,
    TaskPage,
)
from service.auth.audit import record as audit
from service.auth.principal import principal
from service.body import request_json
from service.db import Document
from service.errors import BadRequest
from service.experiments import extensions
from service.experiments.operations import remove_experiment, start_action
from service.gridstream import read_all
from service.jsonio import JSONResponse
from service.params import int_param
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        # In UTC now: an offset pushing it past year 1-9999 cannot be stored (OverflowError).
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be an ISO 8601 time, not {raw!r}", {name: raw}) from None


async def create(request: Request) -> Response:
    new = parse_model(NewExperiment, await request_json(request))
    return JSONResponse(await stores(request).experiments.create(new), status_code=201)


async def find(request: Request) -> Response:
    found, total = await stores(request).experiments.find(
        request.query_params.get("search"),
        request.query_params.getlist("tags") or None,
        _time(request, "start_datetime"),
        _time(request, "end_datetime"),
        int_param(request, "limit", 10),
        int_param(request, "offset", 0),
        stores(request).settings.max_regex_length,
    )
    return JSONResponse({"experiments": found, "total": total})


async def tags(request: Request) -> Response:
    return JSONResponse(await stores(request).experiments.tag_counts())


async def show(request: Request) -> Response:
    return JSONResponse(await stores(request).experiments.get(request.path_params["ref"]))


async def change(request: Request) -> Response:
    values = parse_model(ExperimentChange, await request_json(request))
    return JSONResponse(
        await stores(request).experiments.update(request.path_params["ref"], values)
    )


async def remove(request: Request) -> Response:
    held = stores(request)
    await remove_experiment(
        request, held.experiments, held.files, held.tasks, request.path_params["ref"]
    )
    return JSONResponse(True)


async def add_tags(request: Request) -> Response:
    body = parse_model(TagsRequest, await request_json(request))
    ref = request.path_params["ref"]
    return JSONResponse(await stores(request).experiments.add_tags(ref, body.tags))


async def remove_tag(request: Request) -> Response:
    ref, tag = request.path_params["ref"], request.path_params["tag"]
    return JSONResponse(await stores(request).experiments.remove_tag(ref, tag))


async def files(request: Request) -> Response:
    return JSONResponse(await stores(request).files.listing(request.path_params["ref"]))


async def upload(request: Request) -> Response:
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise BadRequest("Content-Length is not a number")
    entry = await stores(request).files.store(
        request.path_params["ref"],
        request.path_params["name"],
        request.stream(),
        int(declared) if declared is not None else None,
    )
    return JSONResponse(entry)


async def download(request: Request) -> Response:
    entry, stream = await stores(request).files.open(
        request.path_params["ref"], request.path_params["name"]
    )
    return file_response(entry, stream)


def file_response(
    entry: Document, stream: AsyncGridOut, media_type: str = "application/octet-stream"
) -> Response:
    """A stored file's content, streamed, with its length, checksum and time."""
    headers = {
        "content-length": str(stream.length),
        "x-checksum": entry["checksum"],
        "last-modified": entry["modified_at"].strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }
    return StreamingResponse(read_all(stream), media_type=media_type, headers=headers)


async def remove_files(request: Request) -> Response:
    ref = request.path_params["ref"]
    removed = await stores(request).files.remove(ref, request.query_params.getlist("name"))
    await audit(request, "experiments.remove_files", ref, {"names": removed})
    return JSONResponse({"removed": removed})


async def list_extensions(request: Request) -> Response:
    found, invalid = await extensions.load(stores(request).settings.extensions_dir)
    caller = principal(request)
    # An extension's actions queue works of its pipeline: list only those the caller may.
    shown = [e.model_dump(mode="json") for e in found if caller.allows(e.pipeline)]
    return JSONResponse({"extensions": shown, "invalid": invalid})


async def execute(request: Request) -> Response:
    body = parse_model(ExecuteRequest, await request_json(request))
    held = stores(request)
    extension, action = await extensions.find_action(
        stores(request).settings.extensions_dir,
        request.path_params["extension"],
        request.path_params["action"],
    )
    task = await start_action(
        request, held.experiments, held.tasks, extension, action, body.parameters
    )
    return JSONResponse(task, status_code=201)


async def list_tasks(request: Request) -> Response:
    q = request.query_params
    filters: dict[str, Any] = {
        name: q.get(name)
        for name in ("extension_name", "action_name", "experiment_uuid", "username", "status")
    }
    filters["start"] = _time(request, "start_date")
    filters["end"] = _time(request, "end_date")
    found, total = await stores(request).tasks.find(
        filters,
        int_param(request, "limit", 10),
        int_param(request, "offset", 0),
        principal(request),
    )
    return JSONResponse({"tasks": found, "total": total})


async def show_task(request: Request) -> Response:
    task = await stores(request).tasks.get(request.path_params["task_id"], principal(request))
    return JSONResponse(task)


async def cancel(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    task, revoked = await stores(request).tasks.cancel(task_id, principal(request))
    if revoked:
        await audit(request, "tasks.cancel", task_id, {"extension": task["extension_name"]})
    return JSONResponse(task)


def _path(name: str, description: str) -> Param:
    return Param(name, "path", {"type": "string"}, description, required=True)


def _query(name: str, description: str, kind: str = "string", repeated: bool = False) -> Param:
    return Param(name, "query", {"type": kind}, description, repeated=repeated)


_REF = _path("ref", "EID (YYYYMMDD-N) or UUID of the experiment")
_NAME = _path("name", "file name (no path separator)")
_PAGE = (
    _query("limit", f"page size, 1-{PAGE_MAX} (default 10)", "integer"),
    _query("offset", "entries skipped (default 0)", "integer"),
)
_FIND = (
    _query("search", "case-insensitive substring of the title or EID"),
    _query("tags", "match any of these tags", repeated=True),
    _query("start_datetime", "created at or after (ISO 8601; UTC if no offset)"),
    _query("end_datetime", "created at or before (ISO 8601)"),
    *_PAGE,
)
_TASKS = (
    *(_query(n, f"tasks with this {n}") for n in
      ("extension_name", "action_name", "experiment_uuid", "username", "status")),
    _query("start_date", "created at or after (ISO 8601)"),
    _query("end_date", "created at or before (ISO 8601)"),
    *_PAGE,
)  # fmt: skip
_TASK = _path("task_id", "id of the task")

experiment_endpoints = [
    Endpoint("/experiments", ("POST",), create, "deposit", "Create an experiment",
             body=NewExperiment, response=Experiment, errors=(400, 413, 422), status=201),
    Endpoint("/experiments", ("GET",), find, "read",
             "Find experiments, newest first, with the total", response=ExperimentPage,
             params=_FIND, errors=(400,)),
    Endpoint("/experiments/tags", ("GET",), tags, "read",
             "Every tag with its number of experiments", response=list[TagCount]),
    Endpoint("/experiments/{ref}", ("GET",), show, "read", "One experiment", response=Experiment,
             params=(_REF,), errors=(400, 404), experiment="ref"),
    Endpoint("/experiments/{ref}", ("PATCH",), change, "deposit", "Set title and/or description",
             body=ExperimentChange, response=Experiment, params=(_REF,),
             errors=(400, 404, 422)),
    Endpoint("/experiments/{ref}", ("DELETE",), remove, "admin",
             "Remove an experiment with its files and tasks", response=bool, params=(_REF,),
             errors=(400, 404)),
    Endpoint("/experiments/{ref}/tags", ("POST",), add_tags, "deposit", "Add tags",
             body=TagsRequest, response=Experiment, params=(_REF,),
             errors=(400, 404, 409, 422)),
    Endpoint("/experiments/{ref}/tags/{tag:path}", ("DELETE",), remove_tag, "deposit",
             "Remove a tag (one holding a / too)",
             response=Experiment, params=(_REF, _path("tag", "the tag")), errors=(400, 404)),
    Endpoint("/experiments/{ref}/files", ("GET",), files, "read", "The experiment's files",
             response=list[FileInfo], params=(_REF,), errors=(400, 404), experiment="ref"),
    Endpoint("/experiments/{ref}/files", ("DELETE",), remove_files, "admin",
             "Remove files, all or nothing (409 naming missing ones)", response=RemovedFiles,
             params=(_REF, _query("name", "file to remove", repeated=True)),
             errors=(400, 404, 409)),
    Endpoint("/experiments/{ref}/files/{name:path}", ("PUT",), upload, "deposit",
             "Upload a file (raw body, streamed); replaces one of the same name atomically",
             body=bytes, response=FileInfo, params=(_REF, _NAME),
             errors=(400, 404, 409, 413), deadline=False, experiment="ref"),
    Endpoint("/experiments/{ref}/files/{name:path}", ("GET",), download, "read",
             "Download a file (streamed)", params=(_REF, _NAME), errors=(400, 404),
             media_type="application/octet-stream", experiment="ref"),
]  # fmt: skip

extension_endpoints = [
    Endpoint("/extensions", ("GET",), list_extensions, "read",
             "Extensions declared by the manifests (re-read each time)",
             response=ExtensionList),
    Endpoint("/extensions/{extension}/{action}", ("POST",), execute, "deposit",
             "Run an extension action: check its parameters, queue it, return the task",
             body=ExecuteRequest, response=Task,
             params=(_path("extension", "extension name"), _path("action", "action name")),
             errors=(400, 404, 422)),
]  # fmt: skip

task_endpoints = [
    Endpoint("/tasks", ("GET",), list_tasks, "read", "Find tasks, newest first, with the total",
             response=TaskPage, params=_TASKS, errors=(400,)),
    Endpoint("/tasks/{task_id}", ("GET",), show_task, "read", "One task", response=Task,
             params=(_TASK,), errors=(404,)),
    Endpoint("/tasks/{task_id}/cancel", ("POST",), cancel, "work",
             "Revoke a queued task or stop a running one (idempotent)", response=Task,
             params=(_TASK,), errors=(404, 409)),
]  # fmt: skip

#: Every route of this module, mounted at the root.
endpoints = [*experiment_endpoints, *extension_endpoints, *task_endpoints]
