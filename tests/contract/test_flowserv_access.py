"""Who reaches what on the flowServ surface, through the real flowserv-core 0.9.4
client: users see and change only the groups they are members of, tokens only the
workflows of their pipelines, and with SLUICE_FLOWSERV_DOWNLOAD_TOKEN downloads need a
token (they are capability URLs otherwise)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from flowserv.volume.fs import FSFile

from service.testing import SluiceProcess, SluiceStarter
from tests.contract.flowserv import PREFIX, Flowserv, descriptor, isolated_token, status_of
from tests.contract.flowserv_world import install, start_server
from tests.service.auth.helpers import ADMIN_SECRET, create_token


@dataclass
class Site:
    server: SluiceProcess
    client: Flowserv
    workflow: str
    pipeline: str


def _site(server: SluiceProcess) -> Iterator[Site]:
    pipeline = f"access-{uuid.uuid4().hex[:8]}"
    info = install(server.url, pipeline)
    with isolated_token():
        yield Site(server, Flowserv.of(descriptor(server.url)), info["id"], pipeline)


@pytest.fixture(scope="module")
def site(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> Iterator[Site]:
    yield from _site(start_server(sluice_env, start_module_sluice, "flowserv-access"))


def _login(client: Flowserv, name: str) -> dict[str, Any]:
    user: dict[str, Any] = client.users.register_user(name, "a-secret")
    client.users.login_user(name, "a-secret")
    return user


def _refused(call: Any, status: int = 403) -> None:
    with pytest.raises(requests.HTTPError) as refused:
        call()
    assert status_of(refused.value) == status


def test_users_reach_only_their_groups(site: Site) -> None:
    groups = site.client.groups
    tag = uuid.uuid4().hex[:6]
    _login(site.client, f"carol-{tag}")
    carol_token = Flowserv.token()
    bob = _login(site.client, f"bob-{tag}")
    bob_token = Flowserv.token()
    _login(site.client, f"alice-{tag}")
    group = groups.create_group(site.workflow, f"alice's {tag}", members=[bob["id"]])
    with site.client.sending(bob_token):
        assert groups.get_group(group["id"])["name"] == group["name"]
        assert group["id"] in [g["id"] for g in groups.list_groups()["groups"]]
    with site.client.sending(carol_token):
        _refused(lambda: groups.get_group(group["id"]))
        _refused(lambda: groups.update_group(group["id"], name="taken"))
        _refused(lambda: site.client.uploads.list_uploaded_files(group["id"]))
        _refused(lambda: site.client.runs.list_runs(group["id"]))
        assert group["id"] not in [g["id"] for g in groups.list_groups()["groups"]]
        handle = site.client.workflows.get_workflow(site.workflow)
        assert group["id"] not in [g["id"] for g in handle["groups"]]
    # Replacing the members drops bob.
    groups.update_group(group["id"], members=[])
    with site.client.sending(bob_token):
        _refused(lambda: groups.get_group(group["id"]))


def test_a_token_reaches_only_the_workflows_of_its_pipelines(site: Site) -> None:
    other = create_token(site.server.url, ["read", "deposit"], [f"{site.pipeline}-other"])
    with site.client.sending(other):
        listed = site.client.workflows.list_workflows()["workflows"]
        assert site.workflow not in [w["id"] for w in listed]
        _refused(lambda: site.client.workflows.get_workflow(site.workflow))
        _refused(lambda: site.client.workflows.get_ranking(site.workflow))
        _refused(lambda: site.client.groups.create_group(site.workflow, "intruders"))
    mine = create_token(site.server.url, ["read"], [site.pipeline])
    with site.client.sending(mine):
        assert site.client.workflows.get_workflow(site.workflow)["id"] == site.workflow
        # A read token cannot create.
        _refused(lambda: site.client.groups.create_group(site.workflow, "readers"))


def test_a_native_login_session_is_refused_here(site: Site) -> None:
    name = f"dora-{uuid.uuid4().hex[:6]}"
    site.client.users.register_user(name, "a-secret")
    session = httpx.post(
        f"{site.server.url}/alpine/api/sessions", data={"username": name, "password": "a-secret"}
    ).json()["response"]["session_id"]
    answer = httpx.get(f"{site.server.url}{PREFIX}/workflows", headers={"api_key": session})
    assert answer.status_code == 403


@pytest.fixture(scope="module")
def locked(sluice_env: dict[str, str], start_module_sluice: SluiceStarter) -> Iterator[Site]:
    server = start_server(
        sluice_env, start_module_sluice, "flowserv-locked", SLUICE_FLOWSERV_DOWNLOAD_TOKEN="1"
    )
    yield from _site(server)


def test_downloads_can_require_a_token(locked: Site, tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_bytes(b"Alice\n")
    with locked.client.sending(ADMIN_SECRET):
        group = locked.client.groups.create_group(locked.workflow, "team")
        upload = locked.client.uploads.upload_file(group["id"], FSFile(str(names)), "names.txt")
    url = f"{locked.server.url}{PREFIX}/uploads/{group['id']}/files/{upload['id']}"
    # The 0.9.4 client sends no token on downloads: refused now.
    _refused(lambda: locked.client.uploads.get_uploaded_file(group["id"], upload["id"]))
    assert httpx.get(url, headers={"api_key": ADMIN_SECRET}).content == b"Alice\n"
    stranger = create_token(locked.server.url, ["read"], [f"{locked.pipeline}-other"])
    assert httpx.get(url, headers={"api_key": stranger}).status_code == 403
