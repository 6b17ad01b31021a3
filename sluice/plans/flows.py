"""The flows wire protocol as plans (see sluice.core.plan), for `Flows`."""

from __future__ import annotations

from sluice.core.plan import Call, Document, Plan, expect, segment

#: AERO's policy integers, by name (`register_flow` takes either).
POLICIES = {"NONE": -1, "INGESTION": 0, "TIMER": 1, "ANY": 2, "ALL": 3, "INGESTION_EVENT": 4}


def _object(call: Call, what: str) -> Plan[Document]:
    answer = yield call
    return expect(answer, dict, what)


def register(body: Document) -> Plan[Document]:
    """POST /aero/flows: the registered flow."""
    return (yield from _object(Call("POST", "/flows", json=body), "a flow"))


def get(flow_id: str) -> Plan[Document]:
    """GET /aero/flows/{id}."""
    return (yield from _object(Call("GET", f"/flows/{segment(flow_id)}"), "a flow"))


def page(kind: str, offset: int, limit: int, **params: str) -> Plan[Document]:
    """GET /aero/{kind}: one page `{items, total, limit, offset}`, newest first."""
    query = (("offset", str(offset)), ("limit", str(limit)), *params.items())
    found = yield from _object(Call("GET", f"/{kind}", params=query), "a page")
    expect(found.get("items"), list, "a list of items")
    expect(found.get("total"), int, "a total count")
    return found


def every(kind: str, limit: int = 100, **filters: str | None) -> Plan[list[Document]]:
    """Every record of `kind` (`GET /aero/{kind}`), page after page until an empty one."""
    given = {name: value for name, value in filters.items() if value is not None}
    collected: list[Document] = []
    while True:
        found = yield from page(kind, len(collected), limit, **given)
        collected.extend(found["items"])
        if not found["items"] or len(collected) >= found["total"]:
            return collected


def change(flow_id: str, body: Document) -> Plan[Document]:
    """PATCH /aero/flows/{id}: pause, resume, timer or description; the flow after."""
    return (yield from _object(Call("PATCH", f"/flows/{segment(flow_id)}", json=body), "a flow"))


def delete(flow_id: str) -> Plan[bool]:
    """DELETE /aero/flows/{id} (soft)."""
    answer = yield Call("DELETE", f"/flows/{segment(flow_id)}")
    return expect(answer, bool, "true")


def run(flow_id: str, force: bool = False) -> Plan[Document]:
    """POST /aero/flows/{id}/runs: the run, or `{coalesced: true}`."""
    call = Call("POST", f"/flows/{segment(flow_id)}/runs", json={"force": True} if force else None)
    return (yield from _object(call, "a run"))


def runs(flow_id: str, limit: int) -> Plan[list[Document]]:
    """GET /aero/flows/{id}/runs: the latest runs, newest first."""
    answer = yield Call("GET", f"/flows/{segment(flow_id)}/runs", params=(("limit", str(limit)),))
    return expect(answer, list, "a list of runs")


def get_run(run_id: str) -> Plan[Document]:
    """GET /aero/runs/{id}."""
    return (yield from _object(Call("GET", f"/runs/{segment(run_id)}"), "a run"))


def lineage(data_id: str, version: int, direction: str, depth: int | None) -> Plan[Document]:
    """GET /aero/data/{id}/versions/{n}/lineage."""
    params = [("direction", direction)] + ([] if depth is None else [("depth", str(depth))])
    path = f"/data/{segment(data_id)}/versions/{int(version)}/lineage"
    return (yield from _object(Call("GET", path, params=tuple(params)), "a lineage"))


def task(run_id: str) -> Plan[Document]:
    """POST /aero/runs/{id}/task: what the worker runs (marks the run running)."""
    return (yield from _object(Call("POST", f"/runs/{segment(run_id)}/task"), "a task"))


def commit(run_id: str, body: Document) -> Plan[Document]:
    """POST /aero/runs/{id}/commit: end the run (idempotent)."""
    return (
        yield from _object(Call("POST", f"/runs/{segment(run_id)}/commit", json=body), "outcome")
    )


def fail(run_id: str, error: str) -> Plan[Document]:
    """POST /aero/runs/{id}/fail."""
    call = Call("POST", f"/runs/{segment(run_id)}/fail", json={"error": error})
    return (yield from _object(call, "outcome"))


def ingest(run_id: str) -> Plan[Document]:
    """POST /aero/runs/{id}/ingest."""
    return (yield from _object(Call("POST", f"/runs/{segment(run_id)}/ingest"), "outcome"))
