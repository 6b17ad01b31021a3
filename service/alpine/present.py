"""Chorus' shapes: the `{"response", "pagination"}` envelope and the user, workspace
and workfile objects the Alpine client reads (the keys it reads, plus Chorus' usual
companions)."""

from __future__ import annotations

import math
from typing import Any

from service.db import Document
from service.jsonio import JSONResponse
from service.workfiles.workspaces import info as workspace_info
from service.workfiles.workspaces import workspace_id


def envelope(
    response: Any, status_code: int = 200, pagination: Document | None = None
) -> JSONResponse:
    """`{"response": ...}`, with `pagination` for a list."""
    body: Document = {"response": response}
    if pagination is not None:
        body["pagination"] = pagination
    return JSONResponse(body, status_code=status_code)


def pagination(page: int, per_page: int, records: int) -> Document:
    """Chorus paging: `total` is the number of pages, at least 1 (the client stops when
    `total == page`, so 0 would have it ask for pages forever)."""
    return {
        "page": page,
        "per_page": per_page,
        "records": records,
        "total": max(1, math.ceil(records / per_page)),
    }


def user(info: Document) -> Document:
    """A user as Chorus presents one."""
    return {
        "id": info["id"],
        "username": info["username"],
        "entity_type": "user",
        "admin": "admin" in info["scopes"],
        "roles": info["scopes"],
        "pipelines": info["pipelines"],
        "is_deleted": None,
    }


def owner(name: str) -> Document:
    return {"username": name, "entity_type": "user"}


def workspace(stored: Document) -> Document:
    """A workspace as Chorus presents one (the keys `workspace.update` needs included)."""
    return {
        **workspace_info(stored),
        "archived": False,
        "owner": owner(stored["owner"]),
        "entity_type": "workspace",
        "complete_json": True,
        "image": {},
        "is_deleted": False,
        "workspace_stage": {"name": "Define"},
        "created_at": stored["created_at"],
    }


def workfile(info: Document) -> Document:
    """A workfile (Sluice's metadata, `service.workfiles.store.info`) as Chorus presents
    one: `file_name` is the uploaded name, verbatim."""
    return {
        "id": info["id"],
        "file_name": info["file_name"],
        "file_type": info["file_type"],
        "entity_type": "workfile",
        "entity_subtype": "alpine",
        "workspace": {"id": workspace_id(info["workspace"]), "name": info["workspace"]},
        "owner": owner(info["owner"]),
        "workflow_name": info["workflow_name"],
        "latest_version_id": info["version"],
        "size": info["size"],
        "is_deleted": False,
        "created_at": info["created_at"],
        "updated_at": info["modified_at"],
    }
