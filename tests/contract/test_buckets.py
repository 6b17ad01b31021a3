"""The Buckets API as the real `workflow` client (1.12.3) and its CLI see it.

Calls go through the client's own `Buckets` object (`HTTPContext(backends=["buckets"])
.buckets`, in the agent process); the CLI commands run as `.venv/bin/workflow` with the
isolated HOME of `workflow_home`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.work import WORK_FIELDS
from tests.contract.remote import PROJECT_ROOT, RemoteBackend, WorkflowAgent
from tests.contract.workspace import SITE, WorkFactory, WorkflowHome

WORKFLOW = Path(sys.executable).parent / "workflow"
ECHO = "tests.contract.noop_worker.echo"


def workflow_cli(home: WorkflowHome, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `workflow` console script against Sluice; fails the test on a non-zero exit."""
    # PYTHONPATH lets `workflow run` import ECHO; a wide COLUMNS keeps rich tables unwrapped.
    env = {**home.env, "PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "1000"}
    done = subprocess.run(
        [str(WORKFLOW), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (
        f"`workflow {' '.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


def in_bucket(buckets: RemoteBackend, pipeline: str) -> list[dict[str, Any]]:
    """Every work of `pipeline` in Buckets, as the client views them."""
    found: list[dict[str, Any]] = buckets.view({"pipeline": pipeline}, {}, limit=None)
    return found


def deposit_ids(buckets: RemoteBackend, works: list[dict[str, Any]]) -> list[str]:
    """Deposit `works` with return_ids=True; the ids, checked to be strings."""
    ids: list[str] = buckets.deposit(works, return_ids=True)
    assert len(ids) == len(works) and all(isinstance(i, str) and i for i in ids)
    return ids


def claim(buckets: RemoteBackend, pipeline: str | list[str], **filters: Any) -> dict[str, Any]:
    """Withdraw one work of `pipeline` (one or several); fails unless one came back."""
    work: dict[str, Any] = buckets.withdraw(pipeline, **filters)
    assert work, f"nothing withdrawn from {pipeline} with {filters}"
    return work


def test_client_is_configured_by_the_workspace(
    buckets: RemoteBackend, workflow_home: WorkflowHome
) -> None:
    assert buckets.baseurl == workflow_home.baseurls["buckets"]
    info = buckets.info()
    assert isinstance(info["server"], dict) and "version" in info["server"]


def test_deposit_with_and_without_ids(
    buckets: RemoteBackend, workflow_agent: WorkflowAgent, make_work: WorkFactory, pipeline: str
) -> None:
    assert buckets.deposit([make_work(pipeline, event=[0], function=ECHO)]) is True
    works = [make_work(pipeline, event=[n], function=ECHO, tags=[f"n{n}"]) for n in (3, 1, 2)]

    ids = deposit_ids(buckets, works)

    assert len(set(ids)) == 3
    by_id = {d["id"]: d for d in buckets.view({"id": {"$in": ids}}, {})}
    assert [by_id[i]["event"] for i in ids] == [[3], [1], [2]]
    stored = in_bucket(buckets, pipeline)
    assert sorted(d["event"][0] for d in stored) == [0, 1, 2, 3]
    for document in stored:
        assert list(document) == list(WORK_FIELDS)
        assert document["status"] == "queued" and isinstance(document["id"], str)
        parsed = workflow_agent.parse(document)
        assert parsed["id"] == document["id"] and parsed["status"] == "queued"
        assert parsed["tags"] == document["tags"] and parsed["function"] == ECHO


def test_withdraw_with_every_filter(
    buckets: RemoteBackend, workflow_agent: WorkflowAgent, make_work: WorkFactory, pipeline: str
) -> None:
    other = f"{pipeline}-b"
    plain = {"function": ECHO}
    deposit_ids(
        buckets,
        [
            make_work(pipeline, event=[11], **plain),
            make_work(pipeline, tags=["only"], **plain),
            make_work(pipeline, user="someone-else", **plain),
            make_work(pipeline, config={"parent": "parent-x"}, **plain),
            make_work(pipeline, priority=5, event=[55], **plain),
            make_work(pipeline, event=[33], **plain),
            make_work(other, priority=4, event=[44], **plain),
        ],
    )

    by_event = claim(buckets, pipeline, event=[11])
    assert by_event["event"] == [11]
    assert workflow_agent.sent[-1]["body"] == {
        "pipeline": {"$in": [pipeline]},
        "event": {"$in": [11]},
    }
    assert claim(buckets, pipeline, tags=["only"])["tags"] == ["only"]
    assert claim(buckets, pipeline, user="someone-else")["user"] == "someone-else"
    assert claim(buckets, pipeline, parent=["parent-x"])["config"]["parent"] == "parent-x"
    assert claim(buckets, pipeline, priority=5)["event"] == [55]
    # Across two pipelines the highest priority wins.
    assert claim(buckets, [pipeline, other])["event"] == [44]
    last = claim(buckets, pipeline, site=SITE)
    assert last["event"] == [33]
    assert not buckets.withdraw([pipeline, other])

    assert last["status"] == "running" and last["attempt"] == 1
    assert isinstance(last["start"], float) and last["start"] <= time.time() + 1
    parsed = workflow_agent.parse(last)
    assert parsed["id"] == last["id"] and parsed["status"] == "running"
    assert {d["status"] for d in in_bucket(buckets, pipeline)} == {"running"}


def test_update_replaces_fields(
    buckets: RemoteBackend, workflow_agent: WorkflowAgent, make_work: WorkFactory, pipeline: str
) -> None:
    deposit_ids(buckets, [make_work(pipeline, function=ECHO)])
    work = claim(buckets, pipeline)
    stop = time.time()
    work.update(status="success", results={"snr": 9.5}, stop=stop, plots=["p.png"])

    assert buckets.update([workflow_agent.parse(work)]) is True

    [stored] = in_bucket(buckets, pipeline)
    assert stored["status"] == "success" and stored["results"] == {"snr": 9.5}
    assert stored["stop"] == pytest.approx(stop) and stored["plots"] == ["p.png"]
    assert stored["start"] == pytest.approx(work["start"]) and stored["attempt"] == 1


def test_delete_ids(buckets: RemoteBackend, make_work: WorkFactory, pipeline: str) -> None:
    ids = deposit_ids(buckets, [make_work(pipeline, event=[n], function=ECHO) for n in range(3)])

    assert buckets.delete_ids(ids[:2]) is True

    assert [d["id"] for d in in_bucket(buckets, pipeline)] == [ids[2]]
    assert buckets.status(pipeline=pipeline) == {
        "total": 1,
        "queued": 1,
        "running": 0,
        "success": 0,
        "failure": 0,
    }


def test_view_projects_skips_and_limits(
    buckets: RemoteBackend, make_work: WorkFactory, pipeline: str
) -> None:
    deposit_ids(buckets, [make_work(pipeline, event=[n], function=ECHO) for n in range(4)])

    projected = buckets.view({"pipeline": pipeline}, {"event": True}, skip=1, limit=2)

    assert len(projected) == 2
    assert all(set(d) <= {"event", "id"} and "event" in d for d in projected)
    assert buckets.view({"pipeline": pipeline, "event": [3]}, {"id": True})[0]["id"]


def test_cli_run_executes_the_work(
    buckets: RemoteBackend,
    make_work: WorkFactory,
    workflow_home: WorkflowHome,
    pipeline: str,
) -> None:
    [wid] = deposit_ids(buckets, [make_work(pipeline, function=ECHO, parameters={"x": 1})])

    workflow_cli(workflow_home, "run", pipeline, "-s", SITE, "--lives", "1", "--sleep", "1")

    [done] = in_bucket(buckets, pipeline)
    assert done["id"] == wid and done["status"] == "success", done
    assert done["results"] == {"echo": {"x": 1}}
    assert done["attempt"] == 1 and done["stop"] >= done["start"]


def test_cli_audit_requeues_failed_and_fails_expired(
    buckets: RemoteBackend,
    workflow_agent: WorkflowAgent,
    make_work: WorkFactory,
    workflow_home: WorkflowHome,
    pipeline: str,
) -> None:
    failed_id, expired_id = deposit_ids(
        buckets,
        [
            make_work(pipeline, event=[1], function=ECHO),
            # retries=1: once expired it is not retried, whoever (audit or reaper) fails it.
            make_work(pipeline, event=[2], function=ECHO, timeout=1, retries=1),
        ],
    )
    failed = claim(buckets, pipeline, event=[1])
    claim(buckets, pipeline, event=[2])
    failed["status"] = "failure"
    assert buckets.update([workflow_agent.parse(failed)]) is True
    time.sleep(1.2)  # the shortest timeout a work may have is 1 s

    workflow_cli(workflow_home, "audit", "--test-mode")

    by_id = {d["id"]: d for d in in_bucket(buckets, pipeline)}
    assert by_id[failed_id]["status"] == "queued"
    assert by_id[expired_id]["status"] == "failure"


def test_cli_transfer_moves_success_work_to_results(
    buckets: RemoteBackend,
    workflow_agent: WorkflowAgent,
    make_work: WorkFactory,
    workflow_home: WorkflowHome,
    pipeline: str,
) -> None:
    done_id, queued_id = deposit_ids(
        buckets,
        [
            make_work(pipeline, event=[1], function=ECHO),
            make_work(pipeline, event=[2], function=ECHO),
        ],
    )
    work = claim(buckets, pipeline, event=[1])
    work.update(status="success", results={"ok": True}, stop=time.time())
    buckets.update([workflow_agent.parse(work)])

    # Transfer scans all of Buckets; a wide limit keeps other tests' work from hiding ours.
    workflow_cli(workflow_home, "transfer", "--test-mode", "--limit", "1000")

    assert [d["id"] for d in in_bucket(buckets, pipeline)] == [queued_id]
    results = workflow_agent.connect("results")
    [moved] = results.view(pipeline, {}, limit=-1)
    assert moved["id"] == done_id and moved["status"] == "success"
    assert moved["results"] == {"ok": True}


def test_cli_buckets_ls_ps_rm(
    buckets: RemoteBackend,
    make_work: WorkFactory,
    workflow_home: WorkflowHome,
    pipeline: str,
) -> None:
    ids = deposit_ids(buckets, [make_work(pipeline, event=[n], function=ECHO) for n in (1, 2)])

    listed = workflow_cli(workflow_home, "buckets", "ls", "-d").stdout
    [row] = [line for line in listed.splitlines() if pipeline in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")][1:] == ["2", "2", "0", "0", "0"]

    shown = workflow_cli(workflow_home, "buckets", "ps", pipeline, "-c", "2").stdout
    assert all(wid in shown for wid in ids)

    workflow_cli(workflow_home, "buckets", "rm", pipeline, "-f")
    assert in_bucket(buckets, pipeline) == []
    assert pipeline not in buckets.pipelines()
