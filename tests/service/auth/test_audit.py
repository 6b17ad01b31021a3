"""The audit trail records deletions, unlocks and token changes: who, what, when."""

from __future__ import annotations

import time

import httpx

from service.testing import SluiceProcess
from tests.service.auth.helpers import create_token, token_header
from tests.service.buckets.helpers import new_work
from tests.service.factories import work


def test_deletions_and_token_changes_are_recorded(
    secure: SluiceProcess, admin: httpx.Client, pipeline: str
) -> None:
    started = time.time()
    ops = create_token(secure.url, ["admin"], name=f"ops-{pipeline}", owner="alice")
    ops_client = httpx.Client(base_url=secure.url, headers=token_header(ops), timeout=30)
    stored = work(pipeline)
    assert ops_client.post("/results/results", json=[stored]).status_code == 200
    deleted = ops_client.delete("/results/results", params={pipeline: stored["id"]})
    assert deleted.status_code == 200
    ids = ops_client.post("/buckets/work?return_ids=True", json=[new_work(pipeline)]).json()
    assert ops_client.delete("/buckets/work", params={"ids": ids}).status_code == 200
    assert admin.post(f"/admin/tokens/ops-{pipeline}/revoke").status_code == 200

    entries = admin.get("/admin/audit", params={"since": started}).json()
    actions = [e["action"] for e in entries]
    # Newest first.
    assert actions[:4] == ["token.revoke", "buckets.delete", "results.delete", "token.create"]
    revoke, buckets_delete, results_delete, create = entries[:4]
    assert results_delete["who"] == f"ops-{pipeline} (alice)"
    assert results_delete["token"] == f"ops-{pipeline}" and results_delete["owner"] == "alice"
    assert results_delete["target"] == f"results/{pipeline}"
    assert results_delete["details"] == {"ids": [stored["id"]]}
    assert results_delete["method"] == "DELETE" and results_delete["path"] == "/results/results"
    assert buckets_delete["details"] == {"ids": ids}
    assert create["target"] == f"ops-{pipeline}" and "token" not in create["details"]
    assert revoke["who"] == "SLUICE_ADMIN_TOKEN (deploy)"
    assert started <= create["at"] <= revoke["at"] <= time.time()
    ops_client.close()


def test_filters_and_limits(admin: httpx.Client, secure: SluiceProcess) -> None:
    for _ in range(3):
        create_token(secure.url, ["read"])
    newest = admin.get("/admin/audit", params={"action": "token.create", "limit": 2}).json()
    assert len(newest) == 2 and {e["action"] for e in newest} == {"token.create"}
    assert newest[0]["at"] >= newest[1]["at"]
    older = admin.get("/admin/audit", params={"action": "token.create",
                                              "before": newest[1]["at"]}).json()  # fmt: skip
    assert older and all(e["at"] < newest[1]["at"] for e in older)
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "²"}, {"limit": "x"}, {"since": "nan"}):
        answer = admin.get("/admin/audit", params=bad)
        assert answer.status_code == 400, bad
    too_many = admin.get("/admin/audit", params={"limit": 1001}).json()["error"]
    assert too_many["details"]["limit"] == "SLUICE_MAX_AUDIT_RESULTS"


def test_reading_the_trail_needs_admin(secure: SluiceProcess) -> None:
    reader = token_header(create_token(secure.url, ["read", "deposit", "work"]))
    assert httpx.get(f"{secure.url}/admin/audit", headers=reader).status_code == 403
    assert httpx.get(f"{secure.url}/admin/audit").status_code == 401


def test_anonymous_when_auth_is_off(http: httpx.Client, pipeline: str) -> None:
    stored = work(pipeline)
    assert http.post("/results/results", json=[stored]).status_code == 200
    assert http.delete("/results/results", params={pipeline: stored["id"]}).status_code == 200
    entries = http.get("/admin/audit", params={"action": "results.delete", "limit": 50}).json()
    mine = [e for e in entries if e["target"] == f"results/{pipeline}"]
    assert mine and mine[0]["who"] == "anonymous" and mine[0]["token"] is None
