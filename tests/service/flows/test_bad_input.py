"""Bad input to flows: clear 4xx answers that change nothing, or a run failed with
the reason (a function path that cannot be imported)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from service.testing import SluiceProcess
from tests.service.flows.conftest import commit, function, new_source, register, runs, worker
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

UPPER = "tests.service.flows.jobs.upper"


def refused(client: httpx.Client, body: dict[str, Any], status: int = 400) -> str:
    def totals() -> tuple[int, int]:
        return tuple(client.get(f"/aero/{what}").json()["total"] for what in ("flows", "data"))

    before = totals()
    answer = client.post("/aero/flows", json={"site": "local", **body})
    assert answer.status_code == status, answer.text
    assert totals() == before  # nothing written: no flow, no output source
    message: str = answer.json()["error"]["message"]
    return message


def test_unknown_flow_and_run_are_404(client: httpx.Client) -> None:
    asked = [("GET", "/aero/flows/nope"), ("PATCH", "/aero/flows/nope"),
             ("DELETE", "/aero/flows/nope"), ("POST", "/aero/flows/nope/runs"),
             ("GET", "/aero/runs/nope"), ("POST", "/aero/runs/nope/commit")]  # fmt: skip
    for method, path in asked:
        answer = client.request(method, path, json={} if method in ("PATCH", "POST") else None)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] in ("flow_not_found", "run_not_found")


def test_registration_refuses_what_it_cannot_run(client: httpx.Client) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"abc")
    upper = function(client, UPPER)
    inputs = {"cases": {"data_id": cases}}
    message = refused(client, {"function_id": "unregistered", "inputs": inputs})
    assert "function not registered with Sluice: unregistered" in message
    message = refused(
        client, {"function_id": upper, "inputs": {"cases": {"data_id": cases, "version": 7}}}
    )
    assert "version 7" in message and "does not exist" in message
    assert "no source" in refused(
        client, {"function_id": upper, "inputs": {"cases": {"data_id": "nope"}}}
    )
    refused(
        client, {"function_id": upper, "inputs": inputs, "policy": "ALL", "kwargs": {"cases": 1}}
    )  # a kwarg named like an input
    refused(client, {"function_id": upper, "inputs": {}, "policy": "ANY"})
    refused(client, {"function_id": upper, "policy": "SOMETIMES"}, 422)
    refused(client, {"function_id": upper, "policy": 7})
    # A bad output after a good one: the good one's source is not made either.
    for bad in ({"name": "   "}, {"url": "ftp://x/y"}, {"name": "a\x01b"}):
        refused(client, {"function_id": upper, "inputs": inputs,
                         "outputs": {"good": {"name": "fine"}, "bad": bad}})  # fmt: skip
    refused(client, {"function_id": upper, "policy": "TIMER", "timer": 0}, 422)
    # Past a year (SLUICE_AERO_MAX_TIMER): its next slot would be no date at all.
    for timer in (31_622_401, 1_000_000_000_000, 2**63 - 1):
        assert "SLUICE_AERO_MAX_TIMER" in refused(
            client, {"function_id": upper, "policy": "TIMER", "timer": timer}
        )
    refused(client, {"function_id": upper, "outputs": {"not-a-name": {}}}, 422)
    refused(client, {"function_id": upper, "policy": "INGESTION", "outputs": {"data": {}}})


def test_an_ingestion_url_on_a_host_not_allowed_is_refused_at_registration(
    client: httpx.Client,
) -> None:
    # These Sluices allow 127.0.0.1 only (SLUICE_AERO_INGEST_HOSTS).
    bound = new_source(client, "elsewhere", url="http://upstream.example.org/bound.csv")
    sources = client.get("/aero/data").json()["total"]
    flows = client.get("/aero/flows").json()["total"]
    for output in ({"url": "http://upstream.example.org/cases.csv"}, {"data_id": bound}):
        answer = client.post(
            "/aero/flows",
            json={"site": "local", "policy": "INGESTION", "outputs": {"data": output}},
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert "'upstream.example.org'" in error["message"], error
        assert "SLUICE_AERO_INGEST_HOSTS" in error["message"], error
        assert error["details"]["reason"] == "host_not_allowed", error
    assert client.get("/aero/data").json()["total"] == sources  # no output source made
    assert client.get("/aero/flows").json()["total"] == flows
    for url in ("ftp://127.0.0.1/x", "http://[::1", "http://127.0.0.1:abc/x"):
        refused(client, {"policy": "INGESTION", "outputs": {"data": {"url": url}}})


def test_a_duplicate_is_409_naming_the_flow_and_a_cycle_is_refused(
    client: httpx.Client,
) -> None:
    cases = new_source(client, "cases")
    body = {"inputs": {"cases": {"data_id": cases}}, "outputs": {"summary": {}}}
    first = register(client, UPPER, **body)
    again = client.post("/aero/flows", json={"function_id": first["function_id"],
                                             "site": "local", **body})  # fmt: skip
    assert again.status_code == 409, again.text
    assert again.json()["error"]["details"]["flow_id"] == first["id"]
    # The same flow in another pipeline is another flow: taken, and nothing of the
    # first (its id) shown to it.
    elsewhere = register(client, UPPER, pipeline="elsewhere", **body)
    assert elsewhere["id"] != first["id"]
    summary = first["outputs"]["summary"]["data_id"]
    produced = {**body, "outputs": {"summary": {"data_id": summary}}}
    taken = client.post(
        "/aero/flows",
        json={
            "function_id": first["function_id"],
            "site": "local",
            "pipeline": "other",
            **produced,
        },
    )
    assert taken.status_code == 409 and taken.json()["error"]["details"] == {}, taken.text
    client.delete(f"/aero/flows/{elsewhere['id']}")
    # summary -> cases would close a loop (cases is summary's ancestor).
    loop = {
        "function_id": first["function_id"],
        "policy": "ANY",
        "inputs": {"cases": {"data_id": summary}},
        "outputs": {"back": {"data_id": cases}},
    }
    assert "trigger itself" in refused(client, loop)
    assert client.delete(f"/aero/flows/{first['id']}").json() is True
    assert client.get(f"/aero/flows/{first['id']}").status_code == 404
    # Deleted flows no longer count as duplicates.
    assert (
        client.post(
            "/aero/flows", json={"function_id": first["function_id"], "site": "local", **body}
        ).status_code
        == 201
    )


def test_a_path_that_cannot_be_imported_fails_its_run_with_the_reason(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"abc")
    flow = register(client, "tests.service.flows.no_such_module.f", policy="ANY",
                    inputs={"cases": {"data_id": cases}})  # fmt: skip
    worker(workers, server.url)
    (run,) = wait_for(lambda: [r for r in runs(client, flow["id"]) if r["status"] == "failed"],
                      30, "the run to fail")  # fmt: skip
    assert "cannot import tests.service.flows.no_such_module.f" in run["error"]
    assert "No module named" in run["error"]
    # The run ends first, then releases its flow (a second write): wait for both.
    found = wait_for(lambda: released(client, flow["id"]), 30, "the flow's release")
    assert found["last_error"] == run["error"]
    assert client.get("/aero/provenance", params={"flow_id": flow["id"]}).json()["total"] == 0
    time.sleep(1)  # several scheduler passes: the inputs it failed on do not fire again
    assert len(runs(client, flow["id"])) == 1
    commit(client, cases, b"abcd")  # a new version does
    wait_for(lambda: len(runs(client, flow["id"])) == 2, 30, "a run for the new version")


def test_pause_stops_firing_and_resume_catches_up(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    cases = new_source(client, "cases")
    commit(client, cases, b"abc")
    flow = register(client, UPPER, policy="ANY", inputs={"cases": {"data_id": cases}},
                    outputs={"summary": {}})  # fmt: skip
    worker(workers, server.url)
    wait_for(lambda: [r["status"] for r in runs(client, flow["id"])] == ["committed"], 30,
             "the first run")  # fmt: skip
    paused = client.patch(f"/aero/flows/{flow['id']}", json={"state": "paused"}).json()
    assert paused["state"] == "paused"
    commit(client, cases, b"abcd")
    assert client.post(f"/aero/flows/{flow['id']}/runs").status_code == 400
    assert len(runs(client, flow["id"])) == 1
    client.patch(f"/aero/flows/{flow['id']}", json={"state": "active"})
    wait_for(lambda: [r["status"] for r in runs(client, flow["id"])] == ["committed"] * 2, 30,
             "the run the resume fired")  # fmt: skip


def released(client: httpx.Client, flow_id: str) -> dict[str, Any] | None:
    """The flow once no run holds it, else None."""
    found: dict[str, Any] = client.get(f"/aero/flows/{flow_id}").json()
    return found if found["pending_run_id"] is None else None
