"""Reports as the real `workflow` client (1.12.3) sends them: runs that edit themselves,
late reports, and what the client's daemons make of both (`service.buckets.lease`).

Everything goes through the client's own objects in the agent process: `Work.withdraw`,
assignments on the withdrawn `Work`, `work.update()`, and the daemons' commands run with
`--test-mode` (which return their tallies). This module has a Sluice of its own without
reaper, mover or automatic retries, so only the client's daemons act on the works and
their tallies are exact.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.contract.remote import PROJECT_ROOT, RemoteBackend, WorkflowAgent
from tests.contract.test_buckets import ECHO, WORKFLOW, deposit_ids, in_bucket
from tests.contract.workspace import SITE, WorkFactory, WorkflowHome, activate_workspace, client_env

WAIT = "tests.contract.noop_worker.wait_for_file"
#: The stale age `workflow audit` counts with, in days, and a creation older than it.
STALE = 60 * 86400
TRANSFER = ("--test-mode", "--limit", "1000")
AUDIT = ("audit", "--test-mode")


@pytest.fixture(scope="module")
def own_sluice(
    sluice_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SluiceProcess]:
    env = {
        **sluice_env,
        "SLUICE_DB_NAME": f"sluice_chime_{uuid.uuid4().hex[:8]}",
        "SLUICE_REAPER_INTERVAL": "0",
        "SLUICE_TRANSFER_INTERVAL": "0",
        "SLUICE_RETRY_BACKOFF": "0",
    }
    with SluiceProcess(env, log_path=tmp_path_factory.mktemp("chime") / "sluice.log") as server:
        yield server


@pytest.fixture(scope="module")
def workflow_home(
    own_sluice: SluiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> WorkflowHome:
    """This module's own HOME, naming its own Sluice (overrides the session's)."""
    home = tmp_path_factory.mktemp("chime-home")
    url = own_sluice.url
    baseurls = {"buckets": f"{url}/buckets", "results": f"{url}/results"}
    source = tmp_path_factory.mktemp("chime-workspace") / "sluice.yml"
    return activate_workspace(home, source, baseurls, client_env(home))


@pytest.fixture
def http(own_sluice: SluiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=own_sluice.url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
def empty_buckets(http: httpx.Client) -> Iterator[None]:
    """Each test starts and ends with empty Buckets: the daemons see every pipeline."""
    yield
    works = http.post("/buckets/view", json={"query": {}, "projection": {"id": True}}).json()
    if works:
        http.delete("/buckets/work", params=[("ids", w["id"]) for w in works])


def _withdrawn(agent: WorkflowAgent, pipeline: str, **filters: Any) -> dict[str, Any]:
    work = agent.withdraw_work(pipeline=pipeline, site=SITE, **filters)
    assert work is not None, f"nothing withdrawn from {pipeline}"
    return work


def _late_entries(http: httpx.Client, work_id: str) -> list[dict[str, Any]]:
    entries = http.get("/admin/audit", params={"action": "buckets.late_report"}).json()
    return [e for e in entries if e["details"]["id"] == work_id]


def _requeue_by_audit(buckets: RemoteBackend) -> None:
    """What `workflow audit` does to a run past its timeout, twice: fail, then requeue."""
    assert buckets.audit() == {"failed": 0, "expired": 1, "stale": 0}
    assert buckets.audit() == {"failed": 1, "expired": 0, "stale": 0}


def test_a_late_report_returns_false_and_changes_nothing(
    workflow_agent: WorkflowAgent,
    buckets: RemoteBackend,
    make_work: WorkFactory,
    http: httpx.Client,
    pipeline: str,
) -> None:
    [wid] = deposit_ids(buckets, [make_work(pipeline, function=ECHO, timeout=1, retries=3)])
    first = _withdrawn(workflow_agent, pipeline)
    time.sleep(1.2)  # past the shortest timeout a work may have
    _requeue_by_audit(buckets)
    second = buckets.withdraw(pipeline)
    assert second["id"] == wid and second["attempt"] == 2 == first["attempt"] + 1

    workflow_agent.edit_work(wid, status="success", results={"from": "first"}, stop=time.time())

    assert workflow_agent.update_work(wid) is False
    [stored] = in_bucket(buckets, pipeline)
    assert stored == second
    [entry] = _late_entries(http, wid)
    assert entry["details"] == {"id": wid, "attempt": 1, "current": 2}
    # The run that holds the work now reports as usual.
    assert buckets.update([{**second, "status": "success", "results": {"from": "second"}}])
    assert in_bucket(buckets, pipeline)[0]["results"] == {"from": "second"}


def test_giving_up_lets_transfer_archive_it(
    workflow_agent: WorkflowAgent, buckets: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    [wid] = deposit_ids(buckets, [make_work(pipeline, function=ECHO, retries=3)])
    _withdrawn(workflow_agent, pipeline)
    workflow_agent.edit_work(wid, status="failure", attempt=3, results={"gave": "up"})

    assert workflow_agent.update_work(wid) is True
    [stored] = in_bucket(buckets, pipeline)
    assert (stored["status"], stored["attempt"]) == ("failure", 3)
    assert buckets.audit() == {"failed": 0, "expired": 0, "stale": 0}

    assert workflow_agent.daemon("transfer", *TRANSFER) == {"transfered": 1, "deleted": 1}
    assert in_bucket(buckets, pipeline) == []
    results = workflow_agent.connect("results")
    [archived] = results.view(pipeline, {}, limit=-1)
    assert archived["id"] == wid and archived["results"] == {"gave": "up"}


def test_giving_up_without_archive_lets_transfer_delete_it(
    workflow_agent: WorkflowAgent, buckets: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    [wid] = deposit_ids(buckets, [make_work(pipeline, function=ECHO)])
    _withdrawn(workflow_agent, pipeline)
    workflow_agent.edit_work(wid, status="failure", attempt=2, **{"config.archive.results": False})

    assert workflow_agent.update_work(wid) is True
    assert in_bucket(buckets, pipeline)[0]["config"]["archive"]["results"] is False

    assert workflow_agent.daemon("transfer", *TRANSFER) == {"transfered": 0, "deleted": 1}
    assert in_bucket(buckets, pipeline) == []
    assert workflow_agent.connect("results").view(pipeline, {}, limit=-1) == []


def test_moving_start_back_lets_audit_expire_it(
    workflow_agent: WorkflowAgent, buckets: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    [wid] = deposit_ids(buckets, [make_work(pipeline, function=ECHO)])
    _withdrawn(workflow_agent, pipeline)
    workflow_agent.edit_work(wid, start=time.time() - 7200)

    assert workflow_agent.update_work(wid) is True

    assert workflow_agent.daemon(*AUDIT) == {"failed": 0, "expired": 1, "stale": 0}
    [stored] = in_bucket(buckets, pipeline)
    assert stored["status"] == "failure" and "expired" in stored["results"]["error"]


def test_moving_creation_back_lets_audit_count_it_stale(
    workflow_agent: WorkflowAgent, buckets: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    [wid] = deposit_ids(buckets, [make_work(pipeline, function=ECHO)])
    _withdrawn(workflow_agent, pipeline)
    workflow_agent.edit_work(wid, creation=time.time() - STALE, priority=5, retries=4)

    assert workflow_agent.update_work(wid) is True

    assert workflow_agent.daemon(*AUDIT) == {"failed": 0, "expired": 0, "stale": 1}
    [stored] = in_bucket(buckets, pipeline)
    assert (stored["status"], stored["priority"], stored["retries"]) == ("running", 5, 4)


def test_workflow_run_survives_a_late_report(
    workflow_agent: WorkflowAgent,
    buckets: RemoteBackend,
    make_work: WorkFactory,
    workflow_home: WorkflowHome,
    http: httpx.Client,
    pipeline: str,
    tmp_path: Path,
) -> None:
    flag = tmp_path / "finish"
    held = make_work(
        pipeline, function=WAIT, parameters={"path": str(flag)}, timeout=1, retries=3,
        priority=5, event=[1],
    )  # fmt: skip
    later = [make_work(pipeline, function=ECHO, parameters={"n": n}, priority=1) for n in (2, 3)]
    first_id, *later_ids = deposit_ids(buckets, [held, *later])
    env = {**workflow_home.env, "PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "1000"}
    worker = subprocess.Popen(
        [str(WORKFLOW), "run", pipeline, "-s", SITE, "--lives", "3", "--sleep", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while buckets.view({"id": first_id}, {"status": True})[0]["status"] != "running":
            assert time.monotonic() < deadline, "workflow run never took the first work"
            time.sleep(0.1)
        time.sleep(1.2)  # the worker's run is now past its timeout
        _requeue_by_audit(buckets)
        rerun = buckets.withdraw(pipeline, event=[1])
        assert rerun["id"] == first_id and rerun["attempt"] == 2
        done = {**rerun, "status": "success", "results": {"rerun": True}, "stop": time.time()}
        assert buckets.update([done]) is True
        flag.touch()  # the worker's first run ends now, and reports late
        output, _ = worker.communicate(timeout=90)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output

    by_id = {w["id"]: w for w in in_bucket(buckets, pipeline)}
    assert by_id[first_id] == done
    for work_id, n in zip(later_ids, (2, 3), strict=True):
        assert by_id[work_id]["status"] == "success", output
        assert by_id[work_id]["results"] == {"echo": {"n": n}}
    [entry] = _late_entries(http, first_id)
    assert entry["details"] == {"id": first_id, "attempt": 1, "current": 2}
