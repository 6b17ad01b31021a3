"""Extensions and tasks over HTTP: manifests re-read live, parameter checks, runs by a
real `sluice worker` to SUCCESS and FAILURE, cancel of queued and running tasks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from service.buckets.store import COLLECTION
from service.experiments.tasks import STOP_GRACE
from tests.service.experiments.lab import Lab, StartWorker
from tests.service.experiments.test_experiments import create, error_code


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def execute(http: httpx.Client, action: str, parameters: dict[str, Any]) -> httpx.Response:
    return http.post(f"/extensions/demo/{action}", json={"parameters": parameters})


def task_in(http: httpx.Client, task_id: str, *statuses: str) -> dict[str, Any] | None:
    task: dict[str, Any] = http.get(f"/tasks/{task_id}").json()
    return task if task["status"] in statuses else None


def test_listing_and_live_reload(lab: Lab, lab_http: httpx.Client) -> None:
    listing = lab_http.get("/extensions").json()
    names = [e["name"] for e in listing["extensions"]]
    assert names == ["demo", "idle"] and listing["invalid"] == []
    greet = listing["extensions"][0]["actions"][0]
    assert greet["name"] == "greet" and greet["experiment_variable_name"] == "exp"
    types = {p["name"]: p["data_type"] for p in greet["parameters"]}
    assert types["mode"] == "select" and types["loud"] == "bool"

    extra = lab.extensions / "extra.yaml"
    broken = lab.extensions / "broken.yml"
    try:
        extra.write_text("name: extra\nactions:\n  - name: go\n    command: ['true']\n")
        broken.write_text("name: broken\nactions: []\n")
        reserved = lab.extensions / "reserved.yaml"
        reserved.write_text(
            "name: reserved\nactions:\n  - name: go\n    command: ['true']\n"
            "    parameters: [{name: SLUICE_STAGE_FILES, data_type: str}]\n"
        )
        listing = lab_http.get("/extensions").json()
        assert [e["name"] for e in listing["extensions"]] == ["demo", "extra", "idle"]
        invalid = {i["file"]: i["error"] for i in listing["invalid"]}
        assert sorted(invalid) == ["broken.yml", "reserved.yaml"]
        assert "reserved" in invalid["reserved.yaml"]
    finally:
        extra.unlink()
        broken.unlink()
        reserved.unlink()
    assert [e["name"] for e in lab_http.get("/extensions").json()["extensions"]] == [
        "demo",
        "idle",
    ]


def count_tasks(http: httpx.Client) -> int:
    total: int = http.get("/tasks", params={"limit": 1}).json()["total"]
    return total


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"who": "x"}, "exp"),  # missing experiment
        ({"exp": "19990101-1", "who": "x"}, "exp"),  # unknown experiment
        ({"exp": "garbage", "who": "x"}, "exp"),
        ({"exp": "EID", "who": 5}, "who"),
        ({"exp": "EID", "who": "x", "times": "3"}, "times"),
        ({"exp": "EID", "who": "x", "times": True}, "times"),
        ({"exp": "EID", "who": "x", "times": 1.5}, "times"),
        ({"exp": "EID", "who": "x", "ratio": "0.1"}, "ratio"),
        ({"exp": "EID", "who": "x", "loud": "yes"}, "loud"),
        ({"exp": "EID", "who": "x", "mode": "medium"}, "mode"),
        ({"exp": "EID", "who": "x", "surprise": 1}, "surprise"),
    ],
)
def test_bad_parameters_start_nothing(
    lab_http: httpx.Client, parameters: dict[str, Any], field: str
) -> None:
    eid = create(lab_http)["eid"]
    parameters = {k: eid if v == "EID" else v for k, v in parameters.items()}
    before = count_tasks(lab_http)
    response = execute(lab_http, "greet", parameters)
    assert response.status_code == 422, response.text
    assert error_code(response) == "validation_failed"
    assert field in [e["loc"][0] for e in response.json()["error"]["details"]["errors"]]
    assert count_tasks(lab_http) == before


def test_file_parameter_must_name_a_file_of_the_experiment(lab_http: httpx.Client) -> None:
    eid = create(lab_http)["eid"]
    missing = execute(lab_http, "inspect", {"exp": eid, "data": "nope.txt"})
    assert missing.status_code == 422 and "nope.txt" in missing.text
    traversal = execute(lab_http, "inspect", {"exp": eid, "data": "../etc/passwd"})
    assert traversal.status_code == 422
    lab_http.put(f"/experiments/{eid}/files/here.txt", content=b"x")
    started = execute(lab_http, "inspect", {"exp": eid, "data": "here.txt"})
    assert started.status_code == 201
    # Revoked, so that the next worker of the demo pipeline does not take it.
    lab_http.post(f"/tasks/{started.json()['task_id']}/cancel")


def test_file_parameters_are_downloaded_and_no_worker_token_is_passed(
    lab_http: httpx.Client, lab_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    eid = create(lab_http)["eid"]
    lab_http.put(f"/experiments/{eid}/files/beam.txt", content=b"beam 7 at 400 MHz\n")
    started = execute(lab_http, "inspect", {"exp": eid, "data": "beam.txt"})
    assert started.status_code == 201, started.text
    monkeypatch.setenv("SLUICE_TOKEN", "the-workers-own-secret")
    worker = lab_worker(1)
    task_id = started.json()["task_id"]
    done = wait_for(lambda: task_in(lab_http, task_id, "SUCCESS", "FAILURE"), what="end")
    worker.communicate(timeout=30)
    assert done["status"] == "SUCCESS", done
    lines = dict(line.split("=", 1) for line in done["stdout"].splitlines() if "=" in line)
    # The variable holds the local copy, in the command's own working directory.
    assert lines["file"] == f"{lines['dir']}/beam.txt" and "sluice-task-" in lines["dir"]
    assert "beam 7 at 400 MHz" in done["stdout"]
    assert lines["token"] == "none", "the command never sees the worker's token"
    assert not Path(lines["dir"]).exists(), "the task's directory is removed once it ended"
    assert task_in(lab_http, task_id, "SUCCESS") is not None


def test_unknown_extension_action_and_task(lab_http: httpx.Client) -> None:
    assert lab_http.post("/extensions/nope/greet", json={}).status_code == 404
    assert lab_http.post("/extensions/demo/nope", json={}).status_code == 404
    assert lab_http.post("/extensions/demo/greet", json={"parameters": 3}).status_code == 422
    assert lab_http.get(f"/tasks/{uuid.uuid4().hex}").status_code == 404
    assert lab_http.post(f"/tasks/{uuid.uuid4().hex}/cancel").status_code == 404


def test_run_to_success_with_parameters_in_the_environment(
    lab_http: httpx.Client, lab_worker: StartWorker
) -> None:
    record = create(lab_http)
    started = execute(
        lab_http, "greet", {"exp": record["uuid"], "who": "Ada Lovelace", "loud": True, "ratio": 2}
    )
    assert started.status_code == 201, started.text
    task = started.json()
    assert task["status"] == "PENDING" and task["experiment_eid"] == record["eid"]
    assert task["parameters"] == {
        "exp": record["eid"], "who": "Ada Lovelace", "loud": True, "times": 1,
        "ratio": 2.0, "mode": "fast", "notes": "",
    }  # fmt: skip
    worker = lab_worker(1)
    done = wait_for(lambda: task_in(lab_http, task["task_id"], "SUCCESS", "FAILURE"), what="end")
    worker.communicate(timeout=30)
    assert done["status"] == "SUCCESS", done
    assert done["result_code"] == 0 and done["ended_at"]
    assert done["stdout"] == "hello Ada Lovelace loud=true times=1 ratio=2.0 mode=fast"
    log_name = f"task-{task['task_id']}.log"

    def names() -> list[str]:
        return [f["name"] for f in lab_http.get(f"/experiments/{record['eid']}/files").json()]

    wait_for(lambda: log_name in names(), what="the task log")
    log = lab_http.get(f"/experiments/{record['eid']}/files/{log_name}").text
    assert "hello Ada Lovelace" in log and "SUCCESS" in log


def test_run_to_failure_keeps_code_and_output(
    lab_http: httpx.Client, lab_worker: StartWorker
) -> None:
    record = create(lab_http)
    task = execute(lab_http, "fail", {"exp": record["eid"]}).json()
    worker = lab_worker(1)
    done = wait_for(lambda: task_in(lab_http, task["task_id"], "SUCCESS", "FAILURE"), what="end")
    worker.communicate(timeout=30)
    assert done["status"] == "FAILURE" and done["result_code"] == 3
    assert done["stdout"] == "about to fail"
    assert done["stderr"].startswith("oops\n[sluice] the command exited with code 3")
    # Once the mover took the work to Results the task still answers the same.
    time.sleep(1.5)
    assert lab_http.get(f"/tasks/{task['task_id']}").json() == done


def test_cancel_queued_task_is_idempotent(lab: Lab, lab_http: httpx.Client) -> None:
    task = lab_http.post("/extensions/idle/wait", json={"parameters": {}}).json()
    assert task["experiment_uuid"] is None
    cancelled = lab_http.post(f"/tasks/{task['task_id']}/cancel").json()
    assert cancelled["status"] == "REVOKED" and cancelled["ended_at"]
    again = lab_http.post(f"/tasks/{task['task_id']}/cancel")
    assert again.status_code == 200 and again.json() == cancelled
    view = lab_http.post("/buckets/view", json={"query": {"id": task["task_id"]}}).json()
    assert view == []  # the queued work is gone: no worker will run it
    time.sleep(0.8)
    assert lab_http.get(f"/tasks/{task['task_id']}").json()["status"] == "REVOKED"


def test_cancel_running_task_stops_it(
    lab: Lab, lab_http: httpx.Client, lab_worker: StartWorker
) -> None:
    record = create(lab_http)
    task = execute(lab_http, "nap", {"exp": record["eid"]}).json()
    worker = lab_worker(1)
    wait_for(lambda: task_in(lab_http, task["task_id"], "STARTED"), what="the run to start")
    asked = time.monotonic()
    cancelled = lab_http.post(f"/tasks/{task['task_id']}/cancel").json()
    assert cancelled["status"] == "REVOKED"
    with MongoClient[dict[str, Any]](lab.server.env["MONGODB_URI"]) as client:
        work = client[lab.server.env["SLUICE_DB_NAME"]][COLLECTION].find_one(
            {"id": task["task_id"]}
        )
    assert work is not None and work["_stop"] is True
    assert work["_lease"]["expires"] <= time.time() + STOP_GRACE
    _, log = worker.communicate(timeout=30)
    # The worker saw stop=true at its next heartbeat (every 3 s), well before the nap's end.
    assert time.monotonic() - asked < 7, log
    assert "stopped: asked to stop" in log
    assert lab_http.post(f"/tasks/{task['task_id']}/cancel").json()["status"] == "REVOKED"


def test_cancel_finished_task_is_a_conflict(
    lab_http: httpx.Client, lab_worker: StartWorker
) -> None:
    task = execute(lab_http, "fail", {"exp": create(lab_http)["eid"]}).json()
    lab_worker(1).communicate(timeout=30)
    wait_for(lambda: task_in(lab_http, task["task_id"], "FAILURE"), what="the failure")
    response = lab_http.post(f"/tasks/{task['task_id']}/cancel")
    assert response.status_code == 409 and error_code(response) == "conflict"


def test_list_tasks_filters_and_paging(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    made = [
        execute(lab_http, "greet", {"exp": record["eid"], "who": str(i)}).json() for i in range(3)
    ]
    for task in made:
        lab_http.post(f"/tasks/{task['task_id']}/cancel")
    page = lab_http.get(
        "/tasks", params={"experiment_uuid": record["uuid"], "limit": 2, "action_name": "greet"}
    ).json()
    assert page["total"] == 3
    assert [t["task_id"] for t in page["tasks"]] == [made[2]["task_id"], made[1]["task_id"]]
    assert all(t["username"] == "anonymous" for t in page["tasks"])
    none = lab_http.get(
        "/tasks", params={"experiment_uuid": record["uuid"], "extension_name": "idle"}
    ).json()
    assert none["total"] == 0
    since = lab_http.get(
        "/tasks", params={"experiment_uuid": record["uuid"], "start_date": made[1]["created_at"]}
    ).json()
    assert since["total"] == 2
    assert lab_http.get("/tasks", params={"limit": 501}).status_code == 400
    assert lab_http.get("/tasks", params={"end_date": "never"}).status_code == 400


def test_removing_an_experiment_removes_its_tasks(lab_http: httpx.Client) -> None:
    record = create(lab_http)
    task = execute(lab_http, "greet", {"exp": record["eid"], "who": "x"}).json()
    assert lab_http.delete(f"/experiments/{record['eid']}").status_code == 200
    assert lab_http.get(f"/tasks/{task['task_id']}").status_code == 404
    view = lab_http.post("/buckets/view", json={"query": {"id": task["task_id"]}}).json()
    assert view == []
