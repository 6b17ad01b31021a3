"""Chorus routes (`<SLUICE_ALPINE_PREFIX>/api/...`): sessions, version, workspaces and
workfiles, as the Alpine client calls them.

Success answers are Chorus' `{"response": ...}` envelope (lists with `pagination`),
except `VERSION` (text) and a download (the bytes); errors are Sluice's one error body,
which has no `response`, so the client's "not found" checks see them as such. Login
answers 201 and sets the session cookie (`Path=/`, so the engine routes get it too).
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from service import __version__
from service.alpine import present
from service.alpine.forms import parse_multipart, read_form, read_object, whole_number
from service.auth import caller_name, principal, record
from service.auth.guard import SESSION_COOKIE, session_secret
from service.body import read_body
from service.errors import BadRequest, PayloadTooLarge, Unauthorized, bytes_too_large
from service.routing import Endpoint, Param
from service.stores import stores
from service.workfiles.routes import download
from service.workfiles.store import check_name, info

#: The multipart part holding the workfile's bytes.
CONTENTS_PART = "workfile[versions_attributes][0][contents]"
#: Bytes a multipart upload may carry besides the workfile itself (boundaries, fields).
FORM_OVERHEAD = 64 * 1024
#: Rows per page when the client names none.
DEFAULT_PER_PAGE = 50


def _session(request: Request) -> str:
    secret = session_secret(request)
    if secret is None:
        raise Unauthorized(
            "not logged in: send the session as ?session_id=, the x-token header or the "
            "session cookie",
            {"reason": "missing"},
        )
    return secret


async def login(request: Request) -> Response:
    """Log in with form fields `username` and `password`: 201 with the session."""
    form = await read_form(request)
    username, password = form.get("username"), form.get("password")
    if not username or password is None:
        raise BadRequest("log in with the form fields username and password")
    held = stores(request)
    async with held.gate.attempt(request):  # password guesses are limited like token guesses
        secret, user = await held.users.login(username, password)
    response = present.envelope({"session_id": secret, "user": present.user(user)}, status_code=201)
    ttl = stores(request).settings.session_ttl
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=math.ceil(ttl), path="/", httponly=True, samesite="lax"
    )
    return response


async def session_status(request: Request) -> Response:
    """The logged-in user; 401 without a live session."""
    _caller, user = await stores(request).users.authenticate(_session(request))
    return present.envelope({"user": present.user(user)})


async def logout(request: Request) -> Response:
    """End the session; later requests with it get 401."""
    await stores(request).users.logout(_session(request))
    response = present.envelope({})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def version(request: Request) -> Response:
    """The server's version, as text."""
    return PlainTextResponse(f"sluice-{__version__}")


async def _paging(request: Request) -> tuple[int, int]:
    # The client sends paging in the query string (workspaces) or in a JSON body on the
    # GET (workfiles); the body wins.
    asked = {**request.query_params, **await read_object(request)}
    return (
        whole_number(asked.get("page"), "page", 1),
        whole_number(asked.get("per_page"), "per_page", DEFAULT_PER_PAGE),
    )


async def list_workspaces(request: Request) -> Response:
    """One page of workspaces by name (every workspace: Sluice has no memberships)."""
    page, per_page = await _paging(request)
    cap = stores(request).settings.max_view_results
    found, total = await stores(request).workfiles.workspaces.page(page, per_page, cap)
    return present.envelope(
        [present.workspace(stored) for stored in found],
        pagination=present.pagination(page, per_page, total),
    )


async def get_workspace(request: Request) -> Response:
    stored = await stores(request).workfiles.workspaces.get(request.path_params["workspace_id"])
    return present.envelope(present.workspace(stored))


async def create_workspace(request: Request) -> Response:
    """Create a workspace from form fields `name`, `public` and `summary`."""
    form = await read_form(request)
    name = check_name("name", form.get("name"))
    summary = form.get("summary", "")
    if len(summary) > 5000:
        raise BadRequest("summary must be at most 5000 characters")
    public = form.get("public", "false").strip().lower() == "true"
    stored = await stores(request).workfiles.workspaces.create(
        name, caller_name(request), summary, public
    )
    return present.envelope(present.workspace(stored), status_code=201)


async def delete_workspace(request: Request) -> Response:
    """Delete an empty workspace (409 while it holds workfiles)."""
    store = stores(request).workfiles
    removed = await store.workspaces.delete(
        request.path_params["workspace_id"], store.holds_workfiles
    )
    await record(request, "workspaces.delete", removed["name"])
    return present.envelope({})


async def _workfile_upload(request: Request) -> tuple[str, bytes]:
    """The uploaded file's name and bytes; 413 past SLUICE_MAX_WORKFILE_BYTES."""
    limit = stores(request).settings.max_workfile_bytes
    too_large = bytes_too_large("the workfile", "SLUICE_MAX_WORKFILE_BYTES", limit)
    try:
        body = await read_body(request, limit + FORM_OVERHEAD, "SLUICE_MAX_WORKFILE_BYTES")
    except PayloadTooLarge:
        raise too_large from None
    parts = [part for part in parse_multipart(body) if part.name == CONTENTS_PART]
    if len(parts) != 1 or parts[0].filename is None:
        raise BadRequest(
            f"the upload needs exactly one file, in the multipart part {CONTENTS_PART!r}",
            {"part": CONTENTS_PART},
        )
    if len(parts[0].content) > limit:
        raise too_large
    # The client sends the local file's base name; never trust a path in it.
    file_name = parts[0].filename.replace("\\", "/").rsplit("/", 1)[-1]
    return file_name, parts[0].content


