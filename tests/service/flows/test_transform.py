"""Ingestion with a transform (an ingestion flow's function): the worker transforms the
raw upstream the server fetched, the version holds the transformed bytes (`sha256`)
and records the raw upstream's `source_checksum` and `source_sha256`; change detection
is by the raw upstream, so an unchanged upstream is never transformed again, whatever
the transform would make now. A transform that raises stores no version."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.testing import SluiceProcess
from tests.service.flows.conftest import content, new_source, register, runs, worker
from tests.service.flows.test_schedule import Upstream
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

SHOUT = "tests.service.flows.jobs.shout"
BROKEN = "tests.service.flows.jobs.broken"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    yield served
    served.server.shutdown()


def statuses(client: httpx.Client, flow_id: str) -> list[str]:
    return [run["status"] for run in runs(client, flow_id)]


def notified(client: httpx.Client, flow_id: str, source: str, *expected: str) -> None:
    """Notify the source's flow and wait for its runs' statuses to be `expected`."""
    answer = client.post(f"/aero/data/{source}/notify")
    assert answer.status_code == 201, answer.text
    wait_for(lambda: statuses(client, flow_id) == list(expected), 30, f"runs {expected}")


def versions(client: httpx.Client, source: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"/aero/data/{source}/versions").json()["items"]
    return found


def shout_flow(
    client: httpx.Client, upstream: Upstream, name: str, style: Path, mark: bytes, calls: Path
) -> tuple[str, dict[str, Any]]:
    """A source `name` fetched from `upstream` and the INGESTION_EVENT flow shouting it
    (its transform appends what `style` holds, `mark` to begin with, and leaves one file
    in `calls` per call): the source's id and the flow."""
    style.write_bytes(mark)
    calls.mkdir()
    source = new_source(client, name, url=upstream.url)
    made = register(client, SHOUT, policy="INGESTION_EVENT",
                    outputs={"data": {"data_id": source}},
                    kwargs={"style": str(style), "calls": str(calls)})  # fmt: skip
    return source, made


def test_the_transformed_bytes_are_stored_and_an_unchanged_upstream_is_not_transformed(
    client: httpx.Client, server: SluiceProcess, workers: Workers, upstream: Upstream,
    tmp_path: Path,
) -> None:  # fmt: skip
    upstream.etags = False  # every fetch a full 200: change detection by the checksum
    style, calls = tmp_path / "style", tmp_path / "calls"
    source, made = shout_flow(client, upstream, "transformed", style, b"!", calls)
    assert made["function_path"] == SHOUT
    worker(workers, server.url, "aero-ingest")
    notified(client, made["id"], source, "committed")
    (first,) = versions(client, source)
    assert content(client, source, 1) == b"V1!"
    assert first["sha256"] == hashlib.sha256(b"V1!").hexdigest()
    assert first["checksum"] == hashlib.md5(b"V1!").hexdigest()
    assert first["source_checksum"] == hashlib.md5(b"v1").hexdigest()
    assert first["source_sha256"] == hashlib.sha256(b"v1").hexdigest()
    # The transform would now make other bytes, but the upstream did not change.
    style.write_bytes(b"?")
    notified(client, made["id"], source, "committed", "unchanged")
    assert len(versions(client, source)) == 1 and len(list(calls.iterdir())) == 1
    # Unless a re-ingestion is forced: transformed again, a version as the bytes differ.
    forced = client.post(f"/aero/flows/{made['id']}/runs", json={"force": True})
    assert forced.status_code == 201, forced.text
    wait_for(lambda: statuses(client, made["id"])[-1] == "committed", 30, "the forced run")
    assert content(client, source, 2) == b"V1?" and len(list(calls.iterdir())) == 2
    assert versions(client, source)[1]["source_checksum"] == hashlib.md5(b"v1").hexdigest()
    done = ["committed", "unchanged", "committed"]
    notified(client, made["id"], source, *done, "unchanged")  # still keyed by its upstream
    upstream.content = b"v2"
    notified(client, made["id"], source, *done, "unchanged", "committed")
    assert content(client, source, 3) == b"V2?"
    assert versions(client, source)[2]["source_checksum"] == hashlib.md5(b"v2").hexdigest()
    # With validators: the same raw bytes (unchanged, its ETag kept), then a 304.
    upstream.etags = True
    notified(client, made["id"], source, *statuses(client, made["id"]), "unchanged")
    notified(client, made["id"], source, *statuses(client, made["id"]), "unchanged")
    assert len(versions(client, source)) == 3 and len(list(calls.iterdir())) == 3
    records = client.get("/aero/provenance", params={"flow_id": made["id"]}).json()["items"]
    assert [r["function_path"] for r in records] == [SHOUT, SHOUT, SHOUT]
    assert sorted(v for r in records for v in r["contributed_to"]) == sorted(
        v["id"] for v in versions(client, source)
    )
    # Ingested only through its flow: raw bytes committed directly would skip the transform.
    direct = client.post(f"/aero/data/{source}/ingest", json={"force": True})
    assert direct.status_code == 400 and made["id"] in direct.json()["error"]["message"]
    assert len(versions(client, source)) == 3
    # A run that ended has no upstream to hand out any more.
    last = runs(client, made["id"])[-1]["id"]
    assert client.get(f"/aero/runs/{last}/source").status_code == 400


