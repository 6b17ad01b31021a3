"""Route-walk cases of AERO data, native (`/aero/...`) and on the AERO-compatible
surface (`/osprey/api/v1.0/...`): data sources, their versions and registered
functions are public records shared by every pipeline (flow runs are not)."""

from __future__ import annotations

from tests.service.auth.pipeline_cases.cases import Call, Case, call, shared

SHARED_DATA = (
    "AERO data sources, their versions and registered functions are shared records of "
    "no pipeline (like experiments); the works of flow runs belong to their pipelines, "
    "and a source a live flow produces is written through its pipeline only "
    "(tests/service/flows/test_outputs_access.py)"
)
_AERO = "/osprey/api/v1.0"
_DATA = lambda w: f"/aero/data/{w.aero_data}"  # noqa: E731
_COMPAT = lambda w: f"{_AERO}/data/{w.aero_data}"  # noqa: E731


def _shared(*calls: Call) -> Case:
    return shared(SHARED_DATA, *calls)


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/aero/functions"): _shared(call("/aero/functions", json={"path": "walk.a.f"})),
    ("GET", "/aero/functions"): _shared(call("/aero/functions")),
    ("GET", "/aero/functions/{function_id}"): _shared(
        call(lambda w: f"/aero/functions/{w.aero_function}")
    ),
    ("POST", "/aero/data"): _shared(call("/aero/data", json={"name": "walk-a"})),
    ("GET", "/aero/data"): _shared(call("/aero/data")),
    ("GET", "/aero/data/{data_id}"): _shared(call(_DATA)),
    # The same description it has: nothing of the world changes.
    ("PATCH", "/aero/data/{data_id}"): _shared(call(_DATA, json={"description": ""})),
    ("GET", "/aero/data/{data_id}/versions"): _shared(
        call(lambda w: f"/aero/data/{w.aero_data}/versions")
    ),
    # Same bytes as the world's version: unchanged, so the snapshot stays equal.
    ("POST", "/aero/data/{data_id}/versions"): _shared(
        call(lambda w: f"/aero/data/{w.aero_data}/versions", content=b"walk")
    ),
    ("GET", "/aero/data/{data_id}/versions/{version}"): _shared(
        call(lambda w: f"/aero/data/{w.aero_data}/versions/1")
    ),
    ("GET", "/aero/data/{data_id}/versions/{version}/content"): _shared(
        call(lambda w: f"/aero/data/{w.aero_data}/versions/1/content")
    ),
    # No URL and no allowed host: a failed ingestion, nothing changes.
    ("POST", "/aero/data/{data_id}/ingest"): _shared(
        call(lambda w: f"/aero/data/{w.aero_data}/ingest", json={})
    ),
    ("GET", "/aero/search"): _shared(call("/aero/search", params={"q": "walk"})),
    ("GET", f"{_AERO}/data"): _shared(call(f"{_AERO}/data")),
    ("POST", f"{_AERO}/data"): _shared(call(f"{_AERO}/data", json={"name": "walk-a"})),
    ("GET", f"{_AERO}/data/search"): _shared(
        call(f"{_AERO}//data/search", params={"query": "walk"})
    ),
    ("GET", f"{_AERO}/data/{{data_id}}"): _shared(call(_COMPAT)),
    ("GET", f"{_AERO}/data/{{data_id}}/versions"): _shared(
        call(lambda w: f"{_AERO}/data/{w.aero_data}/versions")
    ),
    ("GET", f"{_AERO}/data/{{data_id}}/file"): _shared(
        call(lambda w: f"{_AERO}/data/{w.aero_data}/file", params={"version": 1})
    ),
    ("GET", f"{_AERO}/data/{{data_id}}/latest"): _shared(
        call(lambda w: f"{_AERO}/data/{w.aero_data}/latest")
    ),
    # A reference-only version of new checksum would add one: ask for a bad body.
    ("POST", f"{_AERO}/data/{{data_id}}/new-version"): _shared(
        call(lambda w: f"{_AERO}/data/{w.aero_data}/new-version", json={"checksum": 1})
    ),
}