async def upload_workfile(request: Request) -> Response:
    """Upload a workfile (multipart, as the client sends it) into the workspace; a known
    name gets a new version."""
    store = stores(request).workfiles
    workspace = await store.workspaces.get(request.path_params["workspace_id"])
    file_name, content = await _workfile_upload(request)
    stored = await store.upload(
        workspace["name"], file_name, caller_name(request), content, principal(request)
    )
    return present.envelope(present.workfile(stored), status_code=201)


async def list_workfiles(request: Request) -> Response:
    """One page of the workspace's workfiles by name."""
    store = stores(request).workfiles
    workspace = await store.workspaces.get(request.path_params["workspace_id"])
    page, per_page = await _paging(request)
    found = await store.page(workspace["name"], page, per_page, None, principal(request))
    return present.envelope(
        [present.workfile(item) for item in found["workfiles"]],
        pagination=present.pagination(page, per_page, found["total"]),
    )


async def get_workfile(request: Request) -> Response:
    stored = await stores(request).workfiles.get(
        request.path_params["workfile_id"], principal(request)
    )
    return present.envelope(present.workfile(info(stored)))


async def delete_workfile(request: Request) -> Response:
    """Delete a workfile and all its versions: 200 (the client wants exactly that)."""
    workfile_id = request.path_params["workfile_id"]
    await stores(request).workfiles.delete(workfile_id, principal(request))
    await record(request, "workfiles.delete", workfile_id)
    return present.envelope({})


_WORKSPACE = Param("workspace_id", "path", {"type": "string"}, "workspace id", required=True)
_WORKFILE = Param("workfile_id", "path", {"type": "string"}, "workfile id", required=True)
_PAGING = (
    Param("page", "query", {"type": "integer", "minimum": 1}, "page number, from 1"),
    Param("per_page", "query", {"type": "integer", "minimum": 1},
          "rows per page (at most SLUICE_MAX_VIEW_RESULTS); also read from a JSON body"),
)  # fmt: skip
_SESSION = Param("session_id", "query", {"type": "string"}, "the login session")

#: Mounted at `<SLUICE_ALPINE_PREFIX>/api`. Every route also takes the login session.
endpoints = [
    Endpoint("/sessions", ("POST",), login, "public",
             "Log in with form fields username and password; 201 with the session",
             body=bytes, status=201, errors=(400, 401, 413, 429), sessions=True),
    Endpoint("/sessions", ("GET",), session_status, "public", "The logged-in user",
             params=(_SESSION,), errors=(401,), sessions=True),
    Endpoint("/sessions", ("DELETE",), logout, "public", "Log out: end the session",
             params=(_SESSION,), errors=(401,), sessions=True),
    Endpoint("/VERSION", ("GET",), version, "public", "The server's version, as text",
             response=str, media_type="text/plain", sessions=True),
    Endpoint("/workspaces", ("GET",), list_workspaces, "read", "One page of workspaces",
             params=(_SESSION, *_PAGING), errors=(400, 413), sessions=True),
    Endpoint("/workspaces", ("POST",), create_workspace, "deposit",
             "Create a workspace from form fields name, public, summary", body=bytes,
             params=(_SESSION,), status=201, errors=(400, 409, 413), sessions=True),
    Endpoint("/workspaces/{workspace_id}", ("GET",), get_workspace, "read", "A workspace",
             params=(_WORKSPACE, _SESSION), errors=(404,), sessions=True),
    Endpoint("/workspaces/{workspace_id}", ("DELETE",), delete_workspace, "admin",
             "Delete an empty workspace", params=(_WORKSPACE, _SESSION), errors=(404, 409),
             sessions=True),
    Endpoint("/workspaces/{workspace_id}/workfiles", ("POST",), upload_workfile, "deposit",
             "Upload a workfile as a multipart form", body=bytes,
             params=(_WORKSPACE, _SESSION), status=201, errors=(400, 404, 409, 413, 422),
             sessions=True),
    Endpoint("/workspaces/{workspace_id}/workfiles", ("GET",), list_workfiles, "read",
             "One page of a workspace's workfiles, by name",
             params=(_WORKSPACE, _SESSION, *_PAGING), errors=(400, 404, 413), sessions=True),
    Endpoint("/workfiles/{workfile_id}", ("GET",), get_workfile, "read", "A workfile",
             params=(_WORKFILE, _SESSION), errors=(404,), sessions=True),
    Endpoint("/workfiles/{workfile_id}", ("DELETE",), delete_workfile, "admin",
             "Delete a workfile and all its versions", params=(_WORKFILE, _SESSION),
             errors=(404,), sessions=True),
    Endpoint("/workfiles/{workfile_id}/download", ("GET",), download, "read",
             "The latest version's bytes", response=bytes, media_type="application/yaml",
             params=(_WORKFILE, _SESSION), errors=(404,), sessions=True),
]  # fmt: skip
