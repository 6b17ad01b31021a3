"""Real objects of one pipeline ("B"), made with the bootstrap admin secret, for the
route walk (test_pipeline_walk): results, queued, running, failed, expired and old
works, a workfile (with its workspace) and its run, tokens, users, a registered worker,
an experiment and a task of an extension.

`snapshot` reads all of them back, so the walk can show that no route changed them.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from schemas.buckets import LEASE_HEADER
from tests.service.auth.helpers import create_token
from tests.service.buckets.helpers import deposit, new_work, withdraw
from tests.service.factories import work

#: The extension (of pipeline B) whose action the world runs as a task.
EXTENSION, ACTION = "probe", "ping"
#: The upstream of the world's INGESTION_EVENT flow: its host is the one the walk's
#: Sluice lists in SLUICE_AERO_INGEST_HOSTS (never fetched: the flow is never notified).
EVENT_HOST = "walk.invalid"
EVENT_URL = f"http://{EVENT_HOST}/feed.csv"


def manifest(pipeline: str) -> dict[str, Any]:
    """An extension queuing its tasks as works of `pipeline`."""
    return {
        "name": EXTENSION,
        "description": "a probe",
        "pipeline": pipeline,
        "actions": [
            {
                "name": ACTION,
                "experiment_variable_name": "exp",
                "command": ["true"],
                "parameters": [{"name": "exp", "data_type": "experiment"}],
            }
        ],
    }


def worker_beat(pipeline: str) -> dict[str, Any]:
    """A worker's registration, serving `pipeline`."""
    return {"name": "walk", "host": "walk-host", "pid": 1, "pipelines": [pipeline],
            "version": "0"}  # fmt: skip


def workflow(pipeline: str) -> dict[str, Any]:
    """A one-step workflow of `pipeline` (never run: no worker takes it)."""
    step = {"name": "only", "function": "pkg.mod.func", "parameters": {}, "retries": 0}
    return {"name": "walk", "pipeline": pipeline, "site": "local", "operators": [step]}


@dataclass(frozen=True)
class World:
    """Pipeline B's objects; tokens limited to `allowed` (a pattern matching `a`, not
    `b`) walk against them."""

    a: str
    b: str
    allowed: str
    result: dict[str, Any]
    queued: str
    running: dict[str, Any]
    lease: str
    failed: str
    expired: str
    old: str
    workspace: str
    workfile: str
    #: Id of `workspace` on the Alpine surface.
    workspace_id: str
    process: str
    b_token: str
    full_admin: str
    b_user: str
    #: The user id of `b_user`.
    b_user_id: str
    full_user: str
    worker: str
    eid: str
    experiment_uuid: str
    task: str
    #: An AERO data source with one version, and a registered function.
    aero_data: str
    aero_function: str
    #: A flow of pipeline B over `aero_data`, a committed run of it with its provenance
    #: record, and a second run left queued.
    aero_flow: str
    aero_committed_run: str
    aero_provenance: str
    aero_run: str
    #: A leaderboard template of B, a group of it with an uploaded file, and a run.
    lb_workflow: str = ""
    lb_run: str = ""
    lb_group: str = ""
    lb_upload: str = ""
    #: A source fetched from `EVENT_URL` by an INGESTION_EVENT flow of B (never notified).
    aero_event_data: str = ""
    aero_event_flow: str = ""


def _claim(admin: httpx.Client, document: dict[str, Any]) -> tuple[dict[str, Any], str]:
    [work_id] = deposit(admin, [document])
    claimed, lease = withdraw(admin, {"pipeline": document["pipeline"], "id": work_id})
    assert claimed is not None and lease is not None
    return claimed, lease


def names() -> tuple[str, str, str]:
    """Fresh names: pipeline A, pipeline B, and a pattern matching A but not B."""
    tag = uuid.uuid4().hex[:8]
    return f"pa-{tag}-x", f"pb-{tag}", f"pa-{tag}-*"


