"""The leaderboard routes (`/leaderboards/...`) as plans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sluice.core.plan import Call, Document, Plan, expect, segment

#: How a sort column may be given: "col", "col:ASC"/"col:DESC", (name, descending), or
#: an object with `column_id` and `sort_desc` (flowServ's SortColumn).
SortSpec = Any


def order_text(order_by: Sequence[SortSpec] | None) -> str:
    """`order_by` as the `order_by` query text, `col:DESC,col:ASC` ("" for none)."""
    parts = []
    for column in order_by or ():
        if isinstance(column, str):
            parts.append(column if ":" in column else f"{column}:DESC")
        elif isinstance(column, tuple):
            name, desc = column
            parts.append(f"{name}:{'DESC' if desc else 'ASC'}")
        else:
            parts.append(f"{column.column_id}:{'DESC' if column.sort_desc else 'ASC'}")
    return ",".join(parts)


def list_workflows() -> Plan[Document]:
    """GET /workflows: `{"workflows": [...]}`."""
    return expect((yield Call("GET", "/workflows")), dict, "a workflow listing")


def get_workflow(workflow_id: str) -> Plan[Document]:
    """GET /workflows/{id}: the template and its latest post-processing run."""
    return expect((yield Call("GET", f"/workflows/{segment(workflow_id)}")), dict, "a workflow")


def get_ranking(
    workflow_id: str,
    order_by: Sequence[SortSpec] | None = None,
    include_all: bool = False,
    page: int = 1,
    per_page: int = 100,
) -> Plan[Document]:
    """GET /workflows/{id}/ranking: one page of the leaderboard."""
    params = (("order_by", order_text(order_by)), ("include_all", str(include_all).lower()),
              ("page", str(page)), ("per_page", str(per_page)))  # fmt: skip
    answer = yield Call("GET", f"/workflows/{segment(workflow_id)}/ranking", params=params)
    return expect(answer, dict, "a leaderboard")


def result_archive(workflow_id: str) -> Plan[bytes]:
    """GET /workflows/{id}/archive: the latest post-processing outputs' tar.gz."""
    answer = yield Call("GET", f"/workflows/{segment(workflow_id)}/archive", raw=True)
    return expect(answer, bytes, "the archive's bytes")


def result_file(workflow_id: str, file_id: str) -> Plan[bytes]:
    """GET /workflows/{id}/files/{file}: one post-processing output."""
    path = f"/workflows/{segment(workflow_id)}/files/{segment(file_id)}"
    return expect((yield Call("GET", path, raw=True)), bytes, "the file's bytes")


def install(content: bytes, file_name: str) -> Plan[Document]:
    """POST /workflows: install a template (admin)."""
    params = (("file_name", file_name),)
    answer = yield Call("POST", "/workflows", params=params, content=content)
    return expect(answer, dict, "the installed workflow")


def start_run(workflow_id: str, group: str, arguments: Sequence[Document]) -> Plan[Document]:
    """POST /workflows/{id}/runs: start a run for a group."""
    body = {"group": group, "arguments": list(arguments)}
    answer = yield Call("POST", f"/workflows/{segment(workflow_id)}/runs", json=body)
    return expect(answer, dict, "a run")


def get_run(run_id: str) -> Plan[Document]:
    """GET /runs/{id}."""
    return expect((yield Call("GET", f"/runs/{segment(run_id)}")), dict, "a run")


def cancel_run(run_id: str, reason: str | None = None) -> Plan[Document]:
    """POST /runs/{id}/cancel."""
    body = {} if reason is None else {"reason": reason}
    return expect((yield Call("POST", f"/runs/{segment(run_id)}/cancel", json=body)), dict, "a run")
