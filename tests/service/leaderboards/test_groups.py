"""Groups and their uploaded files on Sluice's own routes (`/leaderboards/...`): the
same documents as the flowServ surface, Sluice's error bodies, streamed uploads past
SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES refused with nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from service.testing import SluiceProcess, SluiceStarter
from tests.service.leaderboards.helpers import hello_template
from tests.service.leaderboards.test_native import install

MAX_UPLOAD = 1024


@pytest.fixture(scope="module")
def small(start_module_sluice: SluiceStarter) -> SluiceProcess:
    return start_module_sluice("lb-groups", SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES=str(MAX_UPLOAD))


@pytest.fixture
def lb(small: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small.url + "/leaderboards", timeout=30) as client:
        yield client


def test_a_group_with_files_from_creation_to_deletion(lb: httpx.Client) -> None:
    workflow = install(lb, hello_template(f"g-{uuid.uuid4().hex[:8]}"))["id"]
    created = lb.post(f"/workflows/{workflow}/groups", json={"name": "team"})
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["workflow"] == workflow and group["members"] == [] and group["files"] == []
    assert {p["name"] for p in group["parameters"]} >= {"names", "greeting"}
    assert lb.post(f"/workflows/{workflow}/groups", json={"name": "team"}).status_code == 409
    renamed = lb.patch(f"/groups/{group['id']}", json={"name": "team 2"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "team 2"
    sent = lb.post(f"/groups/{group['id']}/files", files={"files": ("names.txt", b"Ada\n")})
    assert sent.status_code == 201, sent.text
    upload = sent.json()
    assert upload["name"] == "names.txt" and upload["size"] == 4 and len(upload["id"]) == 32
    listed = lb.get(f"/groups/{group['id']}/files").json()["files"]
    assert [f["id"] for f in listed] == [upload["id"]]
    content = lb.get(f"/groups/{group['id']}/files/{upload['id']}")
    assert content.content == b"Ada\n" and "content-encoding" not in content.headers
    assert lb.get("/groups").json()["groups"][-1]["id"] == group["id"]
    assert lb.delete(f"/groups/{group['id']}/files/{upload['id']}").status_code == 204
    assert lb.get(f"/groups/{group['id']}/files/{upload['id']}").status_code == 404
    assert lb.delete(f"/groups/{group['id']}").status_code == 204
    missing = lb.get(f"/groups/{group['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_an_oversized_upload_is_413_and_leaves_nothing(lb: httpx.Client) -> None:
    workflow = install(lb, hello_template(f"g-{uuid.uuid4().hex[:8]}"))["id"]
    group = lb.post(f"/workflows/{workflow}/groups", json={"name": "big"}).json()
    big = b"x" * (MAX_UPLOAD + 1)
    refused = lb.post(f"/groups/{group['id']}/files", files={"files": ("big.txt", big)})
    assert refused.status_code == 413
    assert refused.json()["error"]["details"]["limit"] == "SLUICE_LEADERBOARD_MAX_UPLOAD_BYTES"
    assert lb.get(f"/groups/{group['id']}/files").json()["files"] == []


def test_bad_group_bodies_are_refused(lb: httpx.Client) -> None:
    workflow = install(lb, hello_template(f"g-{uuid.uuid4().hex[:8]}"))["id"]
    # Extra parameters a run's argument could never be checked against (a select without
    # choices as a template has them, a record without fields) were taken, and every
    # run using them then answered 500.
    unusable = [{"name": "x", "dtype": "select", "values": ["a", "b"]},
                {"name": "x", "dtype": "select"}, {"name": "x", "dtype": "record"},
                {"name": "x", "dtype": "select", "values": [1, 2]}]  # fmt: skip
    for body in ({}, {"name": ""}, {"name": "x", "members": ["nobody"]}, {"name": "x", "y": 1},
                 *({"name": "x", "parameters": [given]} for given in unusable)):  # fmt: skip
        answer = lb.post(f"/workflows/{workflow}/groups", json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
    assert lb.get(f"/workflows/{workflow}/groups").json()["groups"] == []
    choices = [{"name": "A", "value": "a"}, {"name": "B", "value": "b", "isDefault": True}]
    made = lb.post(f"/workflows/{workflow}/groups", json={
        "name": "with a select", "parameters": [{"name": "x", "dtype": "select", "values": choices},
                                                {"name": "r", "dtype": "record", "fields": [
                                                    {"name": "n", "dtype": "int"}]}]})  # fmt: skip
    assert made.status_code == 201, made.text
    group = made.json()["id"]
    sent = lb.post(f"/groups/{group}/files", files={"files": ("names.txt", b"Ada\n")})
    names = {"name": "names", "value": {"fileId": sent.json()["id"]}}
    for x, status in (("a", 201), ("c", 400), (1, 400)):
        arguments = [names, {"name": "x", "value": x}, {"name": "r", "value": {"n": 2}}]
        started = lb.post(
            f"/workflows/{workflow}/runs", json={"group": group, "arguments": arguments}
        )
        assert started.status_code == status, (x, started.text)
    assert lb.post("/workflows/nope/groups", json={"name": "x"}).status_code == 404
