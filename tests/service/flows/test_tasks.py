"""Flows of several tasks (`tasks`, AERO's multi-entry config): each run is one work per
task, each with its own copy of its kwargs and its own provenance record; the run ends
when its last task does (failed if one failed). Registration validates every task."""

from __future__ import annotations

from typing import Any

import httpx

from service.testing import SluiceProcess
from tests.service.flows.conftest import commit, content, flow, new_source, register, runs, worker
from tests.service.flows.test_compat import aero_register
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

LABELLED = "tests.service.flows.jobs.labelled"


def tasks_flow(client: httpx.Client, *labels: str) -> tuple[str, dict[str, Any]]:
    cases = new_source(client, "cases")
    commit(client, cases, b"x")
    made = register(client, LABELLED, policy="ANY", inputs={"cases": {"data_id": cases}},
                    outputs={"summary": {}}, tasks=[{"label": label} for label in labels],
                    retries=0)  # fmt: skip
    return cases, made


def ended(client: httpx.Client, flow_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = runs(client, flow_id)
        return found[0] if found and found[0]["status"] not in ("queued", "running") else None

    run: dict[str, Any] = wait_for(check, 60, "the run's end")
    return run


def test_each_task_is_a_work_with_its_own_kwargs_and_record(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    _, made = tasks_flow(client, "a", "b")
    assert made["tasks"] == [{"label": "a"}, {"label": "b"}] and made["kwargs"] == {"label": "a"}
    worker(workers, server.url)
    run = ended(client, made["id"])
    assert run["status"] == "committed", run
    assert run["work_ids"] == [f"{run['id']}:0", f"{run['id']}:1"]
    assert len(runs(client, made["id"])) == 1  # its parts are not listed as runs
    parts = [client.get(f"/aero/runs/{work_id}").json() for work_id in run["work_ids"]]
    assert [(p["parent"], p["task"], p["status"]) for p in parts] == [
        (run["id"], 0, "committed"), (run["id"], 1, "committed")]  # fmt: skip
    summary = made["outputs"]["summary"]["data_id"]
    assert {content(client, summary, n) for n in (1, 2)} == {b"ax", b"bx"}
    records = client.get("/aero/provenance", params={"flow_id": made["id"]}).json()["items"]
    assert sorted(r["run_id"] for r in records) == run["work_ids"]
    assert {r["parent"] for r in records} == {run["id"]}
    # The run's own id finds its parts' records; a part's id only its own.
    of_run = client.get("/aero/provenance", params={"run_id": run["id"]}).json()
    assert of_run["total"] == 2
    assert sorted(r["run_id"] for r in of_run["items"]) == run["work_ids"]
    paged = client.get("/aero/provenance", params={"run_id": run["id"], "limit": 1}).json()
    assert paged["total"] == 2 and len(paged["items"]) == 1
    of_part = client.get("/aero/provenance", params={"run_id": run["work_ids"][1]}).json()
    assert [r["run_id"] for r in of_part["items"]] == [run["work_ids"][1]]
    assert run["provenance_ids"] == [p["provenance_id"] for p in parts]
    assert all(p["provenance_ids"] == [p["provenance_id"]] for p in parts)
    # With a version too: both filters hold.
    made_version = of_part["items"][0]["contributed_to"][0]
    both = client.get("/aero/provenance", params={"run_id": run["id"], "version_id": made_version})
    assert [r["run_id"] for r in both.json()["items"]] == [run["work_ids"][1]]
    # The run of tasks is carried out by its parts only.
    refused = client.post(f"/aero/runs/{run['id']}/task")
    assert refused.status_code == 400 and "has tasks" in refused.text


def test_a_failed_task_fails_the_run_once_every_task_ended(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    _, made = tasks_flow(client, "fail", "b")
    worker(workers, server.url)
    run = ended(client, made["id"])
    assert run["status"] == "failed" and run["error"].startswith("task 0:"), run
    assert "asked to fail" in run["error"]
    part = client.get(f"/aero/runs/{run['work_ids'][1]}").json()
    assert part["status"] == "committed"  # the other task ran all the same
    # The run ends, then releases its flow (a second write).
    wait_for(lambda: flow(client, made["id"])["pending_run_id"] is None, 30, "the release")


def test_registration_checks_every_task(client: httpx.Client) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"x")
    base = {"inputs": {"cases": {"data_id": cases}}, "outputs": {"summary": {}}}
    refusals: list[tuple[dict[str, Any], int]] = [
        ({"tasks": [{"label": "a"}], "kwargs": {"label": "b"}}, 400),
        ({"tasks": [{"label": "a"}, {"bad name": 1}]}, 400),
        ({"tasks": [{"label": "a"}, {"cases": 1}]}, 400),
        ({"tasks": [{"label": str(n)} for n in range(101)]}, 400),  # SLUICE_AERO_MAX_TASKS
        ({"tasks": []}, 422),
        ({"tasks": [1]}, 422),
    ]
    for body, status in refusals:
        answer = client.post("/aero/flows", json={"function_id": _labelled(client),
                                                  "site": "local", **base, **body})  # fmt: skip
        assert answer.status_code == status, (body, answer.text)
    ingestion = client.post("/aero/flows", json={
        "policy": "INGESTION", "outputs": {"feed": {"url": "http://127.0.0.1:9/f"}},
        "tasks": [{"label": "a"}]})  # fmt: skip
    assert ingestion.status_code == 400 and "no tasks" in ingestion.text
    first = register(client, LABELLED, **base, tasks=[{"label": "a"}, {"label": "b"}])
    twice = {"function_id": _labelled(client), "site": "local", **base,
             "tasks": [{"label": "a"}, {"label": "b"}]}  # fmt: skip
    again = client.post("/aero/flows", json=twice)
    assert again.status_code == 409 and again.json()["error"]["details"]["flow_id"] == first["id"]
    other = register(client, LABELLED, **base, tasks=[{"label": "b"}, {"label": "a"}])
    assert other["id"] != first["id"]


def test_the_aero_client_s_tasks_and_list_kwargs_are_taken(client: httpx.Client) -> None:
    cases = new_source(client, "cases")
    labelled = _labelled(client)
    given = {"function_uuid": labelled, "input_data": {"cases": {"id": cases, "version": None}},
             "output_data": {"summary": {"url": None}}}  # fmt: skip
    listed = aero_register(client, **given, flow_kwargs=[{"label": "a"}, {"label": "b"}])
    assert listed.status_code == 200, listed.text
    shown = listed.json()
    assert shown["function_args"]["kwargs"]["label"] == "a"
    assert [t["kwargs"]["label"] for t in shown["tasks"]] == ["a", "b"]
    assert all(t["kwargs"]["aero"]["flow_id"] == shown["id"] for t in shown["tasks"])
    named = aero_register(client, **given, flow_kwargs={"label": "ignored"},
                          tasks=[{"label": "c"}, {"label": "d"}])  # fmt: skip
    assert named.status_code == 200, named.text
    assert [t["kwargs"]["label"] for t in named.json()["tasks"]] == ["c", "d"]
    single = aero_register(client, **given, flow_kwargs={"label": "e"})
    assert "tasks" not in single.json()


def _labelled(client: httpx.Client) -> str:
    answer = client.post("/aero/functions", json={"path": LABELLED})
    body = answer.json()
    function_id: str = body["id"] if answer.status_code == 201 else body["error"]["details"]["id"]
    return function_id