def build(
    admin: httpx.Client, a: str, b: str, allowed: str, env: dict[str, str] | None = None
) -> World:
    """Make pipeline B's objects (`admin`: a client sending the bootstrap secret; the
    extension `EXTENSION` of pipeline `b` declared; `env`: the server's, for the
    leaderboard group made through its store)."""
    tag = b.removeprefix("pb-")
    result = work(b)
    assert admin.post("/results/results", json=[result]).status_code == 200
    query = {"pipeline": b, "id": result["id"]}
    [stored] = admin.post("/results/view", json={"query": query}).json()
    [queued] = deposit(admin, [new_work(b)])
    running, lease = _claim(admin, new_work(b, timeout=3600))
    failing, failing_lease = _claim(admin, new_work(b, retries=3))
    report = {**failing, "status": "failure", "stop": time.time(), "results": {"error": "x"}}
    put = admin.put("/buckets/work", json=[report], headers={LEASE_HEADER: failing_lease})
    assert put.status_code == 200, put.text
    expired, _ = _claim(admin, new_work(b, timeout=1))
    [old] = deposit(admin, [new_work(b, creation=time.time() - 30 * 86400)])
    workspace = f"ws-{tag}"
    uploaded = admin.post(
        "/workfiles",
        params={"workspace": workspace, "file_name": "walk.json"},
        content=json.dumps(workflow(b)).encode(),
    )
    assert uploaded.status_code == 200, uploaded.text
    workfile = uploaded.json()["id"]
    started = admin.post(f"/workfiles/{workfile}/processes", json={"variables": []})
    assert started.status_code == 200, started.text
    b_token = f"b-{tag}"
    create_token(str(admin.base_url), ["admin"], [b], name=b_token)
    full_admin = f"full-{tag}"
    create_token(str(admin.base_url), ["admin"], name=full_admin)
    b_user, full_user = f"bu-{tag}", f"fu-{tag}"
    user_ids = {}
    for username, pipelines in ((b_user, [b]), (full_user, [])):
        user = {"username": username, "password": "walk-" + tag * 2, "scopes": ["admin"],
                "pipelines": pipelines}  # fmt: skip
        created = admin.post("/admin/users", json=user)
        assert created.status_code == 201, created.text
        user_ids[username] = created.json()["id"]
    spaces = admin.get("/alpine/api/workspaces", params={"per_page": 100}).json()["response"]
    [workspace_id] = [space["id"] for space in spaces if space["name"] == workspace]
    worker = f"worker-{tag}"
    registered = admin.put(f"/buckets/workers/{worker}", json=worker_beat(b))
    assert registered.status_code == 200, registered.text
    experiment = admin.post("/experiments", json={"title": "walk", "description": ""}).json()
    eid = experiment["eid"]
    task = admin.post(f"/extensions/{EXTENSION}/{ACTION}", json={"parameters": {"exp": eid}})
    assert task.status_code == 201, task.text
    aero_data = admin.post("/aero/data", json={"name": f"walk-{tag}"}).json()["id"]
    committed = admin.post(f"/aero/data/{aero_data}/versions", content=b"walk")
    assert committed.status_code == 201, committed.text
    function = admin.post("/aero/functions", json={"path": f"walk_{tag}.run"})
    assert function.status_code == 201, function.text
    lb_workflow, lb_group, lb_upload, lb_run = _leaderboard(admin, b, tag, env)
    flow, committed_run, record, queued_run = _aero_flow(admin, b, aero_data, function.json()["id"])
    event = {"policy": "INGESTION_EVENT", "pipeline": b, "site": "walk",
             "outputs": {"feed": {"url": EVENT_URL}}}  # fmt: skip
    event_flow = admin.post("/aero/flows", json=event)
    assert event_flow.status_code == 201, event_flow.text
    time.sleep(1.2)  # past the `expired` work's one-second lease (the reaper is off)
    return World(
        a=a,
        b=b,
        allowed=allowed,
        result=stored,
        queued=queued,
        running=running,
        lease=lease,
        failed=failing["id"],
        expired=expired["id"],
        old=old,
        workspace=workspace,
        workfile=workfile,
        workspace_id=workspace_id,
        process=started.json()["process_id"],
        b_token=b_token,
        full_admin=full_admin,
        b_user=b_user,
        b_user_id=user_ids[b_user],
        full_user=full_user,
        worker=worker,
        eid=eid,
        experiment_uuid=experiment["uuid"],
        task=task.json()["task_id"],
        aero_data=aero_data,
        aero_function=function.json()["id"],
        aero_flow=flow,
        aero_committed_run=committed_run,
        aero_provenance=record,
        aero_run=queued_run,
        lb_workflow=lb_workflow,
        lb_run=lb_run,
        lb_group=lb_group,
        lb_upload=lb_upload,
        aero_event_data=event_flow.json()["outputs"]["feed"]["data_id"],
        aero_event_flow=event_flow.json()["id"],
    )


