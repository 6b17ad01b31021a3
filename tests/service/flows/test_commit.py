"""Exactly-once output commits with a worker killed on the way, and provenance with
lineage both ways, through real `sluice worker` processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.flows.conftest import commit, content, new_source, register, runs, worker
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

JOBS = "tests.service.flows.jobs"


def ended(client: httpx.Client, flow_id: str, count: int = 1) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        found = runs(client, flow_id)
        done = [run for run in found if run["status"] not in ("queued", "running")]
        return found if len(done) >= count else None

    found: list[dict[str, Any]] = wait_for(check, 40, f"{count} ended runs of {flow_id}")
    return found


def records(client: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    answer = client.get("/aero/provenance", params={**filters, "limit": 100})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


@pytest.mark.parametrize("stage", ["outputs", "commit"])
def test_a_worker_killed_before_reporting_leaves_one_version_and_one_record(
    client: httpx.Client, server: SluiceProcess, workers: Workers, tmp_path: Path, stage: str
) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"abc")
    marker = tmp_path / "died"
    flow = register(client, f"{JOBS}.die_after", inputs={"cases": {"data_id": cases}},
                    outputs={"summary": {}}, policy="ANY", timeout=2, retries=2,
                    kwargs={"marker": str(marker), "stage": stage})  # fmt: skip
    first = workers.start(server.url, "aero-analysis", "--sleep", "0.1")
    wait_for(lambda: first.poll() is not None, 60, "the first worker to be killed")
    assert marker.exists()
    worker(workers, server.url)  # takes the work once its lease has expired
    (run,) = ended(client, flow["id"])
    assert run["status"] == "committed", run
    summary = flow["outputs"]["summary"]["data_id"]
    versions = client.get(f"/aero/data/{summary}/versions").json()
    assert versions["total"] == 1 and content(client, summary, 1) == b"cba"
    (record,) = records(client, flow_id=flow["id"])
    assert record["run_id"] == run["id"] and run["provenance_id"] == record["id"]
    assert records(client, run_id=run["id"]) == [record] and record["parent"] is None
    assert run["provenance_ids"] == [record["id"]]
    assert record["contributed_to"] == [versions["items"][0]["id"]]
    work = client.get("/buckets/work", params={"id": run["id"]})
    if work.status_code == 200 and work.json():
        (found,) = work.json() if isinstance(work.json(), list) else [work.json()]
        assert found["attempt"] == 2 and found["results"]["provenance_id"] == record["id"]


def test_provenance_names_exact_versions_and_lineage_walks_both_ways(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    cases = new_source(client, "cases")
    v1 = commit(client, cases, b"abc")
    worker(workers, server.url)
    first = register(client, f"{JOBS}.upper", inputs={"cases": {"data_id": cases}},
                     outputs={"summary": {}}, policy="ANY")  # fmt: skip
    summary = first["outputs"]["summary"]["data_id"]
    second = register(client, f"{JOBS}.upper", inputs={"cases": {"data_id": summary}},
                      outputs={"summary": {"name": "summary of summary"}},
                      policy="ANY")  # fmt: skip
    final = second["outputs"]["summary"]["data_id"]
    ended(client, first["id"])
    ended(client, second["id"])
    (made,) = records(client, flow_id=first["id"])
    summary_v1 = client.get(f"/aero/data/{summary}/versions/1").json()
    final_v1 = client.get(f"/aero/data/{final}/versions/1").json()
    assert made["derived_from"] == [v1["id"]] and made["contributed_to"] == [summary_v1["id"]]
    assert made["inputs"]["cases"]["version"] == 1
    assert made["function_path"] == f"{JOBS}.upper"

    up = client.get(f"/aero/data/{final}/versions/1/lineage", params={"direction": "up"})
    assert up.status_code == 200, up.text
    assert up.json()["versions"] == [summary_v1["id"], v1["id"]]
    down = client.get(f"/aero/data/{cases}/versions/1/lineage", params={"direction": "down"})
    assert down.json()["versions"] == [summary_v1["id"], final_v1["id"]]
    shallow = client.get(f"/aero/data/{cases}/versions/1/lineage",
                         params={"direction": "down", "depth": 1})  # fmt: skip
    assert shallow.json()["versions"] == [summary_v1["id"]]

    # The same inputs again: the output's bytes are the latest version's ("reproduced").
    again = client.post(f"/aero/flows/{first['id']}/runs")
    assert again.status_code == 201, again.text
    ended(client, first["id"], 2)
    latest = records(client, flow_id=first["id"])[0]
    assert latest["run_id"] == again.json()["id"]
    assert latest["contributed_to"] == [] and latest["reproduced"] == [summary_v1["id"]]
    assert client.get(f"/aero/data/{summary}/versions").json()["total"] == 1
    assert len(records(client, version_id=summary_v1["id"])) == 3


def test_an_output_version_has_the_media_type_its_file_name_says(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"a,b")
    worker(workers, server.url)
    flows = [register(client, f"{JOBS}.{job}", inputs={"cases": {"data_id": cases}},
                      outputs={"summary": {}}, policy="ANY")
             for job in ("table", "upper")]  # fmt: skip
    for made, media in zip(flows, ("text/csv", "application/octet-stream"), strict=True):
        (run,) = ended(client, made["id"])
        assert run["status"] == "committed", run
        summary = made["outputs"]["summary"]["data_id"]
        shown = client.get(f"/aero/data/{summary}/versions/1").json()
        assert shown["data_file"]["file_type"] == media
        download = client.get(f"/aero/data/{summary}/versions/1/content")
        assert download.content == b"A,B"
        assert download.headers["content-type"].split(";")[0] == media


def test_a_staged_output_that_is_not_a_media_type_is_refused(client: httpx.Client) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"abc")
    made = register(client, f"{JOBS}.upper", inputs={"cases": {"data_id": cases}},
                    outputs={"summary": {}}, policy="NONE")  # fmt: skip
    started = client.post(f"/aero/flows/{made['id']}/runs", json={})
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    path = f"/aero/runs/{run_id}/outputs/summary"
    for bad in ("text/csv x", "nope", "text/", "/csv", "a b/c", "text/" + "c" * 200):
        answer = client.post(path, content=b"x", headers={"content-type": bad})
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"]["details"] == {"field": "content-type"}
    # None was staged: the commit finds the output missing.
    assert client.post(f"/aero/runs/{run_id}/commit", json={}).status_code == 400
    kept = client.post(path, content=b"x", headers={"content-type": "text/csv; charset=utf-8"})
    assert kept.status_code == 200, kept.text
    assert client.post(f"/aero/runs/{run_id}/commit", json={}).status_code == 200
    summary = made["outputs"]["summary"]["data_id"]
    shown = client.get(f"/aero/data/{summary}/versions/1").json()
    assert shown["data_file"]["file_type"] == "text/csv"
