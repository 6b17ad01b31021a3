"""Users created by an admin, password logins and sessions acting with the user's grants."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo.database import Database

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, create_token, token_header
from tests.service.users.conftest import login, make_user, session_of
from tests.service.workfiles.helpers import as_yaml, diamond, fast_sluice
from tests.workers import SLUICE


def username() -> str:
    return f"u-{uuid.uuid4().hex[:10]}"


def test_admin_creates_users_and_no_answer_shows_a_hash(
    admin: httpx.Client, anon: httpx.Client, users_db: Database[dict[str, Any]]
) -> None:
    name = username()
    make_user(admin, name, ["read"])
    again = admin.post("/admin/users", json={"username": name, "password": "another one",
                                             "scopes": ["read"]})  # fmt: skip
    assert again.status_code == 409 and again.json()["error"]["details"] == {"username": name}
    listed = [user for user in admin.get("/admin/users").json() if user["username"] == name]
    assert len(listed) == 1 and set(listed[0]) == {
        "id", "username", "scopes", "pipelines", "created", "created_by",
    }  # fmt: skip
    stored = users_db["users"].find_one({"username": name})
    assert stored is not None and stored["password"].startswith("scrypt$16384$8$1$")
    assert "correct horse" not in str(stored)
    assert anon.post("/admin/users", json={}).status_code == 401
    reader = create_token(str(admin.base_url), ["read", "deposit", "work"])
    forbidden = anon.get("/admin/users", headers=token_header(reader))
    assert forbidden.status_code == 403


def test_a_bad_user_is_refused(admin: httpx.Client) -> None:
    for body in (
        {"username": username(), "password": "short", "scopes": ["read"]},
        {"username": "bad name", "password": "long enough", "scopes": ["read"]},
        {"username": username(), "password": "long enough", "scopes": []},
        {"username": username(), "password": "long enough", "scopes": ["root"]},
    ):
        answer = admin.post("/admin/users", json=body)
        assert answer.status_code == 422, (body, answer.text)


def test_login_failures_give_no_hint_and_no_5xx(admin: httpx.Client, anon: httpx.Client) -> None:
    name = username()
    make_user(admin, name, ["read"])
    wrong, unknown = login(anon, name, "not it"), login(anon, username())
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["details"] == {"reason": "bad_credentials"}
    assert "set-cookie" not in wrong.headers
    for body in (b"", b"username=" + name.encode(), b"\xff\xfe", b"password=x"):
        answer = anon.post("/alpine/api/sessions", content=body)
        assert answer.status_code == 400, (body, answer.text)
    huge = anon.post("/alpine/api/sessions", content=b"username=" + b"a" * 20000)
    assert huge.status_code == 413, huge.text


def test_a_session_acts_with_the_users_scopes_and_pipelines(
    admin: httpx.Client, anon: httpx.Client
) -> None:
    reader, limited = username(), username()
    make_user(admin, reader, ["read"])
    make_user(admin, limited, ["deposit", "read"], pipelines=["mine-*"])
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    upload = {"workspace": workspace, "file_name": "flow.yaml"}
    stored = admin.post("/workfiles", params=upload, content=as_yaml(diamond("theirs")))
    assert stored.status_code == 200, stored.text
    session = session_of(anon, reader)
    # A session may travel as x-access-token too, on any route.
    assert anon.get(f"/workfiles/{stored.json()['id']}", headers=token_header(session)).is_success
    refused = anon.post("/workfiles", params=upload, content=b"x", headers=token_header(session))
    assert refused.status_code == 403 and refused.json()["error"]["details"]["scope"] == "deposit"
    run = f"/alpinedatalabs/api/v1/json/workflows/{stored.json()['id']}/run"
    outside = anon.post(run, headers={"x-token": session_of(anon, limited)})
    assert outside.status_code == 403, outside.text
    assert outside.json()["error"]["details"]["pipelines"] == ["theirs"]


def test_status_logout_and_deleting_the_user_end_sessions(
    admin: httpx.Client, anon: httpx.Client
) -> None:
    name = username()
    make_user(admin, name, ["read"])
    first, second = session_of(anon, name), session_of(anon, name)
    status = anon.get("/alpine/api/sessions", params={"session_id": first})
    assert status.status_code == 200 and status.json()["response"]["user"]["username"] == name
    assert anon.delete("/alpine/api/sessions", params={"session_id": first}).status_code == 200
    again = anon.delete("/alpine/api/sessions", params={"session_id": first})
    assert again.status_code == 401 and again.json()["error"]["details"]["reason"] == "revoked"
    assert anon.get("/alpine/api/workspaces", params={"session_id": second}).is_success
    assert admin.delete(f"/admin/users/{name}").status_code == 200
    gone = anon.get("/alpine/api/workspaces", params={"session_id": second})
    assert gone.status_code == 401, gone.text
    assert admin.delete(f"/admin/users/{name}").status_code == 404
    assert login(anon, name).status_code == 401
    for session in ("NULL", "sls_forged", "slc_" + "x" * 40, "x" * 300):
        answer = anon.get("/alpine/api/workspaces", params={"session_id": session})
        assert answer.status_code == 401, (session, answer.text)


def test_sessions_expire(sluice_env: dict[str, str], tmp_path: Path) -> None:
    env = {**sluice_env, "SLUICE_AUTH": "required", "SLUICE_ADMIN_TOKEN": ADMIN_SECRET,
           "SLUICE_SESSION_TTL": "1"}  # fmt: skip
    with fast_sluice(env, tmp_path) as server, httpx.Client(base_url=server.url) as client:
        make_user(client, "brief", ["read"], headers=token_header(ADMIN_SECRET))
        session = session_of(client, "brief")
        assert client.get("/alpine/api/sessions", params={"session_id": session}).is_success
        time.sleep(1.2)
        expired = client.get("/alpine/api/sessions", params={"session_id": session})
        assert expired.status_code == 401
        assert expired.json()["error"]["details"]["reason"] == "expired"


def test_the_cli_creates_lists_and_removes_users(
    users_sluice: SluiceProcess, anon: httpx.Client
) -> None:
    name = username()
    env = {**os.environ, "SLUICE_URL": users_sluice.url, "SLUICE_TOKEN": ADMIN_SECRET}

    def sluice(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([SLUICE, "user", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    created = sluice("create", name, "--scope", "read", "--pipeline", "frb-*",
                     "--password-stdin", stdin="from stdin\n")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert f"Created user {name}" in created.stdout
    assert login(anon, name, "from stdin").status_code == 201
    listed = sluice("ls", "--json")
    assert name in listed.stdout and "scrypt" not in listed.stdout
    assert sluice("create", name, "--scope", "read", "--password-stdin",
                  stdin="from stdin\n").returncode == 1  # fmt: skip
    assert sluice("rm", name, "--yes").returncode == 0
    assert login(anon, name, "from stdin").status_code == 401
