"""Leaderboard documents in the flowServ 0.9.4 wire shapes: WorkflowListing,
WorkflowHandle, WorkflowLeaderboard, RunHandle, RunDescriptor.

Each answer carries exactly the keys the client's `flowserv.tests.serialize` validators
accept for its state (they refuse unknown keys as well as missing ones). Timestamps are
ISO 8601 with their offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.db import Document

#: The message of a run cancelled without a reason, as flowServ words it.
CANCELED_AT_USER_REQUEST = "canceled at user request"


def timestamp(value: Any) -> str | None:
    """`value` (Unix seconds or a datetime) as ISO 8601 with offset; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    return moment.isoformat()


#: The keys of a Parameter on the 0.9.4 wire (its validators refuse any other): record
#: fields and list item types have none, so they are not shown.
PARAMETER_KEYS = ("name", "dtype", "index", "isRequired", "label", "help", "defaultValue",
                  "group", "target", "range", "values")  # fmt: skip


def parameter(declared: Document) -> Document:
    """A template's or group's parameter in the flowServ Parameter shape (absent
    optional keys left out)."""
    return {key: declared[key] for key in PARAMETER_KEYS if declared.get(key) is not None}


def workflow_descriptor(template: Document) -> Document:
    """A workflow in a WorkflowListing: id, name, and description and instructions
    when it has them."""
    shown: Document = {"id": template["_id"], "name": template["name"]}
    for key in ("description", "instructions"):
        if template.get(key) is not None:
            shown[key] = template[key]
    return shown


def run_descriptor(run: Document) -> Document:
    """A run in a RunListing (and a GroupHandle's `runs`)."""
    return {"id": run["_id"], "state": run["state"], "createdAt": timestamp(run["created_at"])}


def run_handle(run: Document, group: bool = True) -> Document:
    """The RunHandle of `run`, with the keys its state has (`groupId` unless a
    post-processing run, `group` False)."""
    state = run["state"]
    shown: Document = {
        "id": run["_id"],
        "state": state,
        "createdAt": timestamp(run["created_at"]),
        "workflowId": run["workflow_id"],
        "arguments": run.get("arguments") or [],
    }
    if group and run.get("group_id") is not None:
        shown["groupId"] = run["group_id"]
    if state != "PENDING":
        shown["startedAt"] = timestamp(run.get("started_at"))
    if state in ("ERROR", "CANCELED", "SUCCESS"):
        shown["finishedAt"] = timestamp(run.get("finished_at"))
    if state in ("ERROR", "CANCELED"):
        messages = list(run.get("messages") or [])
        shown["messages"] = messages or ([CANCELED_AT_USER_REQUEST] if state == "CANCELED" else [])
    if state == "SUCCESS":
        shown["files"] = [{"id": f["id"], "name": f["name"]} for f in run.get("files") or []]
    return shown


def schema_columns(template: Document) -> list[Document]:
    """The result columns of a workflow as the leaderboard's `schema` lists them."""
    results = template.get("results") or {}
    return [
        {"name": column["name"], "label": column.get("label") or column["name"],
         "dtype": column.get("dtype", "float")}
        for column in results.get("schema") or []
    ]  # fmt: skip


def ranking_entry(run: Document, columns: list[Document], names: dict[str, str]) -> Document:
    """One row of a WorkflowLeaderboard: the ranked run's times, its group (`names`:
    group names by id), and its values of the schema's columns (a column without a
    value is left out)."""
    values = run.get("results") or {}
    return {
        "run": {
            "id": run["_id"],
            "createdAt": timestamp(run.get("created_at")),
            "startedAt": timestamp(run.get("started_at")),
            "finishedAt": timestamp(run.get("finished_at")),
        },
        "group": {"id": run["group_id"], "name": names.get(run["group_id"], "")},
        "results": [
            {"name": column["name"], "value": values[column["name"]]}
            for column in columns
            if values.get(column["name"]) is not None
        ],
    }
