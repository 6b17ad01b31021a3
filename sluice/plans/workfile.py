"""The workfile and run wire protocol as plans (see sluice.core.plan), for `Workfile`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sluice.core.plan import Call, Document, Plan, expect, segment
from sluice.errors import WorkfileNotFound

MEDIA_TYPES = {"json": "application/json", "yaml": "application/yaml"}


def upload(workspace_id: str, file_name: str, content: bytes) -> Plan[Document]:
    """POST /workfiles: store a workfile (or a new version of that name); its metadata."""
    kind = "json" if file_name.lower().endswith(".json") else "yaml"
    answer = yield Call(
        "POST",
        "/workfiles",
        params=(("workspace", str(workspace_id)), ("file_name", file_name)),
        content=content,
        headers=(("content-type", MEDIA_TYPES[kind]),),
    )
    return expect(answer, dict, "workfile metadata")


def get(workfile_id: str) -> Plan[Document]:
    """GET /workfiles/{id}: metadata."""
    answer = yield Call("GET", f"/workfiles/{segment(workfile_id)}")
    return expect(answer, dict, "workfile metadata")


def page(
    workspace_id: str, page: int, per_page: int, file_name: str | None = None
) -> Plan[Document]:
    """GET /workfiles: one page of a workspace's workfiles and the total."""
    params = [("workspace", str(workspace_id)), ("page", str(page)), ("per_page", str(per_page))]
    if file_name is not None:
        params.append(("file_name", file_name))
    answer = yield Call("GET", "/workfiles", params=tuple(params))
    found = expect(answer, dict, "a page of workfiles")
    expect(found.get("workfiles"), list, "a list of workfiles")
    expect(found.get("total"), int, "a total count")
    return found


def get_list(workspace_id: str, per_page: int = 100) -> Plan[list[Document]]:
    """Every workfile of a workspace, page after page until the total is reached."""
    collected: list[Document] = []
    number = 1
    while True:
        found = yield from page(workspace_id, number, per_page)
        collected.extend(found["workfiles"])
        if not found["workfiles"] or len(collected) >= found["total"]:
            return collected
        number += 1


def get_id(workfile_name: str, workspace_id: str) -> Plan[str]:
    """The id of the workfile with exactly this name; WorkfileNotFound otherwise."""
    found = yield from page(workspace_id, 1, 1, workfile_name)
    if not found["workfiles"]:
        raise WorkfileNotFound(
            f"no workfile named {workfile_name!r} in workspace {workspace_id!r}",
            status_code=404,
            code="workfile_not_found",
            details={"file_name": workfile_name, "workspace": workspace_id},
        )
    return expect(found["workfiles"][0].get("id"), str, "a workfile id")


def download(workfile_id: str, version: int | None = None) -> Plan[bytes]:
    """GET /workfiles/{id}/content: the bytes as uploaded (latest version by default)."""
    params = None if version is None else (("version", str(version)),)
    content = yield Call(
        "GET", f"/workfiles/{segment(workfile_id)}/content", params=params, raw=True
    )
    return expect(content, bytes, "the workfile's bytes")


def delete(workfile_id: str) -> Plan[None]:
    """DELETE /workfiles/{id}."""
    yield Call("DELETE", f"/workfiles/{segment(workfile_id)}")


def run(workflow_id: str, variables: Sequence[Any] | None) -> Plan[Document]:
    """POST /workfiles/{id}/processes: start a run; the run (`process_id`, steps...)."""
    body = {"variables": None if variables is None else list(variables)}
    answer = yield Call("POST", f"/workfiles/{segment(workflow_id)}/processes", json=body)
    process = expect(answer, dict, "a run")
    expect(process.get("process_id"), str, "a process id")
    return process


def recent(status: str | None = None, limit: int = 100) -> Plan[list[Document]]:
    """GET /workfiles/processes: the latest runs, newest first."""
    params = [("limit", str(limit))] + ([("status", status)] if status else [])
    answer = yield Call("GET", "/workfiles/processes", params=tuple(params))
    return [expect(p, dict, "a run") for p in expect(answer, list, "a JSON array of runs")]


def status(process_id: str) -> Plan[Document]:
    """GET /workfiles/processes/{id}: the run's state, status and steps."""
    answer = yield Call("GET", f"/workfiles/processes/{segment(process_id)}")
    process = expect(answer, dict, "a run")
    expect(process.get("state"), str, "a run state")
    return process


def stop(process_id: str) -> Plan[str]:
    """POST /workfiles/processes/{id}/stop: "STOPPED" or "STOP FAILED"."""
    answer = yield Call("POST", f"/workfiles/processes/{segment(process_id)}/stop")
    return expect(expect(answer, dict, "a stop answer").get("status"), str, "a stop status")


def results(workflow_id: str, process_id: str) -> Plan[Document]:
    """GET /workfiles/{id}/processes/{pid}/results: the run report."""
    path = f"/workfiles/{segment(workflow_id)}/processes/{segment(process_id)}/results"
    answer = yield Call("GET", path)
    return expect(answer, dict, "a run report")
