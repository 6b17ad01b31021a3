"""The route table of the flowServ surface, mounted at SLUICE_FLOWSERV_PREFIX, and its
service descriptor (`GET /`).

Every route is an `Endpoint` admitted by the surface's own guard
(`service.flowserv.guard`): the token travels in `api_key`. The download routes are
capability URLs (public; their ids are 128-bit random) unless
SLUICE_FLOWSERV_DOWNLOAD_TOKEN makes them need scope `read`.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from schemas.flowserv import Credentials, PasswordReset, ResetRequest, RunStart, UserRef
from schemas.leaderboard_groups import GroupChange, GroupRequest
from schemas.leaderboards import CancelRun
from service import __version__
from service.flowserv import runs, users, workflows
from service.flowserv.guard import guarded, optional_caller
from service.jsonio import JSONResponse
from service.leaderboards import group_routes as groups
from service.leaderboards.group_routes import FILE, GROUP, WORKFLOW
from service.routing import Endpoint, Param, Scope
from service.settings import Settings
from service.stores import stores

#: The descriptor's route table: the 31 route ids of the flowServ API and their
#: patterns relative to the base URL (the 0.9.4 client's own, which it uses anyway).
ROUTES: dict[str, str] = {
    "files:delete": "uploads/{userGroupId}/files/{fileId}",
    "files:download": "uploads/{userGroupId}/files/{fileId}",
    "files:list": "uploads/{userGroupId}/files",
    "files:upload": "uploads/{userGroupId}/files",
    "groups:create": "workflows/{workflowId}/groups",
    "groups:delete": "groups/{userGroupId}",
    "groups:get": "groups/{userGroupId}",
    "groups:list": "groups",
    "groups:runs": "groups/{userGroupId}/runs?state={state}",
    "groups:update": "groups/{userGroupId}",
    "leaderboard": "workflows/{workflowId}/leaderboard?orderBy={orderBy}&includeAll={includeAll}",
    "runs:cancel": "runs/{runId}",
    "runs:delete": "runs/{runId}",
    "runs:download:archive": "runs/{runId}/downloads/archive",
    "runs:download:file": "runs/{runId}/downloads/files/{fileId}",
    "runs:get": "runs/{runId}",
    "runs:start": "groups/{userGroupId}/runs",
    "service": "",
    "users:activate": "users/activate",
    "users:list": "users",
    "users:login": "users/login",
    "users:logout": "users/logout",
    "users:pwd:request": "users/password/request",
    "users:pwd:reset": "users/password/reset",
    "users:register": "users/register",
    "users:whoami": "users/whoami",
    "workflows:download:archive": "workflows/{workflowId}/downloads/archive",
    "workflows:download:file": "workflows/{workflowId}/downloads/files/{fileId}",
    "workflows:get": "workflows/{workflowId}",
    "workflows:groups": "workflows/{workflowId}/groups",
    "workflows:list": "workflows",
}


def base_url(request: Request) -> str:
    """The surface's base URL: SLUICE_FLOWSERV_URL, else the one the request came in on."""
    settings = stores(request).settings
    if settings.flowserv_url:
        return settings.flowserv_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}{settings.flowserv_prefix}"


async def descriptor(request: Request) -> Response:
    """The ServiceDescriptor: name, version, base URL, routes; `username` for a caller
    with a valid token."""
    body: dict[str, object] = {
        "name": "Sluice",
        "version": __version__,
        "url": base_url(request),
        "routes": [{"id": key, "pattern": pattern} for key, pattern in ROUTES.items()],
    }
    caller = await optional_caller(request)
    if caller is not None and caller.name is not None:
        body["username"] = caller.owner or caller.name
    return JSONResponse(body)


RUN = Param("runId", "path", {"type": "string"}, "run id", required=True)
OUTPUT = Param("fileId", "path", {"type": "string"}, "output file id", required=True)
ORDER_BY = Param("orderBy", "query", {"type": "string"},
                 "col:DESC,col2:ASC; empty: the schema's default order")  # fmt: skip
INCLUDE_ALL = Param("includeAll", "query", {"type": "string"},
                    "True: every successful run, not the best of each group")  # fmt: skip
STATE = Param("state", "query", {"type": "string"}, "a run state; None: every state")


