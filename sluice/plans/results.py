"""The Results wire protocol as plans (see sluice.core.plan), for `Results` and
`AsyncResults`."""

from __future__ import annotations

from typing import Any

from sluice.core.plan import Call, Document, Plan, expect
from sluice.errors import NotFound

LOCKED_PROJECTION = {"event": True, "plots": True, "products": True, "results": True}


def deposit(works: list[Document]) -> Plan[dict[str, bool]]:
    """POST /results: `{pipeline: True}` for each pipeline written."""
    answer = yield Call("POST", "/results", json=works)
    return expect(answer, dict, "a JSON object of pipelines")


def update(works: list[Document]) -> Plan[bool]:
    """PUT /results: whether the service accepted the replacement."""
    answer = yield Call("PUT", "/results", json=works)
    return bool(answer)


def delete_ids(pipeline: str, ids: list[str]) -> Plan[bool]:
    """DELETE /results?<pipeline>=<id>...; no request at all for no ids."""
    if not ids:
        return True
    answer = yield Call("DELETE", "/results", params=tuple((pipeline, i) for i in ids))
    return all(expect(answer, dict, "a JSON object of pipelines").values())


def view(
    pipeline: str,
    query: Document,
    projection: dict[str, Any] | None = None,
    skip: int = 0,
    limit: int = 100,
) -> Plan[list[Document]]:
    """POST /view with `pipeline` added to a copy of `query`; `limit` -1 means all."""
    body = {
        "query": {**query, "pipeline": pipeline},
        "projection": projection or {},
        "skip": skip,
        "limit": 0 if limit == -1 else limit,
    }
    answer = yield Call("POST", "/view", json=body)
    return expect(answer, list, "a JSON array of results")


def count(pipeline: str, query: Document) -> Plan[int]:
    """POST /view/count with `pipeline` added to a copy of `query`."""
    answer = yield Call("POST", "/view/count", json={"query": {**query, "pipeline": pipeline}})
    return expect(answer, int, "an integer count")


def status() -> Plan[dict[str, int]]:
    """GET /status: `{pipeline: count}`."""
    answer = yield Call("GET", "/status")
    return expect(answer, dict, "a JSON object of counts")


def get_by_count(pipeline: str, count: int = 10) -> Plan[list[Document]]:
    """The first `count` results."""
    return (yield from view(pipeline, {}, {}, 0, count))


def get_by_id(pipeline: str, ids: list[str]) -> Plan[list[Document]]:
    """Results whose id is in `ids`, unpaged."""
    return (yield from view(pipeline, {"id": {"$in": ids}}, {}, 0, -1))


def get_by_event(pipeline: str, event_number: int) -> Plan[list[Document]]:
    """Results whose `event` is exactly `[event_number]`, unpaged."""
    return (yield from view(pipeline, {"event": [event_number]}, {}, 0, -1))


def get_locked(pipeline: str, skip: int = 0, count: int = 10) -> Plan[list[Document]]:
    """Locked results, projected as the `workflow` client does."""
    query = {"results.locked": True}
    return (yield from view(pipeline, query, LOCKED_PROJECTION, skip, count))


def get_locked_count(pipeline: str) -> Plan[int]:
    """How many results are locked."""
    return (yield from count(pipeline, {"results.locked": True}))


def set_locked(pipeline: str, ids: list[str], locked: bool) -> Plan[bool]:
    """Read the results, flip `results.locked` where it differs, write them back.

    The service enforces locks; this only asks for the change. Raises NotFound, and
    writes nothing, if any id does not exist in `pipeline`.
    """
    if not ids:
        return True
    works = yield from get_by_id(pipeline, ids)
    missing = sorted(set(ids) - {work.get("id") for work in works})
    if missing:
        raise NotFound(
            f"no results with these ids in pipeline {pipeline}: {', '.join(missing)}",
            status_code=404,
            code="not_found",
            details={"missing": {pipeline: missing}},
        )
    changed = []
    for work in works:
        # A work deposited without results has `results: null`.
        results = work.get("results") or {}
        if (results.get("locked") is True) != locked:
            work["results"] = {**results, "locked": locked}
            changed.append(work)
    if not changed:
        return True
    return (yield from update(changed))
