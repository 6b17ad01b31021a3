"""`POST /prov/new` of the AERO surface: an AERO worker's commit of a whole run (its
`aero` block, wrapped or flat) makes reference-only versions and one provenance record
per run id (`X-Sluice-Run-Id`, else fresh), idempotent and race-safe; only created
versions fire the flows consuming them; bad input is 4xx and changes nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from service.testing import SluiceProcess
from tests.service.flows.conftest import commit, new_source, register, runs
from tests.service.flows.test_compat import AERO, aero_register

UPPER = "tests.service.flows.jobs.upper"
PROV_KEYS = ["id", "flow_id", "contributed_to", "derived_from"]


def legacy_flow(client: httpx.Client) -> tuple[str, str, str]:
    """A source with one version, a flow registered as the AERO client does reading it
    into `summary`: (source, flow, summary)."""
    cases = new_source(client, "cases")
    commit(client, cases, b"week,cases\n1,10\n")
    upper = client.post("/aero/functions", json={"path": UPPER})
    function_id = upper.json()["id"] if upper.status_code == 201 else upper.json()["error"][
        "details"]["id"]  # fmt: skip
    made = aero_register(client, function_uuid=function_id, rule=-1,
                         input_data={"cases": {"id": cases, "version": None}},
                         output_data={"summary": {"url": None}})  # fmt: skip
    assert made.status_code == 200, made.text
    return cases, made.json()["id"], made.json()["contributed_to"][0]["id"]


def block(flow: str, cases: str, summary: str, checksum: str = "c1") -> dict[str, Any]:
    """The `aero` block an AERO worker posts, with the keys Sluice does not read."""
    return {
        "input_data": {"cases": {"id": cases, "version": 1, "collection_uuid": "u",
                                 "collection_url": "https://gcs/", "file_bn": "in.csv",
                                 "encoding": "utf-8"}},
        "output_data": {"summary": {"id": summary, "checksum": checksum, "size": 12,
                                    "file_bn": f"{checksum}.csv",
                                    "file_format": ["text/csv", None],
                                    "collection_url": "https://gcs/", "tmpdir": "/tmp/x",
                                    "created_at": "Mon Jan  1 00:00:00 1990",
                                    "start": 1.0, "end": 2.0, "duration": 1.0}},
        "flow_id": flow,
    }  # fmt: skip


def post(client: httpx.Client, body: Any, run_id: str | None = None) -> httpx.Response:
    headers = {} if run_id is None else {"X-Sluice-Run-Id": run_id}
    return client.post(f"{AERO}//prov/new", json=body, headers=headers)


def versions(client: httpx.Client, data_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"{AERO}/data/{data_id}/versions").json()
    return found


def records(client: httpx.Client, flow: str) -> int:
    total: int = client.get("/aero/provenance", params={"flow_id": flow}).json()["total"]
    return total


def finish(client: httpx.Client, run_id: str) -> None:
    """Commit a queued native run by hand, as its worker would."""
    assert client.post(f"/aero/runs/{run_id}/task").status_code == 200
    assert client.post(f"/aero/runs/{run_id}/outputs/out", content=b"x").status_code == 200
    assert client.post(f"/aero/runs/{run_id}/commit", json={}).status_code == 200


def test_a_commit_makes_reference_versions_and_one_record_per_run_id(
    client: httpx.Client,
) -> None:
    cases, flow, summary = legacy_flow(client)
    downstream = register(client, UPPER, policy="ANY", inputs={"s": {"data_id": summary}},
                          outputs={"out": {}})  # fmt: skip
    assert runs(client, downstream["id"]) == []  # summary has no version yet

    first = post(client, {"aero": block(flow, cases, summary)}, "legacy-1")
    assert first.status_code == 200, first.text
    prov = first.json()
    assert list(prov)[:4] == PROV_KEYS and prov["flow_id"] == flow
    assert prov["run_id"] == "legacy-1" and prov["reproduced"] == []
    [made] = prov["contributed_to"]
    assert made["version"] == 1 and made["checksum"] == "c1" and made["data"]["id"] == summary
    assert made["data_file"]["file_name"] == "c1.csv" and made["content_url"] is None
    assert made["data_file"]["file_type"] == "text/csv" and made["run_id"] == "legacy-1"
    [read] = prov["derived_from"]
    assert read["id"] == versions(client, cases)[0]["id"] and read["version"] == 1
    [fired] = runs(client, downstream["id"])  # the created version fired the ANY flow
    assert fired["inputs"]["s"]["version_id"] == made["id"]
    finish(client, fired["id"])

    again = post(client, {"aero": block(flow, cases, summary)}, "legacy-1")
    assert again.status_code == 200 and again.json() == prov
    # Flat, unchanged content, a fresh run id: its own record, the version reproduced.
    same = post(client, block(flow, cases, summary))
    assert same.status_code == 200, same.text
    assert same.json()["contributed_to"] == [] and same.json()["run_id"] != "legacy-1"
    assert [v["id"] for v in same.json()["reproduced"]] == [made["id"]]
    assert len(versions(client, summary)) == 1 and records(client, flow) == 2
    assert len(runs(client, downstream["id"])) == 1  # nothing new: nothing fired

    keyed = block(flow, cases, summary, "c2")
    keyed["output_data"]["summary"].update({"source_key": "s3://bucket/week-2.csv",
                                            "dedup": False})  # fmt: skip
    changed = post(client, keyed, "legacy-2")
    assert [v["version"] for v in changed.json()["contributed_to"]] == [2]
    assert changed.json()["contributed_to"][0]["source_key"] == "s3://bucket/week-2.csv"
    latest = client.get(f"{AERO}/data/{summary}/latest").json()
    assert latest["source_key"] == latest["data_version"]["source_key"] == "s3://bucket/week-2.csv"
    assert versions(client, summary)[0]["source_key"] is None
    # dedup is ignored: the same checksum again is the latest, reproduced, not a version.
    keyed["output_data"]["summary"]["dedup"] = False
    undeduped = post(client, keyed, "legacy-3")
    assert undeduped.json()["contributed_to"] == [] and len(versions(client, summary)) == 2
    assert post(client, {**keyed, "output_data": {"summary": {
        **keyed["output_data"]["summary"], "source_key": 1}}}).status_code == 422  # fmt: skip
    # Fired by the version (or by the periodic pass that saw it first): one run of it.
    assert [run["inputs"]["s"]["version"] for run in runs(client, downstream["id"])] == [1, 2]
    listed = client.get(f"{AERO}/prov").json()
    assert {"legacy-1", "legacy-2", "legacy-3"} <= {record["run_id"] for record in listed}


def test_racing_posts_of_one_run_id_store_one_version_and_one_record(
    client: httpx.Client, server: SluiceProcess
) -> None:
    cases, flow, summary = legacy_flow(client)
    body = block(flow, cases, summary, "race")

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as each:
            return post(each, body, "legacy-race")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert [v["version"] for v in versions(client, summary)] == [1]
    assert records(client, flow) == 1


def test_bad_commits_are_4xx_and_change_nothing(client: httpx.Client) -> None:
    cases, flow, summary = legacy_flow(client)
    other = new_source(client, "not an output")
    native = register(client, UPPER, outputs={"out": {}})
    queued = client.post(f"/aero/flows/{native['id']}/runs").json()["id"]
    good = block(flow, cases, summary)

    def variant(**changes: Any) -> dict[str, Any]:
        changed = {**good, **changes}
        return changed

    inputs = good["input_data"]["cases"]
    output = good["output_data"]["summary"]
    refusals: list[tuple[Any, str | None, int]] = [
        (variant(input_data={"cases": {**inputs, "version": None}}), None, 400),
        (variant(input_data={"cases": {"id": cases}}), None, 400),
        (variant(input_data={"cases": {**inputs, "version": 9}}), None, 400),
        (variant(input_data={"cases": {**inputs, "id": "nope"}}), None, 400),
        (variant(flow_id="nope"), None, 400),
        (variant(output_data={"summary": {**output, "id": other}}), None, 400),
        (variant(output_data={"summary": {**output, "file_format": 3}}), None, 422),
        (variant(output_data={"summary": {**output, "file_format": "x" * 300}}), None, 400),
        (variant(output_data={"summary": {**output, "checksum": 5}}), None, 422),
        (variant(output_data={"summary": {**output, "size": -1}}), None, 422),
        (variant(output_data={"summary": {k: v for k, v in output.items() if k != "file_bn"}}),
         None, 422),
        (variant(surprise=1), None, 422),
        ({"aero": [good]}, None, 400),
        ([good], None, 400),
        (good, "x" * 200, 400),
        (good, queued, 409),
    ]  # fmt: skip
    for body, run_id, status in refusals:
        answer = post(client, body, run_id)
        assert answer.status_code == status, (body, run_id, answer.text)
        assert answer.json()["code"] == status
    assert versions(client, summary) == [] and records(client, flow) == 0
    # A run id recorded for another flow is not this one's.
    assert post(client, good, "legacy-owned").status_code == 200
    _, second, second_summary = legacy_flow(client)
    taken = post(client, block(second, cases, second_summary), "legacy-owned")
    assert taken.status_code == 409, taken.text
    assert versions(client, second_summary) == [] and records(client, second) == 0
    assert client.post(f"{AERO}/prov/new", content=b"{nope").status_code == 400
