"""Files in and out of workfile steps: staged from upstream outputs, uploaded after a
step succeeds, confined to the step's working directory (real Sluice, real worker)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import yaml

from service.testing import SluiceProcess
from sluice import RunFlowFailure, Workfile
from tests.service.workfiles.helpers import JOBS
from tests.sluice.buckets.conftest import StartWorker
from tests.sluice.workfile.conftest import WriteWorkflow


def files_flow(pipeline: str, **changes: dict[str, object]) -> dict[str, object]:
    """`make` writes out/a.txt (declared); `copy` (a command) copies it to b.txt;
    `show` reads out/a.txt, staged from `make`, which is upstream of it through `copy`."""
    operators: list[dict[str, object]] = [
        {"name": "make", "function": f"{JOBS}.write_file", "retries": 0,
         "parameters": {"path": "out/a.txt", "text": "@text"}, "outputs": ["out/a.txt"]},
        {"name": "copy", "command": ["cp out/a.txt b.txt"], "depends_on": ["make"],
         "retries": 0, "outputs": ["b.txt"]},
        {"name": "show", "function": f"{JOBS}.read_file", "depends_on": ["copy"],
         "retries": 0, "parameters": {"path": "out/a.txt"}},
    ]  # fmt: skip
    for operator in operators:
        operator.update(changes.get(str(operator["name"]), {}))
    return {"name": "files", "pipeline": pipeline, "site": "local",
            "variables": {"@text": "hello"}, "operators": operators}  # fmt: skip


def run_to_end(workfile: Workfile, stored_id: str, text: str) -> dict[str, Any]:
    process_id = workfile.process.run(stored_id, [{"name": "@text", "value": text}])
    with contextlib.suppress(RunFlowFailure):
        workfile.process.wait_until_finished(stored_id, process_id, query_time=0.5, timeout=60)
    return workfile.process.download_results(stored_id, process_id)


def test_outputs_are_uploaded_and_staged_downstream(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
) -> None:
    stored = workfile.upload(f"ws-{uuid.uuid4().hex[:8]}", write_workflow(files_flow(pipeline)))
    start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    report = run_to_end(workfile, stored["id"], "pulsar")
    process_id = report["flowMetaInfo"]["processId"]
    assert report["flowMetaInfo"]["status"] == "SUCCESS", report["outputs"]
    # `show` is downstream of `make` through `copy`: a.txt was staged there too.
    show = workfile.process.find_operator("show", report)
    assert show is not None and show["visualData"]["text"] == "pulsar"
    info = httpx.get(f"{runs_sluice.url}/workfiles/processes/{process_id}").json()
    steps = {step["name"]: step for step in info["steps"]}
    assert [f["path"] for f in steps["make"]["files"]] == ["out/a.txt"]
    assert [f["path"] for f in steps["copy"]["files"]] == ["b.txt"]
    assert steps["show"]["files"] == []
    copied = steps["copy"]["files"][0]
    assert copied["size"] == len("pulsar")
    answer = httpx.get(f"{runs_sluice.url}/workfiles/processes/{process_id}/files/{copied['id']}")
    assert answer.status_code == 200 and answer.content == b"pulsar"
    other = httpx.get(f"{runs_sluice.url}/workfiles/processes/{process_id}/files/{'0' * 24}")
    assert other.status_code == 404


@pytest.mark.parametrize("path", ["out/名前.txt", 'out/a "b".txt', "out/100% é.txt"])
def test_any_output_name_is_uploaded_staged_and_served(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
    path: str,
) -> None:
    # A header holds Latin-1 only: the path it names is percent-encoded (UTF-8).
    flow = files_flow(pipeline, make={"parameters": {"path": path, "text": "@text"},
                                      "outputs": [path]},
                      copy={"command": ["true"], "outputs": []},
                      show={"parameters": {"path": path}})  # fmt: skip
    stored = workfile.upload(f"ws-{uuid.uuid4().hex[:8]}", write_workflow(flow))
    start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    report = run_to_end(workfile, stored["id"], "pulsar")
    assert report["flowMetaInfo"]["status"] == "SUCCESS", report["outputs"]
    show = workfile.process.find_operator("show", report)
    assert show is not None and show["visualData"]["text"] == "pulsar"
    process_id = report["flowMetaInfo"]["processId"]
    info = httpx.get(f"{runs_sluice.url}/workfiles/processes/{process_id}").json()
    (made,) = next(step for step in info["steps"] if step["name"] == "make")["files"]
    answer = httpx.get(f"{runs_sluice.url}/workfiles/processes/{process_id}/files/{made['id']}")
    assert answer.status_code == 200 and answer.content == b"pulsar"
    assert unquote(answer.headers["x-sluice-path"]) == path == made["path"]


def test_a_declared_output_not_written_fails_the_step(
    workfile: Workfile,
    runs_sluice: SluiceProcess,
    pipeline: str,
    write_workflow: WriteWorkflow,
    start_worker: StartWorker,
) -> None:
    flow = files_flow(pipeline, copy={"outputs": ["never.txt"]})
    stored = workfile.upload(f"ws-{uuid.uuid4().hex[:8]}", write_workflow(flow))
    start_worker(runs_sluice.url, pipeline, "--sleep", "0.1")
    report = run_to_end(workfile, stored["id"], "x")
    assert report["flowMetaInfo"]["status"] == "FAILURE"
    copy = workfile.process.find_operator("copy", report)
    assert copy is not None
    assert "never.txt" in copy["node_meta_info"]["error"]
    assert "was not written" in copy["node_meta_info"]["error"]


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", ""])
def test_unsafe_output_paths_are_refused_at_upload(
    workfile: Workfile, runs_sluice: SluiceProcess, pipeline: str, path: str
) -> None:
    flow = files_flow(pipeline, make={"outputs": [path]})

    answer = httpx.post(
        f"{runs_sluice.url}/workfiles",
        params={"workspace": f"ws-{uuid.uuid4().hex[:8]}", "file_name": "f.yaml"},
        content=yaml.safe_dump(flow).encode(),
    )
    assert answer.status_code == 422, answer.text
    assert "working directory" in answer.text or "at least 1 character" in answer.text


def test_step_file_routes_need_the_lease(runs_sluice: SluiceProcess) -> None:
    base = f"{runs_sluice.url}/workfiles/steps/nope-0"
    assert httpx.get(f"{base}/inputs/0").status_code == 400
    assert httpx.get(f"{base}/inputs/0", headers={"x-sluice-lease": "x"}).status_code == 409
    put = httpx.put(f"{base}/outputs/0", content=b"x", headers={"x-sluice-lease": "x"})
    assert put.status_code == 409
