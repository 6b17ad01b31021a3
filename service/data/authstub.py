"""The AERO client's token refresh, answered (SLUICE_AERO_AUTH_STUB, off by default).

The unmodified AERO client refreshes its Globus token at import, so it needs an auth
server before its first request (`GLOBUS_SDK_SERVICE_URL_AUTH=<sluice>/aero-auth/`),
then sends the refresh token itself as its bearer. With a Sluice token stored as that
refresh token, this route answers the refresh grant with the same token, and only when
it is a valid Sluice token: it never issues a credential of its own.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from service.body import read_body
from service.errors import BadRequest, Unauthorized
from service.jsonio import JSONResponse
from service.routing import Endpoint
from service.stores import stores

PATH = "/aero-auth/v2/oauth2/token"
#: Largest form accepted (a grant is a few hundred bytes).
MAX_FORM_BYTES = 8192
#: Seconds the answer says the token lives: the client never refreshes again.
EXPIRES_IN = 86400


class InvalidGrant(BadRequest):
    code = "invalid_grant"


async def refresh(request: Request) -> Response:
    """`grant_type=refresh_token&refresh_token=T&client_id=C`: T back as the one token
    of resource server C, if T is a valid Sluice token; 400 invalid_grant otherwise."""
    form = parse_qs((await read_body(request, MAX_FORM_BYTES)).decode("utf-8", "replace"))
    grant = form.get("grant_type", [""])[0]
    secret = form.get("refresh_token", [""])[0].strip()
    client = form.get("client_id", ["aero"])[0][:256] or "aero"
    if grant != "refresh_token" or not secret:
        raise InvalidGrant("only the refresh_token grant with a refresh_token is answered")
    gate = stores(request).gate
    try:
        async with gate.attempt(request):  # guesses count against the failed-authentication limit
            caller = await stores(request).tokens.authenticate(secret)
    except Unauthorized as exc:
        raise InvalidGrant(
            f"the refresh token is not a valid Sluice token: {exc.message}"
        ) from None
    return JSONResponse(
        {
            "access_token": secret,
            "refresh_token": secret,
            "expires_in": EXPIRES_IN,
            "resource_server": client,
            "scope": " ".join(sorted(caller.scopes)),
            "token_type": "Bearer",
            "other_tokens": [],
        }
    )


endpoints = [
    Endpoint(PATH, ("POST",), refresh, "public",
             "AERO client token refresh: a valid Sluice token answered as itself "
             "(SLUICE_AERO_AUTH_STUB)", body=bytes, errors=(400, 413, 429)),
]  # fmt: skip
