"""Tokens: created once, stored hashed, accepted from both headers, revocable, expiring;
401 without a valid one, 403 without the route's scope."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
from pymongo.database import Database

from service.testing import SluiceProcess
from tests.service.auth.helpers import ADMIN_SECRET, bearer, create_token, token_header
from tests.service.factories import work


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_public_routes_need_no_token(anon: httpx.Client) -> None:
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/results/version").status_code == 200
    assert anon.head("/buckets/version").status_code == 200


def test_no_token_is_401_and_writes_nothing(anon: httpx.Client, pipeline: str) -> None:
    answer = anon.post("/results/results", json=[work(pipeline)])
    assert answer.status_code == 401
    assert error(answer)["code"] == "unauthorized"
    assert "x-access-token" in error(answer)["message"]
    assert anon.get("/results/status").status_code == 401


def test_bootstrap_secret_works_in_either_header(secure: SluiceProcess) -> None:
    for headers in (token_header(ADMIN_SECRET), bearer(ADMIN_SECRET)):
        assert httpx.get(f"{secure.url}/admin/tokens", headers=headers).status_code == 200


def test_bad_token_is_401(secure: SluiceProcess) -> None:
    for secret in ("nope", "slc_" + "x" * 43, ADMIN_SECRET + "x", "slc_" + "y" * 400):
        answer = httpx.get(f"{secure.url}/results/status", headers=token_header(secret))
        assert answer.status_code == 401, secret
        assert error(answer)["code"] == "unauthorized"


def test_created_token_is_shown_once_and_stored_hashed(
    admin: httpx.Client, secure_db: Database[dict[str, Any]]
) -> None:
    answer = admin.post(
        "/admin/tokens",
        json={"name": "ops-reader", "owner": "ops", "scopes": ["read"], "pipelines": ["frb-*"]},
    )
    assert answer.status_code == 200, answer.text
    created = answer.json()
    secret = created["token"]
    assert secret.startswith("slc_") and len(secret) >= 40
    assert created["owner"] == "ops" and created["scopes"] == ["read"]
    assert created["created_by"] == "SLUICE_ADMIN_TOKEN (deploy)"
    stored = secure_db["auth.tokens"].find_one({"name": "ops-reader"})
    assert stored is not None
    assert stored["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored)
    listed = admin.get("/admin/tokens").json()
    mine = [t for t in listed if t["name"] == "ops-reader"]
    assert len(mine) == 1 and "hash" not in mine[0] and "token" not in mine[0]
    assert secret not in admin.get("/admin/tokens").text


def test_token_names_are_unique_and_requests_validated(admin: httpx.Client) -> None:
    body = {"name": "dup-name", "scopes": ["read"]}
    assert admin.post("/admin/tokens", json=body).status_code == 200
    again = admin.post("/admin/tokens", json=body)
    assert again.status_code == 409 and error(again)["code"] == "conflict"
    for bad in (
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": []},
        {"name": "bad name!", "scopes": ["read"]},
        {"name": "x", "scopes": ["read"], "pipelines": ["a/b"]},
        {"name": "x", "scopes": ["read"], "expires_days": -1},
        {"name": "x", "scopes": ["read"], "surprise": 1},
    ):
        answer = admin.post("/admin/tokens", json=bad)
        assert answer.status_code == 422, bad
        assert error(answer)["code"] == "validation_failed"


def test_scopes_are_enforced(secure: SluiceProcess, pipeline: str) -> None:
    reader = token_header(create_token(secure.url, ["read"]))
    depositor = bearer(create_token(secure.url, ["deposit"]))
    url = secure.url
    refused = httpx.post(f"{url}/results/results", json=[work(pipeline)], headers=reader)
    assert refused.status_code == 403 and error(refused)["code"] == "forbidden"
    assert error(refused)["details"]["scope"] == "deposit"
    ok = httpx.post(f"{url}/results/results", json=[work(pipeline)], headers=depositor)
    assert ok.status_code == 200
    view = {"query": {"pipeline": pipeline}}
    assert httpx.post(f"{url}/results/view", json=view, headers=depositor).status_code == 403
    assert len(httpx.post(f"{url}/results/view", json=view, headers=reader).json()) == 1
    # Deleting and the admin routes need admin.
    for headers in (reader, depositor):
        assert httpx.delete(f"{url}/results/results", params={pipeline: "x"},
                            headers=headers).status_code == 403  # fmt: skip
        assert httpx.get(f"{url}/admin/tokens", headers=headers).status_code == 403
        assert httpx.get(f"{url}/buckets/audit/failed", headers=headers).status_code == 403


def test_admin_implies_every_scope(secure: SluiceProcess, pipeline: str) -> None:
    boss = token_header(create_token(secure.url, ["admin"]))
    assert httpx.post(f"{secure.url}/results/results", json=[work(pipeline)],
                      headers=boss).status_code == 200  # fmt: skip
    assert httpx.get(f"{secure.url}/results/status", headers=boss).status_code == 200
    withdrawn = httpx.post(f"{secure.url}/buckets/work/withdraw", json={"pipeline": pipeline},
                           headers=boss)  # fmt: skip
    assert withdrawn.status_code == 200


def test_revoked_token_is_refused_and_kept(admin: httpx.Client, secure: SluiceProcess) -> None:
    secret = create_token(secure.url, ["read"], name="short-lived")
    headers = token_header(secret)
    assert httpx.get(f"{secure.url}/results/status", headers=headers).status_code == 200
    revoked = admin.post("/admin/tokens/short-lived/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    answer = httpx.get(f"{secure.url}/results/status", headers=headers)
    assert answer.status_code == 401 and error(answer)["details"]["reason"] == "revoked"
    # Revoking again is a no-op; the name stays taken; unknown names are 404.
    assert admin.post("/admin/tokens/short-lived/revoke").json() == revoked.json()
    again = admin.post("/admin/tokens", json={"name": "short-lived", "scopes": ["read"]})
    assert again.status_code == 409
    assert admin.post("/admin/tokens/never-was/revoke").status_code == 404
    listed = {t["name"]: t for t in admin.get("/admin/tokens").json()}
    assert listed["short-lived"]["revoked_by"] == "SLUICE_ADMIN_TOKEN (deploy)"


def test_expired_token_is_refused(secure: SluiceProcess) -> None:
    secret = create_token(secure.url, ["read"], expires_days=1 / 86400)  # one second
    headers = token_header(secret)
    time.sleep(1.1)
    answer = httpx.get(f"{secure.url}/results/status", headers=headers)
    assert answer.status_code == 401 and error(answer)["details"]["reason"] == "expired"
