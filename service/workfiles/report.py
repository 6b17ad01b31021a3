"""What a stored run looks like on the wire: its status (`ProcessInfo`) and its report
(`RunReport`, after the Alpine run report)."""

from __future__ import annotations

from typing import Any

from service.db import Document

#: Coarse state (`query_status`) of each run status.
STATES = {"RUNNING": "WORKING", "SUCCESS": "FINISHED", "STOPPED": "FINISHED", "FAILURE": "FAILED"}

_STEP_FIELDS = ("name", "state", "work_id", "attempt", "started_at", "ended_at", "error")


def process_info(process: Document) -> Document:
    """`schemas.workfiles.ProcessInfo` of a stored run."""
    return {
        "process_id": process["_id"],
        "workflow_id": process["workflow_id"],
        "workflow_name": process["workflow_name"],
        "version": process["version"],
        "state": STATES[process["status"]],
        "status": process["status"],
        "variables": process["variables"],
        "user": process["user"],
        "started_at": process["started_at"],
        "ended_at": process["ended_at"],
        "steps": [_step(step) for step in process["steps"]],
    }


def step_files(step: Document) -> list[Document]:
    """The wire form of a step's output files (`schemas.workfiles.StepFile`)."""
    return [
        {"path": item["path"], "id": str(item["id"]), "size": item["size"]}
        for item in step.get("files") or []
    ]


def _step(step: Document) -> Document:
    return {**{key: step[key] for key in _STEP_FIELDS}, "files": step_files(step)}


def _log(step: Document) -> Document:
    message = f"{step['name']}: {step['state']}"
    if step["error"]:
        message += f": {step['error']}"
    return {
        "time": step["ended_at"] or step["started_at"],
        "level": "ERROR" if step["state"] == "failure" else "INFO",
        "operator": step["name"],
        "message": message,
    }


def run_report(process: Document) -> Document:
    """`schemas.workfiles.RunReport` of a stored run (partial while it is running):
    one output per operator, in dependency order, its `results` in `visualData`."""
    steps: list[Document] = process["steps"]
    operators: list[Document] = process["operators"]
    outputs: list[Document] = []
    for step, operator in zip(steps, operators, strict=True):
        meta: dict[str, Any] = {key: step[key] for key in _STEP_FIELDS if key != "name"}
        meta.update(pipeline=operator["pipeline"], site=operator["site"])
        outputs.append(
            {
                "out_id": step["work_id"],
                "out_title": step["name"],
                "isGenerateReport": step["state"] in ("success", "failure"),
                "visualType": "json",
                "visualData": step["output"],
                "node_meta_info": meta,
            }
        )
    return {
        "flowMetaInfo": {
            "workflowId": process["workflow_id"],
            "workflowName": process["workflow_name"],
            "processId": process["_id"],
            "executeUser": process["user"],
            "startTime": process["started_at"],
            "endTime": process["ended_at"],
            "status": process["status"],
            "noOfNodesProcessed": sum(s["state"] in ("success", "failure") for s in steps),
            "noOfError": sum(s["state"] == "failure" for s in steps),
        },
        "logs": [_log(step) for step in steps if step["state"] != "waiting"],
        "outputs": outputs,
    }
