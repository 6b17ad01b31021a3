"""Routes of leaderboard groups and their uploaded files, in the flowServ wire shapes
(GroupHandle, GroupListing, FileHandle, FileListing): the same handlers serve the
native routes (`/leaderboards/workflows/{workflowId}/groups`, `/leaderboards/groups/...`)
and the flowServ
surface (`service.flowserv.routes`).

A group's file download checks the caller's access when the route admitted one (the
native route; the flowServ one with SLUICE_FLOWSERV_DOWNLOAD_TOKEN); otherwise it is a
capability URL: the upload id (128 random bits) is the secret.
"""

from __future__ import annotations

import mimetypes

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from schemas.leaderboard_groups import GroupChange, GroupRequest
from service.aqueduct.multipart import FormPart
from service.auth.audit import record
from service.auth.principal import Principal, principal
from service.body import request_json
from service.db import Document
from service.flowserv.present import parameter, run_descriptor
from service.gridstream import download_headers, read_all
from service.jsonio import JSONResponse
from service.leaderboards import board
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model

#: The multipart fields an upload's content may come in: the 0.9.4 client's `files`,
#: and `file` as flowServ's own server and Swagger file name it.
UPLOAD_FIELDS = ("files", "file")


def descriptor(group: Document) -> Document:
    """A group in a GroupListing: id, name, workflow."""
    return {"id": group["_id"], "name": group["name"], "workflow": group["workflow"]}


async def group_handle(request: Request, group: Document, runs: bool = False) -> Document:
    """The GroupHandle: members with their names, the workflow's parameters followed
    by the group's own, its files, its config, and with `runs` its RunDescriptors."""
    held = stores(request)
    workflow = await board.workflow(request, group["workflow"])
    known = await held.users.by_ids(group["members"])
    members = [
        {"id": member, "username": known[member]["username"]}
        for member in group["members"]
        if member in known
    ]
    handle: Document = {
        **descriptor(group),
        "members": members,
        "parameters": [parameter(p) for p in [*workflow["parameters"], *group["parameters"]]],
        "files": await held.uploads.listing(group["_id"]),
        "config": group["config"],
    }
    if runs:
        found = await board.group_runs(request, group["_id"])
        handle["runs"] = [run_descriptor(run) for run in found]
    return handle


def _caller(request: Request) -> Principal:
    return principal(request)


async def create_group(request: Request) -> Response:
    workflow = await board.workflow(request, request.path_params["workflowId"])
    wanted = parse_model(GroupRequest, await request_json(request))
    group = await stores(request).groups.create(
        workflow["_id"], workflow["pipeline"], wanted, _caller(request)
    )
    await record(request, "leaderboards.group_create", group["_id"], {"name": group["name"]})
    return JSONResponse(await group_handle(request, group), status_code=201)


async def list_workflow_groups(request: Request) -> Response:
    """The caller's groups of one workflow (403 outside its pipelines)."""
    workflow = await board.workflow(request, request.path_params["workflowId"])
    caller = _caller(request)
    caller.check_pipelines([workflow["pipeline"]])
    found = await stores(request).groups.listing(caller, workflow["_id"])
    return JSONResponse({"groups": [descriptor(group) for group in found]})


async def list_groups(request: Request) -> Response:
    """The caller's groups of every workflow (a user: those it is a member of)."""
    found = await stores(request).groups.listing(_caller(request))
    return JSONResponse({"groups": [descriptor(group) for group in found]})


async def get_group(request: Request) -> Response:
    group_id = request.path_params["userGroupId"]
    group = await stores(request).groups.access(group_id, _caller(request))
    return JSONResponse(await group_handle(request, group, runs=True))


async def update_group(request: Request) -> Response:
    change = parse_model(GroupChange, await request_json(request))
    group = await stores(request).groups.update(
        request.path_params["userGroupId"], change, _caller(request)
    )
    await record(request, "leaderboards.group_update", group["_id"], change.model_dump())
    return JSONResponse(await group_handle(request, group))


async def delete_group(request: Request) -> Response:
    """Delete a group with its runs and uploaded files."""
    held = stores(request)
    group = await held.groups.delete(request.path_params["userGroupId"], _caller(request))
    await board.remove_group_runs(request, group["_id"])
    await held.uploads.remove_group(group["_id"])
    await record(request, "leaderboards.group_delete", group["_id"], {"name": group["name"]})
    return Response(status_code=204)