def _leaderboard(
    admin: httpx.Client, b: str, tag: str, env: dict[str, str] | None
) -> tuple[str, str, str, str]:
    """A leaderboard template of B and, with `env`, a group of B with an uploaded file
    and a run of it: their ids (workflow, group, upload, run)."""
    from tests.service.leaderboards.helpers import as_yaml, make_group, upload

    template = {"name": f"walk-{tag}", "pipeline": b, "site": "local",
                "steps": [{"name": "s", "command": ["true"]}]}  # fmt: skip
    installed = admin.post("/leaderboards/workflows", content=as_yaml(template))
    assert installed.status_code == 201, installed.text
    workflow_id = installed.json()["id"]
    if env is None:
        return workflow_id, "", "", ""
    group = make_group(env, workflow_id, b, f"walk-{tag}")
    uploaded_id = upload(env, group, "walk.txt", b"walk")
    started = admin.post(f"/leaderboards/workflows/{workflow_id}/runs", json={"group": group})
    assert started.status_code == 201, started.text
    return workflow_id, group, uploaded_id, started.json()["id"]


def _aero_flow(
    admin: httpx.Client, b: str, data_id: str, function_id: str
) -> tuple[str, str, str, str]:
    """A flow of pipeline `b`, one run committed by hand (a worker's calls) and one
    left queued: their ids and the committed run's provenance record."""
    body = {"function_id": function_id, "pipeline": b, "site": "walk",
            "inputs": {"cases": {"data_id": data_id}}, "outputs": {"summary": {}}}  # fmt: skip
    created = admin.post("/aero/flows", json=body)
    assert created.status_code == 201, created.text
    flow = created.json()["id"]
    run = admin.post(f"/aero/flows/{flow}/runs").json()["id"]
    assert admin.post(f"/aero/runs/{run}/task").status_code == 200
    assert admin.post(f"/aero/runs/{run}/outputs/summary", content=b"out").status_code == 200
    committed = admin.post(f"/aero/runs/{run}/commit", json={})
    assert committed.status_code == 200, committed.text
    queued = admin.post(f"/aero/flows/{flow}/runs")
    assert queued.status_code == 201, queued.text
    return flow, run, committed.json()["provenance_id"], queued.json()["id"]


def snapshot(admin: httpx.Client, world: World) -> dict[str, Any]:
    """Everything of pipeline B that a route could change, as stored now."""
    works = admin.post("/buckets/view", json={"query": {"pipeline": world.b}}).json()
    flow = admin.get(f"/aero/flows/{world.aero_flow}").json()
    tokens = admin.get("/admin/tokens").json()
    return {
        "results": admin.post("/results/view", json={"query": {"pipeline": world.b}}).json(),
        "works": sorted((w["id"], w["status"], w["attempt"], w["retries"]) for w in works),
        "tokens": sorted((t["name"], t["revoked"]) for t in tokens),
        "workers": sorted(w["id"] for w in admin.get("/buckets/workers").json()),
        "users": sorted(u["username"] for u in admin.get("/admin/users").json()),
        "workfile": admin.get(f"/workfiles/{world.workfile}").json(),
        "run": admin.get(f"/workfiles/processes/{world.process}").json()["status"],
        "task": admin.get(f"/tasks/{world.task}").json()["status"],
        "experiment": admin.get(f"/experiments/{world.eid}").status_code,
        "aero_versions": admin.get(f"/aero/data/{world.aero_data}/versions").json()["total"],
        "leaderboards": admin.get("/leaderboards/workflows").json(),
        "lb_run": admin.get(f"/leaderboards/runs/{world.lb_run}").json(),
        "aero_flow": {
            key: flow[key]
            for key in ("state", "pending_run_id", "last_run_id", "description", "timer")
        },
        "aero_runs": [
            (run["id"], run["status"], run["committed"])
            for run in admin.get(f"/aero/flows/{world.aero_flow}/runs").json()
        ],
        "aero_provenance": admin.get("/aero/provenance").json()["total"],
        "aero_event_runs": admin.get(f"/aero/flows/{world.aero_event_flow}/runs").json(),
        "lb_group": admin.get(f"/leaderboards/groups/{world.lb_group}").json(),
    }