def _endpoints(download: Scope) -> list[Endpoint]:
    octet = "application/octet-stream"
    return [
        Endpoint("/", ("GET",), descriptor, "public",
                 "flowServ service descriptor (name, version, url, routes)"),
        # Workflows (installed templates) and their leaderboards.
        Endpoint("/workflows", ("GET",), workflows.list_workflows, "read",
                 "Workflows of the caller's pipelines", errors=(403,)),
        Endpoint("/workflows/{workflowId}", ("GET",), workflows.get_workflow, "read",
                 "A workflow's parameters, latest post-processing run and the caller's groups",
                 params=(WORKFLOW,), errors=(403, 404)),
        Endpoint("/workflows/{workflowId}/leaderboard", ("GET",), workflows.leaderboard,
                 "read", "The leaderboard: best run per group unless includeAll",
                 params=(WORKFLOW, ORDER_BY, INCLUDE_ALL), errors=(400, 403, 404)),
        Endpoint("/workflows/{workflowId}/downloads/archive", ("GET",),
                 workflows.download_archive, download,
                 "The latest post-processing outputs as tar.gz (a capability URL)",
                 params=(WORKFLOW,), errors=(404,), media_type="application/gzip",
                 deadline=False),
        Endpoint("/workflows/{workflowId}/downloads/files/{fileId}", ("GET",),
                 workflows.download_file, download,
                 "A post-processing output file (a capability URL)", params=(WORKFLOW, OUTPUT),
                 errors=(404,), media_type=octet, deadline=False),
        # Groups.
        Endpoint("/workflows/{workflowId}/groups", ("POST",), groups.create_group, "deposit",
                 "Create a group (name, members, parameters, config)", params=(WORKFLOW,),
                 body=GroupRequest,
                 errors=(400, 403, 404), status=201),
        Endpoint("/workflows/{workflowId}/groups", ("GET",), groups.list_workflow_groups,
                 "read", "The caller's groups of a workflow", params=(WORKFLOW,),
                 errors=(403, 404)),
        Endpoint("/groups", ("GET",), groups.list_groups, "read", "The caller's groups",
                 errors=(403,)),
        Endpoint("/groups/{userGroupId}", ("GET",), groups.get_group, "read",
                 "A group with members, parameters, files and runs", params=(GROUP,),
                 errors=(403, 404)),
        Endpoint("/groups/{userGroupId}", ("POST", "PUT"), groups.update_group, "deposit",
                 "Rename a group or replace its members (the client POSTs)", params=(GROUP,),
                 body=GroupChange,
                 errors=(400, 403, 404)),
        Endpoint("/groups/{userGroupId}", ("DELETE",), groups.delete_group, "deposit",
                 "Delete a group with its runs and files", params=(GROUP,), errors=(403, 404),
                 status=204),
        # Uploaded files.
        Endpoint("/uploads/{userGroupId}/files", ("POST",), groups.upload_file, "deposit",
                 "Upload a file (multipart part `files`; SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES)",
                 params=(GROUP,), errors=(400, 403, 404, 413), status=201, deadline=False),
        Endpoint("/uploads/{userGroupId}/files", ("GET",), groups.list_files, "read",
                 "A group's uploaded files", params=(GROUP,), errors=(403, 404)),
        Endpoint("/uploads/{userGroupId}/files/{fileId}", ("GET",), groups.download_file,
                 download, "An uploaded file (a capability URL)", params=(GROUP, FILE),
                 errors=(404,), media_type=octet, deadline=False),
        Endpoint("/uploads/{userGroupId}/files/{fileId}", ("DELETE",), groups.delete_file,
                 "deposit", "Delete an uploaded file", params=(GROUP, FILE),
                 errors=(403, 404), status=204),
        # Runs.
        Endpoint("/groups/{userGroupId}/runs", ("POST",), runs.start_run, "deposit",
                 "Start a run with arguments [{name, value}]", params=(GROUP,), body=RunStart,
                 errors=(400, 403, 404), status=201),
        Endpoint("/groups/{userGroupId}/runs", ("GET",), runs.list_runs, "read",
                 "A group's runs", params=(GROUP, STATE), errors=(400, 403, 404)),
        Endpoint("/runs/{runId}", ("GET",), runs.get_run, "read", "A run", params=(RUN,),
                 errors=(403, 404)),
        Endpoint("/runs/{runId}", ("PUT",), runs.cancel_run, "deposit",
                 "Cancel an active run ({reason}); 400 if it is not active", params=(RUN,),
                 body=CancelRun,
                 errors=(400, 403, 404)),
        Endpoint("/runs/{runId}", ("DELETE",), runs.delete_run, "deposit",
                 "Delete a run", params=(RUN,), errors=(403, 404), status=204),
        Endpoint("/runs/{runId}/downloads/archive", ("GET",), runs.download_archive, download,
                 "A successful run's outputs as tar.gz (a capability URL)", params=(RUN,),
                 errors=(404,), media_type="application/gzip", deadline=False),
        Endpoint("/runs/{runId}/downloads/files/{fileId}", ("GET",), runs.download_file,
                 download, "A successful run's output file (a capability URL)",
                 params=(RUN, OUTPUT), errors=(404,), media_type=octet, deadline=False),
        # Users.
        Endpoint("/users/register", ("POST",), users.register, "public",
                 "Register a user (403 unless SLUICE_FLOWSERV_REGISTER)", body=Credentials,
                 errors=(400, 403), status=201),
        Endpoint("/users/login", ("POST",), users.login, "public",
                 "Log in: the user with a token for this surface (SLUICE_FLOWSERV_TOKEN_TTL)",
                 body=Credentials,
                 errors=(400, 403, 429)),
        Endpoint("/users/logout", ("POST",), users.logout, "public",
                 "End the login token in api_key; the user it was", errors=(403,)),
        Endpoint("/users/whoami", ("GET",), users.whoami, "read",
                 "The caller, with its token", errors=(403,)),
        Endpoint("/users", ("GET",), users.list_users, "read",
                 "Users the caller may see (id, username)", errors=(403,)),
        Endpoint("/users/activate", ("POST",), users.activate, "admin",
                 "Users are active from creation: the user", body=UserRef,
                 errors=(400, 403, 404)),
        Endpoint("/users/password/request", ("POST",), users.request_reset, "admin",
                 "A password reset id for a user (SLUICE_PASSWORD_RESET_TTL, used once)",
                 body=ResetRequest,
                 errors=(400, 403, 404)),
        Endpoint("/users/password/reset", ("POST",), users.reset_password, "public",
                 "Set a password with a reset id; ends the user's sessions", body=PasswordReset,
                 errors=(400,)),
    ]  # fmt: skip


def endpoints(settings: Settings) -> list[Endpoint]:
    """The surface's routes with these settings, each admitted by its guard: the
    downloads are public (capability URLs) unless SLUICE_FLOWSERV_DOWNLOAD_TOKEN."""
    download: Scope = "read" if settings.flowserv_download_token else "public"
    return [replace(endpoint, guard=guarded) for endpoint in _endpoints(download)]