async def upload_file(request: Request) -> Response:
    """Store the multipart part `files` (or `file`), named by its filename, streamed."""
    held = stores(request)
    group = await held.groups.access(request.path_params["userGroupId"], _caller(request))
    part = FormPart(
        request,
        UPLOAD_FIELDS,
        held.settings.leaderboard_max_upload_bytes,
        "SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES",
    )
    entry = await held.uploads.store(group["_id"], lambda: part.filename, part.chunks())
    await record(request, "leaderboards.upload", group["_id"], entry)
    return JSONResponse(entry, status_code=201)


async def list_files(request: Request) -> Response:
    held = stores(request)
    group = await held.groups.access(request.path_params["userGroupId"], _caller(request))
    return JSONResponse({"files": await held.uploads.listing(group["_id"])})


def admitted(request: Request) -> Principal | None:
    """The caller the route's guard admitted, None on a capability (public) route."""
    caller = getattr(request.state, "principal", None)
    return caller if isinstance(caller, Principal) else None


async def download_file(request: Request) -> Response:
    """An uploaded file's bytes (streamed, with Content-Length, never compressed)."""
    held = stores(request)
    group_id, file_id = request.path_params["userGroupId"], request.path_params["fileId"]
    caller = admitted(request)
    if caller is not None and held.settings.auth != "off":
        await held.groups.access(group_id, caller)
    entry, opened = await held.uploads.open(group_id, file_id)
    media_type = mimetypes.guess_type(entry["name"])[0] or "application/octet-stream"
    headers = download_headers(entry["name"], entry["size"])
    return StreamingResponse(read_all(opened), media_type=media_type, headers=headers)


async def delete_file(request: Request) -> Response:
    held = stores(request)
    group = await held.groups.access(request.path_params["userGroupId"], _caller(request))
    removed = await held.uploads.delete(group["_id"], request.path_params["fileId"])
    await record(request, "leaderboards.upload_delete", group["_id"], removed)
    return Response(status_code=204)


WORKFLOW = Param("workflowId", "path", {"type": "string"}, "workflow (template) id", required=True)
GROUP = Param("userGroupId", "path", {"type": "string"}, "group id", required=True)
FILE = Param("fileId", "path", {"type": "string"}, "uploaded file id", required=True)

#: The native routes (mounted at /leaderboards, beside the template and run routes).
endpoints = [
    Endpoint("/workflows/{workflowId}/groups", ("POST",), create_group, "deposit",
             "Create a group of a workflow (the creator, a user, is a member)",
             body=GroupRequest, params=(WORKFLOW,), errors=(400, 403, 404, 409, 422),
             status=201),
    Endpoint("/workflows/{workflowId}/groups", ("GET",), list_workflow_groups, "read",
             "The caller's groups of a workflow", params=(WORKFLOW,), errors=(403, 404)),
    Endpoint("/groups", ("GET",), list_groups, "read", "The caller's groups"),
    Endpoint("/groups/{userGroupId}", ("GET",), get_group, "read",
             "A group with its members, parameters, files and runs", params=(GROUP,),
             errors=(403, 404)),
    Endpoint("/groups/{userGroupId}", ("PATCH",), update_group, "deposit",
             "Rename a group or replace its members", body=GroupChange, params=(GROUP,),
             errors=(400, 403, 404, 409, 422)),
    Endpoint("/groups/{userGroupId}", ("DELETE",), delete_group, "deposit",
             "Delete a group with its runs and files", params=(GROUP,), errors=(403, 404),
             status=204),
    Endpoint("/groups/{userGroupId}/files", ("POST",), upload_file, "deposit",
             "Upload a file (multipart part `files`, named by its filename; streamed; "
             "SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES)", params=(GROUP,),
             errors=(400, 403, 404, 413), status=201, deadline=False),
    Endpoint("/groups/{userGroupId}/files", ("GET",), list_files, "read",
             "A group's uploaded files", params=(GROUP,), errors=(403, 404)),
    Endpoint("/groups/{userGroupId}/files/{fileId}", ("GET",), download_file, "read",
             "Download an uploaded file (streamed)", params=(GROUP, FILE), errors=(403, 404),
             media_type="application/octet-stream", deadline=False),
    Endpoint("/groups/{userGroupId}/files/{fileId}", ("DELETE",), delete_file, "deposit",
             "Delete an uploaded file", params=(GROUP, FILE), errors=(403, 404), status=204),
]  # fmt: skip
