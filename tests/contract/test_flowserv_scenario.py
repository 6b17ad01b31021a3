"""The unmodified flowserv-core 0.9.4 remote services through the whole scenario of the
wire spec: users, the seeded Hello World workflow, groups, an upload, runs executed by a
real `sluice worker`, leaderboard orderings and include_all, post-processing archive
and file, cancel, errors and cleanup. Every reply is checked with the package's own
`flowserv.tests.serialize` validators. The tests run in order on one world."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from flowserv.model.template.schema import SortColumn
from flowserv.service.descriptor import ServiceDescriptor
from flowserv.tests import serialize
from flowserv.volume.fs import FSFile

from service.testing import SluiceProcess, SluiceStarter
from tests.contract.flowserv import PREFIX, Flowserv, descriptor, isolated_token, status_of
from tests.contract.flowserv_world import install, start_server, worker
from tests.sluice.buckets.conftest import wait_for

NAMES = b"Alice\nBob\n"


@dataclass
class World:
    url: str
    client: Flowserv
    workflow: str
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(
    sluice_env: dict[str, str],
    start_module_sluice: SluiceStarter,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    server: SluiceProcess = start_server(sluice_env, start_module_sluice, "flowserv-scenario")
    pipeline = f"hello-{uuid.uuid4().hex[:8]}"
    info = install(server.url, pipeline)
    with isolated_token(), worker(server.url, pipeline):
        yield World(server.url, Flowserv.of(descriptor(server.url)), info["id"])


def _run_until(world: World, run_id: str, state: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run: dict[str, Any] = world.client.runs.get_run(run_id)
        return run if run["state"] not in ("PENDING", "RUNNING") else None

    run: dict[str, Any] = wait_for(ended, what=f"run {run_id}")
    assert run["state"] == state, run
    serialize.validate_run_handle(run, state)
    return run


def _start(world: World, group: str, greeting: str, sleeptime: int = 0) -> dict[str, Any]:
    names = {"type": "$file", "value": {"fileId": world.ids[f"file-{group}"]}}
    run: dict[str, Any] = world.client.runs.start_run(
        world.ids[group],
        [{"name": "names", "value": names}, {"name": "greeting", "value": greeting},
         {"name": "sleeptime", "value": sleeptime}],
    )  # fmt: skip
    assert run["state"] in ("PENDING", "RUNNING")
    serialize.validate_run_handle(run, run["state"])
    return run


def test_1_users_register_log_in_and_say_who_they_are(world: World) -> None:
    users = world.client.users
    bob = users.register_user(f"bob-{uuid.uuid4().hex[:6]}", "bob-secret", verify=False)
    alice_name = f"alice-{uuid.uuid4().hex[:6]}"
    alice = users.register_user(alice_name, "alice-secret", verify=False)
    serialize.validate_user_handle(alice, login=False)
    users.login_user(alice_name, "alice-secret")
    me = users.whoami_user(Flowserv.token())
    serialize.validate_user_handle(me, login=True)
    assert me["id"] == alice["id"] and me["username"] == alice_name
    world.ids.update(alice=alice["id"], bob=bob["id"])


def test_2_the_descriptor_fetched_from_sluice_builds_the_services(world: World) -> None:
    doc = httpx.get(f"{world.url}{PREFIX}/", headers={"api_key": Flowserv.token() or ""}).json()
    assert doc["url"] == f"{world.url}{PREFIX}" and len(doc["routes"]) == 31
    assert doc["username"].startswith("alice-")
    fetched = Flowserv.of(ServiceDescriptor(doc=doc))
    listing = fetched.workflows.list_workflows()
    serialize.validate_workflow_listing(listing)
    assert world.workflow in [w["id"] for w in listing["workflows"]]


def test_3_the_seeded_workflow(world: World) -> None:
    handle = world.client.workflows.get_workflow(world.workflow)
    serialize.validate_workflow_handle(handle)
    for parameter in handle["parameters"]:
        serialize.validate_parameter(parameter)
    by_name = {p["name"]: p for p in handle["parameters"]}
    assert by_name["names"]["dtype"] == "file" and by_name["names"]["target"] == "data/names.txt"
    assert {"greeting", "sleeptime"} <= set(by_name)
    assert handle["parameterGroups"][0]["name"] == "main"
    assert handle["groups"] == []


def test_4_groups(world: World) -> None:
    groups = world.client.groups
    group = groups.create_group(world.workflow, "team a", members=[world.ids["bob"]])
    serialize.validate_group_handle(group)
    assert {m["id"] for m in group["members"]} == {world.ids["alice"], world.ids["bob"]}
    listed = groups.list_groups(world.workflow)
    serialize.validate_group_listing(listed)
    assert [g["id"] for g in listed["groups"]] == [group["id"]]
    renamed = groups.update_group(group["id"], name="team b")
    serialize.validate_group_handle(renamed)
    assert renamed["name"] == "team b"
    other = groups.create_group(world.workflow, "team c")
    world.ids.update(a=group["id"], c=other["id"])
    assert {g["id"] for g in groups.list_groups()["groups"]} == {group["id"], other["id"]}


def test_5_uploads(world: World, tmp_path: Path) -> None:
    uploads = world.client.uploads
    for group, content in (("a", NAMES), ("c", b"Zoe\n")):
        path = tmp_path / f"names-{group}.txt"
        path.write_bytes(content)
        handle = uploads.upload_file(world.ids[group], FSFile(str(path)), "names.txt")
        serialize.validate_file_handle(handle)
        assert handle["name"] == "names.txt" and handle["size"] == len(content)
        world.ids[f"file-{group}"] = handle["id"]
    listing = uploads.list_uploaded_files(world.ids["a"])
    serialize.validate_file_listing(listing, 1)
    downloaded = uploads.get_uploaded_file(world.ids["a"], world.ids["file-a"])
    assert downloaded.read() == NAMES
    group = world.client.groups.get_group(world.ids["a"])
    serialize.validate_group_handle(group)
    assert [f["id"] for f in group["files"]] == [world.ids["file-a"]]


def test_6_a_run_succeeds_with_its_files_and_archive(world: World) -> None:
    started = _start(world, "a", "Hi")
    run = _run_until(world, started["id"], "SUCCESS")
    files = {f["name"]: f["id"] for f in run["files"]}
    assert set(files) == {"results/greetings.txt", "results/analytics.json"}
    archive = world.client.runs.get_result_archive(run["id"]).read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert set(tar.getnames()) == set(files)
        greetings = tar.extractfile("results/greetings.txt")
        assert greetings is not None and greetings.read() == b"Hi Alice!\nHi Bob!\n"
    raw = world.client.runs.get_result_file(run["id"], files["results/analytics.json"]).read()
    assert json.loads(raw)["avg_count"] == 8.0
    world.ids["run-hi"] = run["id"]


def test_7_the_leaderboard_orders_and_includes_all(world: World) -> None:
    for group, greeting in (("a", "Howdy"), ("c", "Hey")):
        world.ids[f"run-{greeting}"] = _start(world, group, greeting)["id"]
    for greeting in ("Howdy", "Hey"):
        _run_until(world, world.ids[f"run-{greeting}"], "SUCCESS")
    workflows = world.client.workflows
    best = workflows.get_ranking(world.workflow)
    serialize.validate_ranking(best)
    assert [c["name"] for c in best["schema"]] == ["avg_count", "max_len", "max_line"]
    assert [row["group"]["id"] for row in best["ranking"]] == [world.ids["a"], world.ids["c"]]
    top = best["ranking"][0]
    assert top["run"]["id"] == world.ids["run-Howdy"]
    assert top["results"] == [{"name": "avg_count", "value": 11.0},
                              {"name": "max_len", "value": 12.0},
                              {"name": "max_line", "value": "Howdy Alice!"}]  # fmt: skip
    every = workflows.get_ranking(world.workflow, include_all=True)
    serialize.validate_ranking(every)
    assert len(every["ranking"]) == 3
    shortest = workflows.get_ranking(
        world.workflow, order_by=[SortColumn("max_len", sort_desc=False)]
    )
    assert [row["group"]["id"] for row in shortest["ranking"]] == [world.ids["c"], world.ids["a"]]
    runs = world.client.runs
    listing = runs.list_runs(world.ids["a"])
    serialize.validate_run_listing(listing)
    assert len(listing["runs"]) == 2
    assert len(runs.list_runs(world.ids["a"], state="SUCCESS")["runs"]) == 2
    assert runs.list_runs(world.ids["a"], state="ERROR")["runs"] == []


def test_8_post_processing_archive_and_file(world: World) -> None:
    workflows = world.client.workflows

    def processed() -> dict[str, Any] | None:
        handle: dict[str, Any] = workflows.get_workflow(world.workflow)
        postproc = handle.get("postproc")
        if postproc is None or postproc["state"] != "SUCCESS":
            return None
        # Post-processing of the ranking as it is now (both groups' best runs).
        data = workflows.get_result_file(world.workflow, postproc["files"][0]["id"]).read()
        return handle if len(json.loads(data)) == 2 else None

    handle = wait_for(processed, timeout=60, what="post-processing of the final ranking")
    serialize.validate_workflow_handle(handle)
    assert [f["name"] for f in handle["postproc"]["files"]] == ["results/compare.json"]
    archive = workflows.get_result_archive(world.workflow).read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        assert tar.getnames() == ["results/compare.json"]


def test_9_cancel(world: World) -> None:
    runs = world.client.runs
    started = _start(world, "c", "Slow", sleeptime=30)
    canceled = runs.cancel_run(started["id"], reason="stop")
    serialize.validate_run_handle(canceled, "CANCELED")
    assert canceled["messages"] == ["stop"]
    with pytest.raises(requests.HTTPError) as again:
        runs.cancel_run(started["id"])
    assert status_of(again.value) == 400
    world.ids["run-canceled"] = started["id"]


def test_10_errors(world: World) -> None:
    client = world.client
    with pytest.raises(requests.HTTPError) as unknown:
        client.workflows.get_workflow("nope")
    assert status_of(unknown.value) == 404
    with pytest.raises(requests.HTTPError) as bad_parameter:
        client.runs.start_run(world.ids["a"], [{"name": "colour", "value": "red"}])
    assert status_of(bad_parameter.value) == 400
    downloads: list[Callable[[], Any]] = [
        lambda: client.runs.get_result_archive(uuid.uuid4().hex),
        lambda: client.runs.get_result_file(world.ids["run-hi"], "0" * 24),
        lambda: client.workflows.get_result_file(world.workflow, "0" * 24),
        lambda: client.uploads.get_uploaded_file(world.ids["a"], uuid.uuid4().hex),
    ]
    for download in downloads:
        with pytest.raises(requests.HTTPError) as missing:
            download()
        assert status_of(missing.value) == 404
    with client.sending(None), pytest.raises(requests.HTTPError) as anonymous:
        client.groups.create_group(world.workflow, "nobody")
    assert status_of(anonymous.value) == 403


def test_11_cleanup_and_logout(world: World) -> None:
    client = world.client
    for run in ("run-hi", "run-Howdy", "run-Hey", "run-canceled"):
        client.runs.delete_run(world.ids[run])
    client.uploads.delete_file(world.ids["a"], world.ids["file-a"])
    serialize.validate_file_listing(client.uploads.list_uploaded_files(world.ids["a"]), 0)
    client.groups.delete_group(world.ids["a"])
    client.groups.delete_group(world.ids["c"])
    assert client.groups.list_groups()["groups"] == []
    token = Flowserv.token()
    out = client.users.logout_user(token)
    serialize.validate_user_handle(out, login=False)
    with pytest.raises(requests.HTTPError) as ended:
        client.workflows.list_workflows()
    assert status_of(ended.value) == 403
