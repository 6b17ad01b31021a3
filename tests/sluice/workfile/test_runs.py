"""Runs end to end: the `Workfile` client, a real Sluice and real `sluice worker`s."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from service.testing import SluiceProcess
from sluice import (
    Buckets,
    FlowResultsMalformed,
    ResultsNotFound,
    RunFlowFailure,
    RunFlowTimeout,
    StopFlowFailure,
    Workfile,
    WorkfileNotFound,
    WorkflowVariable,
)
from tests.service.workfiles.helpers import JOBS, diamond, fast_sluice
from tests.sluice.buckets.conftest import StartWorker, wait_for
from tests.sluice.workfile.conftest import WriteWorkflow


def workspace() -> str:
    return f"ws-{uuid.uuid4().hex[:10]}"


def sleepy_start(
    pipeline: str, marker: Path, seconds: float, **changes: object
) -> dict[str, object]:
    """The diamond whose first step sleeps `seconds` (heartbeat every second)."""
    start = {"function": f"{JOBS}.sleepy", "timeout": 3,
             "parameters": {"seconds": seconds, "marker": str(marker)}}  # fmt: skip
    workflow = diamond(pipeline, start=start, **changes)
    workflow["operators"][1]["parameters"]["a"] = 1
    workflow["operators"][2]["parameters"]["a"] = 2
    return workflow


def test_diamond_runs_to_success(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
) -> None:
    stored = workfile.upload(workspace(), write_workflow(diamond(pipeline)))
    start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    process_id = workfile.process.run(stored["id"], [{"name": "@n", "value": 5}])
    status = workfile.process.wait_until_finished(stored["id"], process_id, query_time=1)
    assert status == "SUCCESS"
    assert workfile.process.query_status(process_id) == "FINISHED"
    report = workfile.process.download_results(stored["id"], process_id)
    meta = workfile.process.get_metadata(report)
    assert meta["status"] == "SUCCESS" and meta["noOfError"] == 0
    assert meta["noOfNodesProcessed"] == 4 and meta["executeUser"] == "anonymous"
    titles = [output["out_title"] for output in report["outputs"]]
    assert titles == ["start", "left", "right", "total"]
    assert [o["visualData"] for o in report["outputs"]] == [
        {"sum": 6}, {"sum": 16}, {"sum": 106}, {"sum": 122},
    ]  # fmt: skip
    total = workfile.process.find_operator("total", report)
    assert total is not None and total["visualData"] == {"sum": 122}
    assert workfile.process.find_operator("nope", report) is None


def test_failing_step_fails_the_run(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
) -> None:
    failing = {"function": f"{JOBS}.fail", "parameters": {"message": "no pulsar here"}}
    stored = workfile.upload(workspace(), write_workflow(diamond(pipeline, left=failing)))
    start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    process_id = workfile.process.run(stored["id"])
    with pytest.raises(RunFlowFailure) as caught:
        workfile.process.wait_until_finished(stored["id"], process_id, query_time=1)
    assert caught.value.status == "FAILURE" and caught.value.process_id == process_id
    assert workfile.process.query_status(process_id) == "FAILED"
    report = workfile.process.download_results(stored["id"], process_id)
    assert report["flowMetaInfo"]["status"] == "FAILURE"
    assert report["flowMetaInfo"]["noOfError"] >= 1
    assert any("no pulsar here" in log["message"] for log in report["logs"])
    total = workfile.process.find_operator("total", report)
    assert total is not None and total["node_meta_info"]["state"] == "cancelled"


def test_stop_ends_a_running_run(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    stored = workfile.upload(workspace(), write_workflow(sleepy_start(pipeline, marker, 30)))
    worker = start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    process_id = workfile.process.run(stored["id"])
    wait_for(marker.exists, what="the first step to start")
    assert workfile.process.stop(process_id) == "STOPPED"
    assert workfile.process.query_status(process_id) == "FINISHED"
    with Buckets(runs_sluice.url) as buckets:
        # The worker is told at its next heartbeat; the lapsed lease then fails the
        # work instead of queueing it again, and no later step is ever queued.
        wait_for(lambda: buckets.view({"config.parent": process_id})[0]["status"] == "failure",
                 timeout=20, what="the stopped work to end")  # fmt: skip
        assert len(buckets.view({"config.parent": process_id})) == 1
    assert marker.read_text() == "start\n"
    assert worker.poll() is None  # the worker goes on, waiting for other work
    report = workfile.process.download_results(stored["id"], process_id)
    assert report["flowMetaInfo"]["status"] == "STOPPED"
    assert workfile.process.stop(process_id) == "STOPPED"


def test_wait_timeout_stops_the_run(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    stored = workfile.upload(workspace(), write_workflow(sleepy_start(pipeline, marker, 30)))
    process_id = workfile.process.run(stored["id"])  # no worker: it never ends
    with pytest.raises(RunFlowTimeout) as caught:
        workfile.process.wait_until_finished(stored["id"], process_id, query_time=1, timeout=1)
    assert caught.value.process_id == process_id
    assert workfile.process.info(process_id)["status"] == "STOPPED"


def test_a_restarted_sluice_finishes_the_run(
    sluice_env: dict[str, str],
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    first = fast_sluice(sluice_env, tmp_path).start()
    try:
        with Workfile(first.url) as workfile:
            workflow = sleepy_start(pipeline, marker, 2)
            stored = workfile.upload(workspace(), write_workflow(workflow))
            start_worker(first.url, pipeline, "--sleep", "0.1")
            process_id = workfile.process.run(stored["id"])
            wait_for(marker.exists, what="the first step to start")
            first.kill()
            second = SluiceProcess(first.env, port=first.port, log_path=tmp_path / "2.log")
            with second:
                status = workfile.process.wait_until_finished(
                    stored["id"], process_id, query_time=1, timeout=60
                )
                assert status == "SUCCESS"
                report = workfile.process.download_results(stored["id"], process_id)
                assert report["outputs"][3]["visualData"] == {"sum": 11 + 102}
    finally:
        first.stop()


def test_errors_have_their_names(
    workfile: Workfile, pipeline: str, write_workflow: WriteWorkflow
) -> None:
    space = workspace()
    stored = workfile.upload(space, write_workflow(diamond(pipeline)))
    for call in (
        lambda: workfile.get("nope"),
        lambda: workfile.delete("nope"),
        lambda: workfile.download("nope"),
        lambda: workfile.get_id("nope.yaml", space),
        lambda: workfile.process.run("nope"),
    ):
        with pytest.raises(WorkfileNotFound):
            call()
    assert workfile.get_id("flow.yaml", space) == stored["id"]
    with pytest.raises(WorkflowVariable) as unknown:
        workfile.process.run(stored["id"], [{"name": "@zz", "value": 1}])
    assert unknown.value.status_code == 400
    with pytest.raises(WorkflowVariable) as missing:
        workfile.process.run(stored["id"], [{"name": "@n"}])
    assert missing.value.status_code == 422
    with pytest.raises(RunFlowFailure):
        workfile.process.query_status("nope")
    with pytest.raises(StopFlowFailure):
        workfile.process.stop("nope")
    with pytest.raises(ResultsNotFound):
        workfile.process.download_results(stored["id"], "nope")
    with pytest.raises(FlowResultsMalformed):
        workfile.process.find_operator("start", {"flowMetaInfo": {}})
    with pytest.raises(FlowResultsMalformed):
        workfile.process.get_metadata({"outputs": []})


def test_get_list_pages_through_everything(
    workfile: Workfile, pipeline: str, write_workflow: WriteWorkflow
) -> None:
    space = workspace()
    path = write_workflow(diamond(pipeline))
    # Three pages, the last one short (the Alpine contract test pages through 250).
    for index in range(25):
        workfile.upload(space, path, file_name=f"flow-{index:03}.yaml")
    listed = workfile.get_list(space, per_page=10)
    assert [w["file_name"] for w in listed] == [f"flow-{i:03}.yaml" for i in range(25)]
    stored = workfile.upload(space, path, file_name="flow-000.yaml")
    assert stored["version"] == 2
    assert workfile.download(stored["id"]) == path.read_bytes()
    workfile.delete(stored["id"])
    assert len(workfile.get_list(space)) == 24
