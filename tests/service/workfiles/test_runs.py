"""Runs over HTTP, their steps played by hand through the Buckets routes (a worker's
calls), so each transition is checked without child processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.service.buckets.helpers import deposit, new_work
from tests.service.workfiles.helpers import as_yaml, diamond, fast_sluice
from tests.service.workfiles.test_workfiles import error_of, upload
from tests.sluice.buckets.conftest import wait_for


def start_run(http: httpx.Client, workfile_id: str, variables: Any = None) -> dict[str, Any]:
    response = http.post(f"/workfiles/{workfile_id}/processes", json={"variables": variables})
    assert response.status_code == 200, response.text
    process: dict[str, Any] = response.json()
    return process


def status(http: httpx.Client, process_id: str) -> dict[str, Any]:
    response = http.get(f"/workfiles/processes/{process_id}")
    assert response.status_code == 200, response.text
    process: dict[str, Any] = response.json()
    return process


def play(
    http: httpx.Client, pipeline: str, outcome: str, results: dict[str, Any]
) -> dict[str, Any]:
    """Withdraw the next step's work and report it as `outcome` with `results`."""
    work: dict[str, Any] = {}
    lease = ""

    def claim() -> bool:
        nonlocal work, lease
        response = http.post("/buckets/work/withdraw", json={"pipeline": pipeline})
        if response.json() is None:
            return False
        work, lease = response.json(), response.headers["x-sluice-lease"]
        return True

    wait_for(claim, what="a step to be queued")
    report = {**work, "status": outcome, "results": results, "stop": work["start"] + 0.1}
    answer = http.put("/buckets/work", json=[report], headers={"x-sluice-lease": lease})
    assert answer.status_code == 200, answer.text
    return work


