"""Route-walk cases of the flowServ surface (SLUICE_FLOWSERV_PREFIX, default
/flowserv/api/v1): its token travels in `api_key`, but the native headers the walk
sends are accepted too."""

from __future__ import annotations

from typing import Any

from tests.service.auth.pipeline_cases.cases import Case, call, forbidden, hidden, public, shared
from tests.service.auth.pipeline_world import World

F = "/flowserv/api/v1"


def _no_b_user(world: World, body: Any) -> bool:
    return all(user["username"] != world.b_user for user in body["users"])


CASES: dict[tuple[str, str], Case] = {
    ("GET", f"{F}/"): public(),
    ("POST", f"{F}/users/register"): public(),
    ("POST", f"{F}/users/login"): public(),
    ("POST", f"{F}/users/logout"): public(),
    ("POST", f"{F}/users/password/reset"): public(),
    ("GET", f"{F}/users/whoami"): shared(
        "the caller's own token and user belong to no pipeline", call(f"{F}/users/whoami")
    ),
    ("GET", f"{F}/users"): hidden(_no_b_user, call(f"{F}/users")),
    ("POST", f"{F}/users/activate"): forbidden(
        call(f"{F}/users/activate", json=lambda w: {"id": w.b_user_id})
    ),
    ("POST", f"{F}/users/password/request"): forbidden(
        call(f"{F}/users/password/request", json=lambda w: {"username": w.b_user})
    ),
}
