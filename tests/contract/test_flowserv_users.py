"""The flowserv-core 0.9.4 RemoteUserService against Sluice: register (open by setting,
closed by default), login with a surface-bound token, whoami, listing, password reset
by an admin, logout after which the token gets 403; the service descriptor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import requests
from flowserv.service.descriptor import ServiceDescriptor
from flowserv.tests import serialize

from service.testing import SluiceProcess, SluiceStarter
from tests.contract.flowserv import (
    PREFIX,
    Flowserv,
    descriptor,
    isolated_token,
    message_of,
    status_of,
)
from tests.service.auth.helpers import ADMIN_SECRET, secure_env, token_header

ROUTE_IDS = {
    *(f"files:{n}" for n in ("delete", "download", "list", "upload")),
    *(f"groups:{n}" for n in ("create", "delete", "get", "list", "runs", "update")),
    "leaderboard",
    *(f"runs:{n}" for n in ("cancel", "delete", "download:archive", "download:file", "get")),
    "runs:start",
    "service",
    *(f"users:{n}" for n in ("activate", "list", "login", "logout", "pwd:request")),
    *(f"users:{n}" for n in ("pwd:reset", "register", "whoami")),
    *(f"workflows:{n}" for n in ("download:archive", "download:file", "get", "groups")),
    "workflows:list",
}


@pytest.fixture(scope="module")
def server(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> SluiceProcess:
    env = secure_env(sluice_env, SLUICE_FLOWSERV_REGISTER="1")
    return start_module_sluice("flowserv-users", **env)


@pytest.fixture
def client(server: SluiceProcess) -> Iterator[Flowserv]:
    with isolated_token():
        yield Flowserv.of(descriptor(server.url))


def test_the_descriptor_names_every_route_and_the_reachable_url(server: SluiceProcess) -> None:
    doc = httpx.get(f"{server.url}{PREFIX}/").json()
    assert doc["url"] == f"{server.url}{PREFIX}"
    assert {route["id"] for route in doc["routes"]} == ROUTE_IDS and len(ROUTE_IDS) == 31
    assert "username" not in doc
    fetched = ServiceDescriptor(doc=doc)
    assert fetched.url == f"{server.url}{PREFIX}"
    known = httpx.get(f"{server.url}{PREFIX}/", headers={"api_key": ADMIN_SECRET}).json()
    assert known["username"] == "deploy"


def test_register_login_whoami_logout(client: Flowserv) -> None:
    name = f"alice-{uuid.uuid4().hex[:6]}"
    registered = client.users.register_user(name, "secret-pw", verify=False)
    serialize.validate_user_handle(registered, login=False)
    with pytest.raises(requests.HTTPError) as taken:
        client.users.register_user(name, "secret-pw")
    assert status_of(taken.value) == 400
    logged = client.users.login_user(name, "secret-pw")
    serialize.validate_user_handle(logged, login=True)
    token = Flowserv.token()
    assert token == logged["token"]
    me = client.users.whoami_user(token)
    serialize.validate_user_handle(me, login=True)
    assert me["username"] == name and me["id"] == registered["id"]
    listed = client.users.list_users()
    serialize.validate_user_listing(listed)
    assert {"id": registered["id"], "username": name} in listed["users"]
    out = client.users.logout_user(token)
    serialize.validate_user_handle(out, login=False)
    with pytest.raises(requests.HTTPError) as ended:
        client.users.whoami_user(token)
    assert status_of(ended.value) == 403
    assert message_of(ended.value)


def test_a_wrong_password_and_no_token_are_403(client: Flowserv) -> None:
    name = f"bob-{uuid.uuid4().hex[:6]}"
    client.users.register_user(name, "secret-pw")
    with pytest.raises(requests.HTTPError) as wrong:
        client.users.login_user(name, "not-it")
    assert status_of(wrong.value) == 403
    with pytest.raises(requests.HTTPError) as anonymous:
        client.users.list_users()
    assert status_of(anonymous.value) == 403


def test_the_login_token_works_on_this_surface_only(
    server: SluiceProcess, client: Flowserv
) -> None:
    name = f"carol-{uuid.uuid4().hex[:6]}"
    client.users.register_user(name, "secret-pw")
    token = client.users.login_user(name, "secret-pw")["token"]
    native = httpx.get(f"{server.url}/buckets/workers", headers=token_header(token))
    assert native.status_code == 401
    with httpx.Client(base_url=server.url, headers=token_header(ADMIN_SECRET)) as admin:
        session = admin.post(
            "/alpine/api/sessions", data={"username": name, "password": "secret-pw"}
        )
    assert session.status_code == 201, session.text
    alpine = session.json()["response"]["session_id"]
    refused = httpx.get(f"{server.url}{PREFIX}/users/whoami", headers={"api_key": alpine})
    assert refused.status_code == 403


def test_an_admin_hands_out_a_password_reset(client: Flowserv) -> None:
    name = f"dave-{uuid.uuid4().hex[:6]}"
    created = client.users.register_user(name, "secret-pw")
    with pytest.raises(requests.HTTPError) as anonymous:
        client.users.request_password_reset(name)
    assert status_of(anonymous.value) == 403
    with client.sending(ADMIN_SECRET):
        reset = client.users.request_password_reset(name)
        serialize.validate_reset_request(reset)
        activated = client.users.activate_user(created["id"])
        serialize.validate_user_handle(activated, login=False)
    changed = client.users.reset_password(reset["requestId"], "new-secret")
    assert changed == {"id": created["id"], "username": name}
    with pytest.raises(requests.HTTPError) as used:
        client.users.reset_password(reset["requestId"], "again-secret")
    assert status_of(used.value) == 400
    client.users.login_user(name, "new-secret")


def test_registration_is_closed_by_default(
    sluice_env: dict[str, str], start_sluice: SluiceStarter
) -> None:
    closed = start_sluice("flowserv-closed", **secure_env(sluice_env))
    with isolated_token():
        users = Flowserv.of(descriptor(closed.url)).users
        with pytest.raises(requests.HTTPError) as refused:
            users.register_user("eve", "secret-pw")
    assert status_of(refused.value) == 403
    assert "SLUICE_FLOWSERV_REGISTER" in message_of(refused.value)
