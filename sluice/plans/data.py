"""The AERO data wire protocol as plans (see sluice.core.plan), for `Data`: functions,
data sources, versions, ingestion and search under `/aero`."""

from __future__ import annotations

from sluice.core.plan import Call, Document, Plan, expect, segment
from sluice.errors import NotFound
from sluice.plans.flows import every

#: The AERO client's metadata types and the native listing each is.
KINDS = {"data": "data", "prov": "provenance", "flow": "flows"}
#: Records per page of `list_metadata`, as the AERO client yields them.
PAGE = 15


def _object(call: Call, what: str) -> Plan[Document]:
    answer = yield call
    return expect(answer, dict, what)


def register_function(path: str, description: str) -> Plan[Document]:
    """POST /aero/functions: the registered function (Conflict if it exists)."""
    body = {"path": path, "description": description}
    return (yield from _object(Call("POST", "/functions", json=body), "a function"))


def create(body: Document) -> Plan[Document]:
    """POST /aero/data: the new data source."""
    return (yield from _object(Call("POST", "/data", json=body), "a data source"))


def get(data_id: str) -> Plan[Document]:
    """GET /aero/data/{id}."""
    return (yield from _object(Call("GET", f"/data/{segment(data_id)}"), "a data source"))


def update(data_id: str, changes: Document) -> Plan[Document]:
    """PATCH /aero/data/{id}: the source after the change."""
    call = Call("PATCH", f"/data/{segment(data_id)}", json=changes)
    return (yield from _object(call, "a data source"))


def versions(data_id: str, limit: int = 1000) -> Plan[list[Document]]:
    """Every version of a data source, oldest first, page after page."""
    return (yield from every(f"data/{segment(data_id)}/versions", limit))


def version(data_id: str, number: int | None) -> Plan[Document]:
    """GET /aero/data/{id}/versions/{n}; the latest when `number` is None (NotFound
    if the source has no version yet)."""
    if number is None:
        source = yield from get(data_id)
        number = source.get("latest_version")
        if number is None:
            raise NotFound(f"data {data_id} has no versions yet", status_code=404,
                           code="not_found", details={"data_id": data_id})  # fmt: skip
    path = f"/data/{segment(data_id)}/versions/{int(number)}"
    return (yield from _object(Call("GET", path), "a version"))


def upload(data_id: str, content: bytes, file_name: str | None, file_type: str) -> Plan[Document]:
    """POST /aero/data/{id}/versions: `{created, version}` (unchanged bytes: created false)."""
    params = (("file_name", file_name),) if file_name else None
    call = Call("POST", f"/data/{segment(data_id)}/versions", params=params, content=content,
                headers=(("content-type", file_type),))  # fmt: skip
    return (yield from _object(call, "a commit answer"))


def download(data_id: str, number: int | None) -> Plan[bytes]:
    """A version's bytes (the latest when `number` is None)."""
    found = yield from version(data_id, number)
    path = f"/data/{segment(data_id)}/versions/{found['version']}/content"
    content = yield Call("GET", path, raw=True)
    return expect(content, bytes, "the version's bytes")


def ingest(data_id: str, force: bool) -> Plan[Document]:
    """POST /aero/data/{id}/ingest: `{status, version, error, ...}`."""
    call = Call("POST", f"/data/{segment(data_id)}/ingest", json={"force": force})
    return (yield from _object(call, "an ingestion result"))


def notify(data_id: str, notice: Document) -> Plan[Document]:
    """POST /aero/data/{id}/notify: the ingestion run queued, or `{coalesced: true}`."""
    call = Call("POST", f"/data/{segment(data_id)}/notify", json=notice)
    return (yield from _object(call, "a flow run"))


def search(query: str, offset: int, limit: int, latest_only: bool) -> Plan[Document]:
    """GET /aero/search: one page of matching versions, each with its `data`."""
    params = (("q", query), ("offset", str(offset)), ("limit", str(limit)),
              ("latest_only", "true" if latest_only else "false"))  # fmt: skip
    found = yield from _object(Call("GET", "/search", params=params), "search hits")
    expect(found.get("items"), list, "a list of hits")
    return found
