"""The function registry and the auth of AERO data routes: dotted paths only, a
duplicate is 409, scopes enforced on both surfaces, Bearer tokens as the AERO client
sends them, and 401s an AERO client can read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, bearer, create_token, secure_env

AERO = "/osprey/api/v1.0"


def test_register_list_and_show_functions(client: httpx.Client) -> None:
    made = client.post(
        "/aero/functions", json={"path": "wastewater.transforms.drop_flu", "description": "d"}
    )
    assert made.status_code == 201, made.text
    function = made.json()
    assert function["path"] == "wastewater.transforms.drop_flu"
    assert function["meta"] == {}
    again = client.post("/aero/functions", json={"path": "wastewater.transforms.drop_flu"})
    assert again.status_code == 409
    assert again.json()["error"]["details"]["id"] == function["id"]
    shown = client.get(f"/aero/functions/{function['id']}")
    assert shown.json() == function
    listed = client.get("/aero/functions", params={"limit": 1000}).json()
    assert function["id"] in [item["id"] for item in listed["items"]]
    assert listed["total"] >= 1
    assert client.get("/aero/functions/nope").status_code == 404


@pytest.mark.parametrize(
    "path",
    ["nodots", "a..b", "a.b.", ".a.b", "a.1b", "a.b-c", "a.class", "os.system('x')",
     "a.b c", "", 7, None, "a." * 200 + "b", "<lambda>.f", "__main__.f.<locals>.g"],
)  # fmt: skip
def test_a_path_that_is_not_a_dotted_import_path_is_400(client: httpx.Client, path: object) -> None:
    answer = client.post("/aero/functions", json={"path": path})
    assert answer.status_code == 400, answer.text


def test_scopes_and_bearer_tokens(sluice_env: dict[str, str], tmp_path: Path) -> None:
    with SluiceProcess(secure_env(sluice_env), log_path=tmp_path / "sluice.log") as server:
        reader = httpx.Client(base_url=server.url, timeout=30,
                              headers=bearer(create_token(server.url, ["read"])))  # fmt: skip
        writer = httpx.Client(
            base_url=server.url,
            timeout=30,
            headers=bearer(create_token(server.url, ["deposit", "read"], owner="ana")),
        )
        anonymous = httpx.Client(base_url=server.url, timeout=30)
        made = writer.post("/aero/data", json={"name": "guarded"})
        assert made.status_code == 201
        assert made.json()["owner"] == "ana"
        data_id = made.json()["id"]
        assert reader.post("/aero/data", json={"name": "x"}).status_code == 403
        assert reader.post(f"/aero/data/{data_id}/versions", content=b"x").status_code == 403
        assert reader.post("/aero/functions", json={"path": "a.b"}).status_code == 403
        assert writer.post("/aero/functions", json={"path": "a.b"}).json()["owner"] == "ana"
        assert reader.get(f"{AERO}//data/{data_id}").status_code == 200
        denied = anonymous.get(f"{AERO}//data")
        assert denied.status_code == 401
        assert denied.json()["code"] == 401 and denied.json()["message"]
        forbidden = reader.post(f"{AERO}/data", json={"name": "x"})
        assert forbidden.status_code == 403 and forbidden.json()["code"] == 403
        admin = httpx.Client(base_url=server.url, timeout=30, headers=bearer(ADMIN_SECRET))
        audit = admin.get("/admin/audit").json()
        assert any(entry["action"] == "aero.register_function" for entry in audit)
        for each in (reader, writer, anonymous, admin):
            each.close()


def test_the_auth_stub_answers_a_valid_token_as_itself(
    sluice_env: dict[str, str], tmp_path: Path
) -> None:
    env = secure_env(sluice_env, SLUICE_AERO_AUTH_STUB="1")
    with SluiceProcess(env, log_path=tmp_path / "sluice.log") as server:
        secret = create_token(server.url, ["read"])
        url = f"{server.url}/aero-auth/v2/oauth2/token"
        form = {"grant_type": "refresh_token", "refresh_token": secret, "client_id": "c-1"}
        answer = httpx.post(url, data=form)
        assert answer.status_code == 200, answer.text
        token = answer.json()
        assert token["access_token"] == secret and token["resource_server"] == "c-1"
        assert token["token_type"] == "Bearer" and token["other_tokens"] == []
        # The client then sends the same token as its bearer.
        assert httpx.get(f"{server.url}{AERO}/data", headers=bearer(secret)).status_code == 200
        for bad in ({**form, "refresh_token": "slc_nope"}, {**form, "grant_type": "password"},
                    {"grant_type": "refresh_token"}):  # fmt: skip
            refused = httpx.post(url, data=bad)
            assert refused.status_code == 400
            assert refused.json()["error"]["code"] == "invalid_grant"
    with SluiceProcess(secure_env(sluice_env), log_path=tmp_path / "off.log") as server:
        assert httpx.post(f"{server.url}/aero-auth/v2/oauth2/token", data={}).status_code == 404