def test_a_run_advances_step_by_step_to_success(
    wf: httpx.Client, workspace: str, pipeline: str
) -> None:
    info = upload(wf, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
    process = start_run(wf, info["id"], [{"name": "@n", "value": 5}])
    pid = process["process_id"]
    assert process["state"] == "WORKING" and process["variables"] == {"@n": 5}
    assert [s["state"] for s in process["steps"]] == ["queued", "waiting", "waiting", "waiting"]
    first = play(wf, pipeline, "success", {"sum": 6})
    assert first["parameters"] == {"a": 5, "b": 1} and first["config"]["parent"] == pid
    assert first["id"] == f"{pid}-0" and first["user"] == "anonymous"
    seen = {play(wf, pipeline, "success", {"sum": 16 if i == 0 else 106})["parameters"]["b"]
            for i in range(2)}  # fmt: skip
    assert seen == {10, 100}
    last = play(wf, pipeline, "success", {"sum": 122})
    assert last["parameters"] == {"a": 16, "b": 106}
    done = wait_for(lambda: (p := status(wf, pid))["state"] == "FINISHED" and p)
    assert done["status"] == "SUCCESS" and done["version"] == 1
    report = wf.get(f"/workfiles/{info['id']}/processes/{pid}/results").json()
    meta = report["flowMetaInfo"]
    assert meta["status"] == "SUCCESS" and meta["noOfError"] == 0
    assert meta["noOfNodesProcessed"] == 4 and meta["processId"] == pid
    assert [o["out_title"] for o in report["outputs"]] == ["start", "left", "right", "total"]
    assert report["outputs"][3]["visualData"] == {"sum": 122}


def test_a_failed_step_fails_the_run_and_cancels_the_rest(
    wf: httpx.Client, workspace: str, pipeline: str
) -> None:
    info = upload(wf, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
    pid = start_run(wf, info["id"])["process_id"]
    play(wf, pipeline, "success", {"sum": 2})
    play(wf, pipeline, "failure", {"error": "RuntimeError: bad pixels"})
    done = wait_for(lambda: (p := status(wf, pid))["state"] != "WORKING" and p)
    assert done["state"] == "FAILED" and done["status"] == "FAILURE"
    states = sorted(s["state"] for s in done["steps"])
    assert states == ["cancelled", "cancelled", "failure", "success"]
    left = wf.post("/buckets/view", json={"query": {"config.parent": pid, "status": "queued"}})
    assert left.json() == []
    report = wf.get(f"/workfiles/{info['id']}/processes/{pid}/results").json()
    assert report["flowMetaInfo"]["noOfError"] == 1
    assert any("bad pixels" in log["message"] and log["level"] == "ERROR"
               for log in report["logs"])  # fmt: skip
    assert wf.post(f"/workfiles/processes/{pid}/stop").json()["status"] == "STOP FAILED"


def test_a_failure_with_retries_left_is_run_again(
    wf: httpx.Client, workspace: str, pipeline: str
) -> None:
    workflow = diamond(pipeline, start={"retries": 2})  # attempts, as in Buckets
    info = upload(wf, workspace, "d.yaml", as_yaml(workflow)).json()
    pid = start_run(wf, info["id"])["process_id"]
    play(wf, pipeline, "failure", {"error": "flaky"})
    again = play(wf, pipeline, "success", {"sum": 2})
    assert again["id"] == f"{pid}-0" and again["attempt"] == 2
    wait_for(lambda: status(wf, pid)["steps"][0]["state"] == "success")


def test_stop_cancels_queued_steps(wf: httpx.Client, workspace: str, pipeline: str) -> None:
    info = upload(wf, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
    pid = start_run(wf, info["id"])["process_id"]
    answer = wf.post(f"/workfiles/processes/{pid}/stop")
    assert answer.json() == {"status": "STOPPED", "process_id": pid}
    assert wf.post(f"/workfiles/processes/{pid}/stop").json()["status"] == "STOPPED"
    stopped = status(wf, pid)
    assert stopped["state"] == "FINISHED" and stopped["status"] == "STOPPED"
    assert {s["state"] for s in stopped["steps"]} == {"cancelled"}
    assert wf.post("/buckets/view", json={"query": {"config.parent": pid}}).json() == []
    report = wf.get(f"/workfiles/{info['id']}/processes/{pid}/results").json()
    assert report["flowMetaInfo"]["status"] == "STOPPED"


def test_bad_runs_are_refused(wf: httpx.Client, workspace: str, pipeline: str) -> None:
    info = upload(wf, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
    runs = f"/workfiles/{info['id']}/processes"
    error = error_of(wf.post(runs, json={"variables": [{"name": "@m", "value": 1}]}), 400)
    assert error["code"] == "unknown_variable" and "@m" in str(error["message"])
    error = error_of(wf.post(runs, json={"variables": [{"name": "@n"}]}), 422)
    assert "value" in str(error["message"])
    error_of(wf.post(runs, json={"variables": "n=1"}), 422)
    error_of(wf.post(runs, content=b"not json"), 400)
    assert error_of(wf.post("/workfiles/nope/processes", json={}), 404)["code"] == (
        "workfile_not_found"
    )
    for response in (
        wf.get("/workfiles/processes/nope"),
        wf.post("/workfiles/processes/nope/stop"),
        wf.get(f"/workfiles/{info['id']}/processes/nope/results"),
    ):
        assert error_of(response, 404)["code"] == "process_not_found"
    assert wf.post("/buckets/view", json={"query": {"pipeline": pipeline}}).json() == []
    # 4 MB of JSON (within SLUICE_MAX_BODY_BYTES) is over 16 MiB as the run's BSON:
    # 413, not the driver's DocumentTooLarge as a 500.
    big = b'{"variables": [{"name": "n", "value": [' + b",".join([b"0"] * 2_000_000) + b"]}]}"
    too_large = wf.post(runs, content=big, headers={"content-type": "application/json"})
    assert error_of(too_large, 413)["code"] == "payload_too_large"
    assert wf.post("/buckets/view", json={"query": {"pipeline": pipeline}}).json() == []
    pid = start_run(wf, info["id"], [{"name": "n", "value": 2}])["process_id"]
    other = upload(wf, workspace, "e.yaml", as_yaml(diamond(pipeline))).json()
    error_of(wf.get(f"/workfiles/{other['id']}/processes/{pid}/results"), 404)
    wf.post(f"/workfiles/processes/{pid}/stop")


def test_steps_moved_to_results_are_still_seen(
    sluice_env: dict[str, str], tmp_path: Path, workspace: str, pipeline: str
) -> None:
    # The built-in mover takes finished works out of Buckets within 0.2 s.
    with fast_sluice(sluice_env, tmp_path, SLUICE_TRANSFER_INTERVAL="0.2") as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:  # fmt: skip
        info = upload(http, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
        pid = start_run(http, info["id"])["process_id"]
        for sums in ({"sum": 2}, {"sum": 12}, {"sum": 102}, {"sum": 114}):
            play(http, pipeline, "success", sums)
        done = wait_for(lambda: (p := status(http, pid))["state"] != "WORKING" and p)
        assert done["status"] == "SUCCESS"
        # The run may end on a step read in Buckets just before the mover's next pass.
        view = {"query": {"pipeline": pipeline}}
        moved = wait_for(
            lambda: len(got := http.post("/results/view", json=view).json()) == 4 and got
        )
        assert len(moved) == 4
        report = http.get(f"/workfiles/{info['id']}/processes/{pid}/results").json()
        assert report["outputs"][3]["visualData"] == {"sum": 114}


def test_two_replicas_advance_one_run_once(
    sluice_env: dict[str, str], tmp_path: Path, workspace: str, pipeline: str
) -> None:
    shared = {"SLUICE_DB_NAME": f"sluice_wf2_{workspace}", "SLUICE_RUN_INTERVAL": "0.05"}
    (tmp_path / "b").mkdir()
    with fast_sluice(sluice_env, tmp_path, **shared) as first, \
            fast_sluice(sluice_env, tmp_path / "b", **shared) as second, \
            httpx.Client(base_url=first.url, timeout=30) as http:  # fmt: skip
        info = upload(http, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
        pid = start_run(http, info["id"])["process_id"]
        for sums in ({"sum": 2}, {"sum": 12}, {"sum": 102}, {"sum": 114}):
            play(http, pipeline, "success", sums)
        with httpx.Client(base_url=second.url, timeout=30) as other:
            done = wait_for(lambda: (p := status(other, pid))["state"] != "WORKING" and p)
        assert done["status"] == "SUCCESS"
        works = http.post("/buckets/view", json={"query": {"config.parent": pid}}).json()
        assert sorted(w["id"] for w in works) == [f"{pid}-{i}" for i in range(4)]


def test_a_step_cannot_be_forged_by_squatting_its_id(
    wf: httpx.Client, workspace: str, pipeline: str
) -> None:
    info = upload(wf, workspace, "d.yaml", as_yaml(diamond(pipeline))).json()
    pid = start_run(wf, info["id"], [{"name": "@n", "value": 5}])["process_id"]
    # A depositor of another pipeline takes the id of a step not queued yet, and
    # finishes that work with forged results.
    evil = f"{pipeline}-evil"
    deposit(wf, [new_work(evil, id=f"{pid}-1")])
    forged = play(wf, evil, "success", {"sum": -1, "forged": True})
    assert forged["id"] == f"{pid}-1"

    play(wf, pipeline, "success", {"sum": 6})
    played = [play(wf, pipeline, "success", {"sum": 16}) for _ in range(2)]
    play(wf, pipeline, "success", {"sum": 122})

    done = wait_for(lambda: (p := status(wf, pid))["state"] == "FINISHED" and p)
    assert done["status"] == "SUCCESS"
    left = done["steps"][1]
    assert left["work_id"].startswith(f"{pid}-1-") and left["work_id"] in {w["id"] for w in played}
    report = wf.get(f"/workfiles/{info['id']}/processes/{pid}/results").json()
    assert all(o["visualData"] != {"sum": -1, "forged": True} for o in report["outputs"])
    assert report["outputs"][3]["visualData"] == {"sum": 122}
