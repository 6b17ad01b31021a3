"""Admin routes of users (`/admin/users`): create, list, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from schemas.users import UserInfo, UserRequest
from service.auth.audit import record
from service.auth.principal import principal
from service.body import request_json
from service.jsonio import JSONResponse
from service.routing import Endpoint, Param
from service.stores import stores
from service.validation import parse_model


async def create_user(request: Request) -> Response:
    wanted = parse_model(UserRequest, await request_json(request))
    created = await stores(request).users.create(wanted, principal(request))
    await record(request, "user.create", created["username"],
                 {"scopes": created["scopes"], "pipelines": created["pipelines"]})  # fmt: skip
    return JSONResponse(created, status_code=201)


async def list_users(request: Request) -> Response:
    return JSONResponse(await stores(request).users.list(principal(request)))


async def delete_user(request: Request) -> Response:
    username = request.path_params["username"]
    removed = await stores(request).users.delete(username, principal(request))
    await record(request, "user.delete", username)
    return JSONResponse(removed)


_USERNAME = Param("username", "path", {"type": "string"}, "user name", required=True)

#: Mounted under /admin, next to the token routes.
endpoints = [
    Endpoint("/users", ("POST",), create_user, "admin",
             "Create a user who logs in with a password (stored as a scrypt hash)",
             body=UserRequest, response=UserInfo, errors=(409, 422), status=201),
    Endpoint("/users", ("GET",), list_users, "admin", "Every user (never a password hash)",
             response=list[UserInfo]),
    Endpoint("/users/{username}", ("DELETE",), delete_user, "admin",
             "Delete a user and end all its login sessions",
             response=UserInfo, params=(_USERNAME,), errors=(404,)),
]  # fmt: skip
