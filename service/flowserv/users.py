"""User routes of the flowServ surface (`users/...`), on Sluice's user store.

`register` is closed (403) unless SLUICE_FLOWSERV_REGISTER opens it; registered users
get scopes `read` and `deposit` on every pipeline. `login` issues a token valid for
SLUICE_FLOWSERV_TOKEN_TTL seconds on this surface only; `logout` ends it (it is then
refused with 403). Sluice sends no mail: users are active at once (`activate` answers
the user), and a password reset id is handed out by an admin (`password/request`,
admin scope) to be used once with `password/reset`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from schemas.flowserv import Credentials, PasswordReset, ResetRequest, UserRef
from schemas.users import UserRequest
from service.auth.audit import record
from service.auth.principal import Principal, principal
from service.auth.tokens import beyond, within
from service.body import request_json
from service.errors import Forbidden, NotFound, Unauthorized
from service.flowserv.guard import SURFACE, identify, secret
from service.jsonio import JSONResponse
from service.stores import stores
from service.users.store import PRINCIPAL_PREFIX
from service.validation import parse_model

#: What a user who registers may do (on every pipeline).
REGISTERED_SCOPES = ["read", "deposit"]
#: Who creates a registered user, as recorded on it.
REGISTRAR = Principal("users/register", "flowserv", frozenset())


def user(stored: dict[str, object], token: str | None = None) -> dict[str, object]:
    """The flowServ User: `id`, `username`, and `token` when logged in."""
    shown: dict[str, object] = {"id": stored["id"], "username": stored["username"]}
    if token is not None:
        shown["token"] = token
    return shown


async def register(request: Request) -> Response:
    held = stores(request)
    if not held.settings.flowserv_register:
        raise Forbidden(
            "registration is closed (SLUICE_FLOWSERV_REGISTER); an admin creates users",
            {"setting": "SLUICE_FLOWSERV_REGISTER"},
        )
    body = parse_model(Credentials, await request_json(request))
    wanted = parse_model(
        UserRequest,
        {"username": body.username, "password": body.password, "scopes": REGISTERED_SCOPES},
    )
    created = await held.users.create(wanted, REGISTRAR)
    return JSONResponse(user(created), status_code=201)


async def login(request: Request) -> Response:
    body = parse_model(Credentials, await request_json(request))
    held = stores(request)
    async with held.gate.attempt(request):  # password guesses are limited like token guesses
        token, found = await held.users.login(
            body.username, body.password, SURFACE, held.settings.flowserv_token_ttl
        )
    return JSONResponse(user(found, token))


def _session(request: Request) -> str:
    given = secret(request)
    if given is None:
        raise Unauthorized("not logged in: send the token in the api_key header")
    return given


async def logout(request: Request) -> Response:
    """End the login token the request carries; the user it was."""
    given = _session(request)
    held = stores(request)
    _caller, found = await held.users.authenticate(given, SURFACE)
    await held.users.logout(given, SURFACE)
    return JSONResponse(user(found))


async def whoami(request: Request) -> Response:
    """The caller with its token: the user of a login token, else the token itself
    (its name as `id`, its owner as `username`)."""
    given = _session(request)
    caller = await identify(request)
    if caller.name is not None and caller.name.startswith(PRINCIPAL_PREFIX):
        found = await stores(request).users.find(caller.name.removeprefix(PRINCIPAL_PREFIX))
        return JSONResponse(user(found, given))
    name = caller.name or "anonymous"
    return JSONResponse({"id": name, "username": caller.owner or name, "token": given})


async def list_users(request: Request) -> Response:
    """Users the caller may see (a pipeline-limited caller: those within its
    patterns), without tokens."""
    found = await stores(request).users.list(principal(request))
    return JSONResponse({"users": [user(each) for each in found]})


async def activate(request: Request) -> Response:
    """Users are active from creation: the user, if the caller may see it."""
    body = parse_model(UserRef, await request_json(request))
    found = (await stores(request).users.by_ids([body.id])).get(body.id)
    if found is None:
        raise NotFound(f"no user {body.id!r}", {"id": body.id})
    caller = principal(request)
    if not within(found, caller):
        raise beyond(caller, "activate users", list(found["pipelines"]))
    return JSONResponse(user(found))


async def request_reset(request: Request) -> Response:
    body = parse_model(ResetRequest, await request_json(request))
    request_id = await stores(request).users.request_reset(body.username, principal(request))
    await record(request, "user.password_reset_request", body.username)
    return JSONResponse({"requestId": request_id})


async def reset_password(request: Request) -> Response:
    body = parse_model(PasswordReset, await request_json(request))
    changed = await stores(request).users.reset_password(body.requestId, body.password)
    return JSONResponse(user(changed))
