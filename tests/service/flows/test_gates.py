"""ANY and ALL over two inputs, with real `sluice worker` processes: what fires, what
waits (and says why), and how simultaneous input commits coalesce."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from service.testing import SluiceProcess
from tests.service.flows.conftest import (
    commit,
    content,
    flow,
    new_source,
    register,
    runs,
    worker,
)
from tests.sluice.buckets.conftest import wait_for
from tests.workers import Workers

COMBINE = "tests.service.flows.jobs.combine"


def committed(client: httpx.Client, flow_id: str, count: int) -> list[dict[str, Any]]:
    """Wait until the flow has `count` committed runs and no other; its runs."""

    def done() -> list[dict[str, Any]] | None:
        found = runs(client, flow_id)
        statuses = [run["status"] for run in found]
        assert "failed" not in statuses, found
        return found if statuses == ["committed"] * count else None

    found: list[dict[str, Any]] = wait_for(done, 30, f"{count} committed runs of {flow_id}")
    return found


def latest_output(client: httpx.Client, found: dict[str, Any], name: str) -> bytes:
    data_id = found["outputs"][name]["data_id"]
    latest = client.get(f"/aero/data/{data_id}").json()["latest_version"]
    return content(client, data_id, latest)


def test_any_and_all_wait_for_their_inputs_then_fire_by_their_rule(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    a, b = new_source(client, "a"), new_source(client, "b")
    commit(client, a, b"a1")
    inputs = {"a": {"data_id": a}, "b": {"data_id": b}}
    flows = {
        policy: register(client, COMBINE, inputs=inputs, outputs={"combined": {}},
                         policy=policy, kwargs={"label": f"{policy}:"})
        for policy in ("ANY", "ALL")
    }  # fmt: skip
    for registered in flows.values():
        # Registration with only `a` populated runs nothing and says what it waits for.
        assert registered["waiting_for"] == [b]
        assert registered["last_enqueued_at"] is None
        assert runs(client, registered["id"]) == []
    worker(workers, server.url)
    commit(client, b, b"b1")
    for policy, registered in flows.items():
        first = committed(client, registered["id"], 1)[0]
        assert {name: given["version"] for name, given in first["inputs"].items()} == {
            "a": 1, "b": 1
        }  # fmt: skip
        assert latest_output(client, registered, "combined") == f"{policy}:a1b1".encode()

    commit(client, a, b"a2")  # ANY fires again; ALL waits for a new b
    committed(client, flows["ANY"]["id"], 2)
    assert latest_output(client, flows["ANY"], "combined") == b"ANY:a2b1"
    waiting = wait_for(lambda: flow(client, flows["ALL"]["id"])["waiting_for"] == [b] or None,
                       10, "ALL to wait for b")  # fmt: skip
    assert waiting and len(runs(client, flows["ALL"]["id"])) == 1

    commit(client, b, b"b2")  # now every input of ALL is new
    committed(client, flows["ALL"]["id"], 2)
    committed(client, flows["ANY"]["id"], 3)
    assert latest_output(client, flows["ALL"], "combined") == b"ALL:a2b2"
    # Having consumed both, ALL now waits for new versions of both.
    wait_for(lambda: flow(client, flows["ALL"]["id"])["waiting_for"] == [a, b], 10,
             "ALL to wait for new a and b")  # fmt: skip


def test_simultaneous_input_commits_give_one_run_and_one_follow_up(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    a, b = new_source(client, "a"), new_source(client, "b")
    commit(client, a, b"a1")
    commit(client, b, b"b1")
    registered = register(client, COMBINE, inputs={"a": {"data_id": a}, "b": {"data_id": b}},
                          outputs={"combined": {}}, policy="ANY")  # fmt: skip
    # Both inputs populated: registration fires once (no worker yet: it stays queued).
    assert registered["pending_run_id"] is not None
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda pair: commit(client, *pair),
                      [(a, b"a2"), (b, b"b2"), (a, b"a3"), (b, b"b3")]))  # fmt: skip
    assert len(runs(client, registered["id"])) == 1  # the rest is one coalesced follow-up
    worker(workers, server.url)
    first, second = committed(client, registered["id"], 2)
    assert {n: g["version"] for n, g in first["inputs"].items()} == {"a": 1, "b": 1}
    assert {n: g["version"] for n, g in second["inputs"].items()} == {"a": 3, "b": 3}
    assert second["trigger"] != "registration"


def test_a_flow_of_pinned_inputs_only_runs_once_then_only_by_hand(
    client: httpx.Client, server: SluiceProcess, workers: Workers
) -> None:
    a, b = new_source(client, "a"), new_source(client, "b")
    commit(client, a, b"a1")
    commit(client, b, b"b1")
    pinned = {"a": {"data_id": a, "version": 1}, "b": {"data_id": b, "version": 1}}
    flow_id = register(client, COMBINE, inputs=pinned, outputs={"combined": {}},
                       policy="ALL")["id"]  # fmt: skip
    worker(workers, server.url)
    committed(client, flow_id, 1)
    commit(client, a, b"a2")
    time.sleep(1)  # several catch-up passes
    assert len(runs(client, flow_id)) == 1
    assert client.post(f"/aero/flows/{flow_id}/runs").status_code == 201
    (_, again) = committed(client, flow_id, 2)
    assert {n: g["version"] for n, g in again["inputs"].items()} == {"a": 1, "b": 1}