def test_a_transform_that_raises_fails_the_run_and_stores_nothing(
    client: httpx.Client, server: SluiceProcess, workers: Workers, upstream: Upstream
) -> None:
    source = new_source(client, "never transformed", url=upstream.url)
    made = register(client, BROKEN, policy="INGESTION_EVENT", retries=0,
                    outputs={"data": {"data_id": source}})  # fmt: skip
    worker(workers, server.url, "aero-ingest")
    notified(client, made["id"], source, "failed")
    (run,) = runs(client, made["id"])
    assert f"the transform {BROKEN} raised ValueError: cannot read data" in run["error"], run
    assert versions(client, source) == [] and run["committed"] == {}
    assert client.get("/aero/provenance", params={"flow_id": made["id"]}).json()["total"] == 0
    # Its validators were not kept: the next run fetches the upstream in full again.
    assert client.get(f"/aero/data/{source}").json()["latest_version"] is None
    failed = client.get(f"/aero/runs/{run['id']}/source")
    assert failed.status_code == 409 and "failed" in failed.json()["error"]["message"]
    assert client.get("/aero/runs/nope/source").status_code == 404


def test_force_is_for_ingestions_and_bad_run_bodies_are_4xx(client: httpx.Client) -> None:
    cases = new_source(client, "cases")
    analysis = register(client, "tests.service.flows.jobs.upper", policy="NONE",
                        inputs={"cases": {"data_id": cases}}, outputs={"summary": {}})  # fmt: skip
    runs_of = f"/aero/flows/{analysis['id']}/runs"
    refused = client.post(runs_of, json={"force": True})
    assert refused.status_code == 400 and "force" in refused.json()["error"]["message"]
    for body in ({"force": 1}, {"force": "yes"}, {"surprise": True}, [1]):
        answer = client.post(runs_of, json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert client.post(runs_of, content=b"{nope").status_code == 400
    assert runs(client, analysis["id"]) == []


def test_an_upstream_reverted_between_attempts_ends_the_run_unchanged(
    client: httpx.Client, upstream: Upstream, tmp_path: Path
) -> None:
    """The worker's side by hand: an attempt staged a changed upstream and died; by the
    retry the upstream is back to the latest version's (a 304): nothing is committed."""
    style, calls = tmp_path / "style", tmp_path / "calls"
    source, made = shout_flow(client, upstream, "reverted", style, b"", calls)

    def attempt(run_id: str) -> dict[str, Any]:
        assert client.post(f"/aero/runs/{run_id}/task").status_code == 200
        answer = client.post(f"/aero/runs/{run_id}/ingest")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    first = client.post(f"/aero/data/{source}/notify").json()["id"]
    asked = attempt(first)
    assert asked["transform"] == SHOUT and asked["output"] == "data"
    raw = client.get(f"/aero/runs/{first}/source")
    assert raw.content == b"v1" and asked["source"]["sha256"] == hashlib.sha256(b"v1").hexdigest()
    assert client.post(f"/aero/runs/{first}/outputs/data", content=b"V1").status_code == 200
    done = client.post(f"/aero/runs/{first}/commit", json={}).json()
    assert done["status"] == "committed" and len(done["created"]) == 1
    upstream.content = b"v2"
    second = client.post(f"/aero/data/{source}/notify").json()["id"]
    assert attempt(second)["transform"] == SHOUT  # staged; then its worker died
    upstream.content = b"v1"
    retried = attempt(second)
    assert retried["status"] == "unchanged" and "transform" not in retried, retried
    assert len(versions(client, source)) == 1
    assert statuses(client, made["id"]) == ["committed", "unchanged"]
